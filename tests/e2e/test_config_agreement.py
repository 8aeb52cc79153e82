"""``voicecall config validate`` and ``voicecall daemon run`` agree: a config validate refuses,
the daemon refuses with the same issues (exit 78); a config validate accepts with warnings,
the daemon starts and logs the same warnings. Both run as real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import VOICECALL, daemon_env

SECRET = "tok-0123456789abcdef"
TWILIO = ('provider = "twilio"\nfromNumber = "+15550001234"\n'
          f'[twilio]\naccountSid = "AC{"0" * 32}"\nauthToken = "{SECRET}"\n')

REFUSED = {
    "plivo with no public URL": (
        'provider = "plivo"\nfromNumber = "+15550001234"\n'
        f'[plivo]\nauthId = "MA123"\nauthToken = "{SECRET}"\n'),
    "twilio with no public URL": TWILIO + '[tunnel]\nprovider = "none"\n',
    "an auto-reply model this build cannot call": 'responseModel = "anthropic/claude"\n',
    "voice calls switched off": "enabled = false\n",
}


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vcagree", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def validate(config: Path) -> tuple[int, dict]:
    proc = subprocess.run([*VOICECALL, "--config", str(config), "config", "validate", "--json"],
                          capture_output=True, text=True, timeout=30, env=daemon_env())
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_validate_refuses_the_daemon_refuses_with_the_same_message(root, case):
    config = root / "config.toml"
    config.write_text(f'store = "{root / "state"}"\n' + REFUSED[case])
    code, report = validate(config)
    assert code == 78 and report["ok"] is False
    expected = [f"{issue['path']}: {issue['message']}" for issue in report["issues"]]

    socket = root / "control.sock"
    proc = subprocess.run(
        [sys.executable, "-m", "voicecall_cli.daemon", "run", "--config", str(config),
         "--socket", str(socket)], capture_output=True, text=True, timeout=30, env=daemon_env())
    assert proc.returncode == 78, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == f"voicecall: configuration error in {config}:"
    assert [line.removeprefix("  ") for line in lines[1:] if line.startswith("  ")] == expected
    assert "Traceback" not in proc.stderr and SECRET not in proc.stderr
    assert not socket.exists()


def test_what_validate_accepts_with_warnings_the_daemon_runs_and_logs(daemon_factory):
    daemon = daemon_factory(extra=f'[tunnel]\nngrokAuthToken = "{SECRET}"\n'
                                  'ngrokDomain = "voice.example.com"\n')
    code, report = validate(daemon.config)
    assert code == 0 and report["ok"] is True
    assert [w.split(" ")[0] for w in report["warnings"]] == ["tunnel.ngrokAuthToken",
                                                             "tunnel.ngrokDomain"]
    daemon.start()
    log = daemon.log.read_text()
    for warning in report["warnings"]:
        assert f"WARNING voicecall.config: {warning}" in log
    assert os.path.exists(daemon.socket)
    assert SECRET not in log
