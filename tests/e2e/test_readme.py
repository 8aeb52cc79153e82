"""The README, followed as a newcomer would: every command block runs, in order, as written.

Each ```sh block is either run here or listed in :data:`NOT_RUN` with the reason it cannot
run in a test; a new or changed block that is neither fails :func:`test_every_command_block_
is_run_or_excused`, so the README cannot drift from what works.

The blocks run in one sandbox (its own HOME and XDG directories, ``voicecall`` on PATH, a
``.venv`` that is the interpreter running the tests), with ``bash -e -o pipefail``: any
failing command fails its block. The mock carrier needs nothing; the Twilio section runs
against the bundled Twilio simulator, with the README's own configuration block (its
account and API address pointed at the simulator, its ``publicUrl`` reached through the
simulator's stand-in for a tunnel). The first command of "The two commands" runs in a fresh
copy of the tree with a new virtual environment, exactly as a new user runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.fakes.edge import run_edge
from tests.fakes.tailscale import install_fake_tailscale
from voicecall_cli.simulator.twilio.simulator import CalleeScript, run_twilio_simulator

from .conftest import daemon_env

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHELL_LANGS = frozenset({"sh", "bash", "shell", "console"})
TWO_COMMANDS = "The two commands (a fresh machine with Python 3.11+)"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "readme-auth-token-0123456789abcdef"
FIRST_COMMAND_PREFIX = "python3 -m venv .venv && .venv/bin/pip install -q -e . && "

NOT_RUN = {
    (TWO_COMMANDS, "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && "
                   ".venv/bin/python -m pytest -n 4"):
        "it runs the whole suite, this test included; .ci/run runs it on a clean clone",
    ("Running the daemon under systemd", "pipx install ."):
        "it needs pipx, the network and a systemd user session; "
        "test_the_unit_runs_what_pipx_installs checks the unit's command instead",
    ("Benchmarks", ".venv/bin/python tests/bench/bench_cli_roundtrip.py -n 50   "
                   "# voicecall status --json vs python -c pass"):
        "benchmarks run for minutes and print figures to read, not to assert",
}


@dataclass(frozen=True)
class Block:
    section: str  # the nearest heading above the block, without its #s
    lang: str
    text: str

    @property
    def key(self) -> tuple[str, str]:
        return self.section, next(line for line in self.text.splitlines() if line.strip())


def readme_blocks() -> list[Block]:
    blocks, section, fence, lines = [], "", None, []
    for line in README.read_text().splitlines():
        if fence is None:
            if line.startswith("```"):
                fence, lines = line[3:].strip(), []
            elif line.startswith("#"):
                section = line.lstrip("#").strip()
        elif line.startswith("```"):
            blocks.append(Block(section, fence, "\n".join(lines) + "\n"))
            fence = None
        else:
            lines.append(line)
    return blocks


def command_blocks() -> list[Block]:
    return [b for b in readme_blocks() if b.lang in SHELL_LANGS]


def block(section: str, first_line_start: str) -> Block:
    found = [b for b in command_blocks()
             if b.section == section and b.key[1].startswith(first_line_start)]
    assert len(found) == 1, (section, first_line_start, [b.key for b in command_blocks()])
    return found[0]


# -- the sandbox ----------------------------------------------------------------------------


@dataclass
class Sandbox:
    root: Path
    work: Path
    env: dict[str, str]

    @property
    def config(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "voicecall" / "config.toml"

    def run(self, text: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", text], cwd=self.work,
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, (
            f"README block failed ({proc.returncode}):\n{text}\n--- stdout\n{proc.stdout}"
            f"\n--- stderr\n{proc.stderr}")
        return proc

    def stop_daemon(self) -> None:
        subprocess.run([sys.executable, "-m", "voicecall_cli", "daemon", "stop"],
                       env=self.env, capture_output=True, timeout=30)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    root = Path(tempfile.mkdtemp(prefix="vcreadme", dir="/tmp"))
    work = root / "work"
    work.mkdir()
    (work / ".venv").symlink_to(sys.prefix)
    for name in ("completions", "man", "daemon", "tests"):
        (work / name).symlink_to(ROOT / name)
    env = {k: v for k, v in daemon_env().items() if not k.startswith("VOICECALL_")}
    env.update(HOME=str(root / "home"), XDG_CONFIG_HOME=str(root / "config"),
               XDG_STATE_HOME=str(root / "state"), XDG_RUNTIME_DIR=str(root / "run"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               NO_COLOR="1")
    (root / "run").mkdir(mode=0o700)
    box = Sandbox(root, work, env)
    yield box
    box.stop_daemon()
    shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def in_order(text: str, *parts: str) -> bool:
    position = 0
    for part in parts:
        position = text.find(part, position)
        if position < 0:
            return False
        position += len(part)
    return True


# -- the tests -------------------------------------------------------------------------------


def test_every_command_block_is_run_or_excused() -> None:
    run_here = {b.key for b in blocks_run_in_order()}
    run_here.add(block(TWO_COMMANDS, FIRST_COMMAND_PREFIX).key)
    for b in command_blocks():
        assert b.key in run_here or b.key in NOT_RUN, f"README block neither run nor excused: {b}"
    for key in NOT_RUN:
        assert key in {b.key for b in command_blocks()}, f"excused block is gone: {key}"


def blocks_run_in_order() -> list[Block]:
    """The blocks :func:`test_the_readme_runs_in_order_as_written` runs, in README order (the
    first command has a test of its own)."""
    return [b for b in command_blocks() if b.key not in NOT_RUN
            and not b.key[1].startswith(FIRST_COMMAND_PREFIX)]


async def test_the_readme_runs_in_order_as_written(sandbox: Sandbox) -> None:
    twilio_toml = next(b for b in readme_blocks() if b.section == "Twilio" and b.lang == "toml")
    port = free_port()
    public = tomllib.loads(twilio_toml.text)["publicUrl"]
    origin = re.match(r"^https?://[^/]+", public)[0]
    callee = CalleeScript(replies=["Ten works for me."])
    # The internet, for the Exposure section: `tailscale` on PATH (a fake that keeps its serve
    # config in a file) and a public edge that terminates TLS for the public hosts and forwards
    # to the daemon's port, reached through HTTPS_PROXY as any proxy is.
    tailscale = install_fake_tailscale(sandbox.root / "bin", sandbox.root / "tailscale")
    sandbox.env["PATH"] = f"{sandbox.root / 'bin'}{os.pathsep}{sandbox.env['PATH']}"
    public_hosts = [origin.split("://", 1)[1], tailscale.dns_name]
    with trio.fail_after(400):
        async with run_twilio_simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                        callee=callee,
                                        forward={origin: f"http://127.0.0.1:{port}"}) as sim, \
                run_edge(sandbox.root, public_hosts) as edge:
            edge.routes.update(dict.fromkeys(public_hosts, port))
            sandbox.env.update(edge.env())
            checked = []
            for b in blocks_run_in_order():
                if b.section == "Twilio":
                    write_twilio_config(sandbox, twilio_toml.text, sim.base_url, port)
                proc = await trio.to_thread.run_sync(sandbox.run, b.text)
                if b.section in CHECKS:
                    CHECKS[b.section](proc)
                    checked.append(b.section)
            await trio.to_thread.run_sync(sandbox.stop_daemon)
    assert checked == list(CHECKS)  # every check ran, in README order


def write_twilio_config(sandbox: Sandbox, readme_toml: str, api: str, port: int) -> None:
    """The README's Twilio block as the user writes it, with a real (simulated) account."""
    text = readme_toml.replace('accountSid = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
                               f'accountSid = "{ACCOUNT_SID}"')
    assert ACCOUNT_SID in text, "the README's Twilio block no longer has its accountSid line"
    text += f'authToken = "{AUTH_TOKEN}"\napiBaseUrl = "{api}"\n'
    text += f'\n[serve]\nbind = "127.0.0.1"\nport = {port}\n'
    sandbox.config.parent.mkdir(parents=True, exist_ok=True)
    sandbox.config.write_text(text)


