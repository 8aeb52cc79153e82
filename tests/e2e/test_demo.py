"""``voicecall demo``: the README's main job, on a machine with nothing configured."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile

import pytest

from voicecall_cli.simulator import registry

from .conftest import VOICECALL, daemon_env


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    home = tempfile.mkdtemp(prefix="vcdemo", dir="/tmp")
    env = {k: v for k, v in daemon_env().items() if not k.startswith(("VOICECALL_", "XDG_"))}
    env.update(HOME=home, NO_COLOR="1")
    return subprocess.run([*VOICECALL, "demo", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=home)


def test_demo_json_runs_two_turns_and_cleans_up() -> None:
    proc = run_demo("--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    summary = lines[-1]
    assert summary["state"] == "hangup-bot"
    assert [t["answer"] for t in summary["turns"]] == [
        "Yes, tomorrow at ten works for me.", "No, that's everything. Thank you!"]
    events = lines[:-1]
    assert events[0]["type"] == "snapshot"
    types = [e["type"] for e in events]
    assert types.count("call.turn") == 2 and "call.ended" in types
    assert "daemon.stopping" in types


def test_demo_for_people_shows_events_and_the_call() -> None:
    proc = run_demo()
    assert proc.returncode == 0, proc.stderr
    assert "call.transcript" in proc.stdout and "user: Yes, tomorrow at ten" in proc.stdout
    assert "ended (hangup-bot)" in proc.stderr


@pytest.mark.parametrize("carrier", registry.names())
def test_demo_through_each_simulator(carrier: str) -> None:
    proc = run_demo("--carrier", carrier, "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    summary = lines[-1]
    assert summary["state"] == "hangup-bot"
    assert [t["answer"] for t in summary["turns"]] == [
        "Yes, tomorrow at ten works for me.", "No, that's everything. Thank you!"]
    created = next(e for e in lines[:-1] if e["type"] == "call.created")
    assert created["data"]["provider"] == carrier
    assert re.search(r"^\S+ simulator pid \d+ at http://127\.0\.0\.1:\d+$", proc.stderr, re.M)
    if carrier == "twilio":
        streams = [e["data"]["event"] for e in lines[:-1] if e["type"] == "call.stream"]
        assert streams[:1] == ["started"]  # the conversation ran over a Media Stream
        assert "Twilio simulator pid" in proc.stderr


def test_demo_offers_the_mock_and_every_registered_simulator() -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", *VOICECALL[1:], "demo", "--help"],
                          capture_output=True, text=True, timeout=30, env=daemon_env())
    assert proc.returncode == 0, proc.stderr
    choices = re.search(r"--carrier \[([^\]]+)\]", proc.stdout)
    assert choices is not None, proc.stdout
    assert choices[1].split("|") == ["mock", *registry.names()]
    modules = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    simulators = sorted(m for m in modules if m.startswith("voicecall_cli.simulator"))
    assert simulators == ["voicecall_cli.simulator", "voicecall_cli.simulator.registry"]
