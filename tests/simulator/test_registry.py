"""Every registered simulator runs as ``python -m voicecall_cli.simulator NAME --stdin`` and says,
on its first stdout line, where it listens and the daemon config that uses it.

The registry stays importable by the CLI: it imports nothing but the stdlib.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from voicecall_cli.simulator import registry
from voicecall_cli.simulator.base import SimulatorSpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REPLIES = ["Yes, that works.", "Goodbye."]


def start(name: str, *args: str) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen([sys.executable, "-m", "voicecall_cli.simulator", name, "--stdin",
                             *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"{name} printed nothing: {proc.communicate(timeout=10)[1]}")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[str]) -> int:
    assert proc.stdin is not None
    proc.stdin.close()  # --stdin: the end of stdin stops it
    try:
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()


def answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer (401, 404) means it listens there
    except OSError:
        return False


def validate(config: dict) -> subprocess.CompletedProcess[str]:
    """``voicecall config validate`` on ``config`` over the minimum a daemon needs besides."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps({"fromNumber": "+15550009999", "store": str(Path(tmp) / "s"),
                                    **config}))
        return subprocess.run([sys.executable, "-m", "voicecall_cli", "--config", str(path),
                               "config", "validate", "--json"], capture_output=True, text=True,
                              timeout=30, cwd=PROJECT_ROOT)


@pytest.mark.parametrize("name", registry.names())
def test_each_simulator_starts_and_prints_a_usable_first_line(name: str) -> None:
    proc, first = start(name)
    try:
        assert first["carrier"] == name and first["displayName"]
        assert first["pid"] == proc.pid
        assert answers_http(first["baseUrl"])
        config = first["config"]
        assert config["provider"] == name
        assert isinstance(config[name], dict) and config[name]  # the carrier's block
        assert "streaming" not in config  # no --stream-audio: the daemon need not stream
        checked = validate(config)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        assert stop(proc) == 0


@pytest.mark.parametrize("name", registry.names())
def test_streamed_audio_is_transcribed_as_the_replies(name: str) -> None:
    proc, first = start(name, "--stream-audio", *(a for r in REPLIES for a in ("--reply", r)))
    try:
        streaming = first["config"].get("streaming")
        if streaming is not None:  # a carrier without media streams leaves it out
            assert streaming["enabled"] is True
            assert streaming["scriptedTranscripts"] == REPLIES
        checked = validate(first["config"])
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        assert stop(proc) == 0


@pytest.mark.parametrize("name", registry.names())
def test_each_package_exports_its_spec(name: str) -> None:
    spec = registry.load(name)
    assert isinstance(spec, SimulatorSpec)
    assert spec.name == name
    assert registry.SIMULATORS[name] == f"voicecall_cli.simulator.{name}"
    args = spec.parse(["--port", "0", "--reply", "hi", "--stream-audio"])
    assert (args.port, args.reply, args.stream_audio, args.stdin) == (0, ["hi"], True, False)


def test_an_unknown_carrier_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "voicecall_cli.simulator", "nowhere"],
                          capture_output=True, text=True, timeout=30, cwd=PROJECT_ROOT)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_the_registry_imports_only_the_stdlib() -> None:
    """The CLI imports the registry (import-linter lets it); so it must stay this light."""
    tree = ast.parse(Path(registry.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "importlib", "typing"}, imported


def test_loading_an_unregistered_name_names_the_registered_ones() -> None:
    with pytest.raises(LookupError, match=r"no simulator for 'nowhere' \(available: twilio"):
        registry.load("nowhere")