def check_using_it(proc: subprocess.CompletedProcess[str]) -> None:
    out = proc.stdout
    assert "Yes, tomorrow at ten works for me." in out.splitlines()  # continue's own line
    log = out[out.index("call.created"):]  # tail's event log, one event per line
    assert in_order(log, "-> ringing", "-> answered", "bot: Hi, calling about your appointment.",
                    "bot: Does tomorrow at ten work?", "user: Yes, tomorrow at ten works for me.",
                    "bot: Great, see you then.", "ended: hangup-bot"), log
    assert "hangup-bot" in out and "no active calls" in out
    assert "Traceback" not in proc.stderr


def check_scripts(proc: subprocess.CompletedProcess[str]) -> None:
    assert '"ok":true' in proc.stdout.replace(" ", ""), proc.stdout


def check_configuration(proc: subprocess.CompletedProcess[str]) -> None:
    assert "ok: " in proc.stdout and "# effective configuration from" in proc.stdout
    assert proc.stdout.rstrip().endswith("config.toml")
    assert "warning" not in proc.stderr, proc.stderr  # the starter file is clean


def check_twilio(proc: subprocess.CompletedProcess[str]) -> None:
    out = proc.stdout
    assert "Your order has shipped." in out and "completed" in out
    assert out.rstrip().endswith("Ten works for me."), out


