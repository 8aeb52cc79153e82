"""Start-up failures of one class (issue #14, item 12): a path or address the daemon cannot
use. Each is one ``voicecall: ...`` line naming the key or path, no traceback, exit 78 (the
documented configuration-error code, which the systemd unit does not restart on), for
``daemon run`` and ``daemon start`` alike, and nothing is left listening."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from .conftest import VOICECALL, Daemon, daemon_env

EXIT_CONFIG = 78


def run_cli(daemon: Daemon, *args: str, socket: str | None = None,
            state_home: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**daemon_env(), "NO_COLOR": "1",
           "XDG_STATE_HOME": state_home or str(daemon.root / "xdg-state")}
    return subprocess.run([*VOICECALL, "--socket", socket or str(daemon.socket), "--config",
                           str(daemon.config), *args], capture_output=True, text=True,
                          timeout=60, env=env)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The failure's ``voicecall:`` line; there is exactly one and no traceback."""
    said = [line for line in proc.stderr.splitlines() if line.startswith("voicecall: ")]
    assert len(said) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return said[0]


def blocker(daemon: Daemon) -> str:
    """A regular file: no directory can be made under it (root included)."""
    path = daemon.root / "a-file"
    path.write_text("not a directory\n")
    return str(path)


def unusable_store(daemon: Daemon) -> tuple[str, str]:
    store = f"{blocker(daemon)}/state"
    daemon.config.write_text(daemon.config.read_text().replace(
        str(daemon.root / "state"), store))
    return "store", store


def corrupt_store(daemon: Daemon) -> tuple[str, str]:
    (daemon.root / "state").mkdir(mode=0o700)
    (daemon.root / "state" / "voicecall.sqlite3").write_bytes(b"garbage, not SQLite " * 100)
    return "store", str(daemon.root / "state" / "voicecall.sqlite3")


def bind_not_an_address(daemon: Daemon) -> tuple[str, str]:
    daemon.config.write_text(daemon.config.read_text().replace(
        'bind = "127.0.0.1"', 'bind = "not an address"'))
    return "serve.bind", "not an address"


CASES: dict[str, Callable[[Daemon], tuple[str, str]]] = {
    "store-directory": unusable_store,
    "corrupt-store": corrupt_store,
    "serve.bind": bind_not_an_address,
}


@pytest.mark.parametrize("command", ["run", "start"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_unusable_path_or_address_is_one_line_naming_it(daemon_factory, case: str,
                                                        command: str) -> None:
    daemon: Daemon = daemon_factory()
    key, path = CASES[case](daemon)
    proc = run_cli(daemon, "daemon", command)
    assert proc.returncode == EXIT_CONFIG, (proc.returncode, proc.stderr)
    line = one_line(proc)
    assert line.startswith(f"voicecall: {key} ") and path in line, line
    assert not daemon.socket.exists()


@pytest.mark.parametrize("command", ["run", "start"])
def test_socket_directory_that_cannot_be_made(daemon_factory, command: str) -> None:
    daemon: Daemon = daemon_factory()
    socket = f"{blocker(daemon)}/sub/control.sock"
    proc = run_cli(daemon, "daemon", command, socket=socket)
    assert proc.returncode == EXIT_CONFIG, (proc.returncode, proc.stderr)
    line = one_line(proc)
    assert socket in line and "--socket" in line, line


def test_state_directory_that_cannot_be_made(daemon_factory) -> None:
    daemon: Daemon = daemon_factory()
    state_home = f"{blocker(daemon)}/state"
    proc = run_cli(daemon, "daemon", "start", state_home=state_home)
    assert proc.returncode == EXIT_CONFIG, (proc.returncode, proc.stderr)
    line = one_line(proc)
    assert state_home in line and "XDG_STATE_HOME" in proc.stderr, proc.stderr
    assert not os.path.exists(daemon.socket)