def check_media_streams(proc: subprocess.CompletedProcess[str]) -> None:
    assert "ended (hangup-bot)" in proc.stdout + proc.stderr


def check_exposure(proc: subprocess.CompletedProcess[str]) -> None:
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0] == "https://voicebox.tail4c2a9.ts.net/voice/webhook", out
    assert "public url    https://voicebox.tail4c2a9.ts.net/voice/webhook" in out
    assert "tunnel        tailscale-funnel (up)" in out
    checks = [line.split()[:2] for line in lines if line.split()[:1] in (
        ["ok"], ["warn"], ["fail"], ["skip"])]
    assert ["ok", "webhook-probe"] in checks and ["ok", "tunnel"] in checks, out
    assert not [check for check in checks if check[0] == "fail"], out
    assert "https://voice.example.com/voice/webhook" in lines  # off: back to publicUrl
    assert "would call +15555550123 through twilio" in out
    assert "nothing was dialled" in proc.stderr


def json_documents(text: str) -> list[Any]:
    """The JSON documents printed one after another (each command's --json output), after
    the human lines before the first (``daemon start``'s status)."""
    decoder, docs, at = json.JSONDecoder(), [], text.find("\n{") + 1
    while (at := _skip_space(text, at)) < len(text):
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)
    return docs


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def check_outbound_rails(proc: subprocess.CompletedProcess[str]) -> None:
    first, retry, listed = json_documents(proc.stdout)
    assert first["initiated"] is True and "replayed" not in first, first
    assert retry == {**first, "replayed": True}, retry
    # The newest call is the first one: the retry placed no call of its own.
    assert listed["calls"][0]["callId"] == first["callId"], listed


CHECKS = {
    "Using it": check_using_it,
    "Scripts": check_scripts,
    "Outbound rails": check_outbound_rails,
    "Configuration": check_configuration,
    "Twilio": check_twilio,
    "Media Streams": check_media_streams,
    "Exposure: tunnels, `expose`, `doctor` and `smoke`": check_exposure,
}


def test_the_main_job_on_a_fresh_copy_as_written() -> None:
    """The first of "The two commands": a new venv, an install, the demo on the mock."""
    first = block(TWO_COMMANDS, FIRST_COMMAND_PREFIX)
    root = Path(tempfile.mkdtemp(prefix="vcfresh", dir="/tmp"))
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
        for name in filter(None, files):
            source = ROOT / name
            if source.is_file():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, root / name)
        env = {k: v for k, v in daemon_env().items() if not k.startswith("VOICECALL_")}
        env.update(HOME=str(root / ".home"), XDG_CONFIG_HOME=str(root / ".config"),
                   XDG_STATE_HOME=str(root / ".state"), XDG_RUNTIME_DIR=str(root / ".run"),
                   NO_COLOR="1")
        env.pop("VIRTUAL_ENV", None)
        (root / ".run").mkdir(mode=0o700)
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", first.text], cwd=root,
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
        assert "Yes, tomorrow at ten works for me." in proc.stdout
        assert "ended (hangup-bot)" in proc.stdout + proc.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_unit_runs_what_pipx_installs() -> None:
    """pipx puts the console script in ~/.local/bin, where the unit's ExecStart looks."""
    unit = (ROOT / "daemon" / "voicecall.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start == "ExecStart=%h/.local/bin/voicecall daemon run"
    assert "pipx install ." in block("Running the daemon under systemd", "pipx install .").text
