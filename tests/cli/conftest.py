"""Fixtures for the CLI tests: a private environment, a fake control server, a bounded runner.

Every test runs with its own XDG directories (nothing of the user's is read or written) and
without VOICECALL_* variables. ``voicecall`` runs through click's CliRunner in a worker thread
under ``trio.fail_after``, so a CLI that hangs fails the test instead of stalling the run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner, Result

from tests.cli.fake_daemon import FakeDaemon
from voicecall_cli.cli.main import cli

CLI_TIMEOUT_S = 10.0


@dataclass
class Env:
    root: Path
    socket: Path
    config_home: Path
    state_home: Path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    # A short directory: Unix socket paths are limited to ~107 bytes.
    root = Path(tempfile.mkdtemp(prefix="vccli", dir="/tmp"))
    paths = Env(root, root / "control.sock", root / "config", root / "state")
    for name in ("VOICECALL_SOCKET", "VOICECALL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(paths.config_home))
    monkeypatch.setenv("XDG_STATE_HOME", str(paths.state_home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(root / "run"))
    monkeypatch.setenv("NO_COLOR", "1")
    yield paths
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fake(env: Env) -> Iterator[FakeDaemon]:
    daemon = FakeDaemon(env.socket).start()
    yield daemon
    daemon.stop()


async def run_cli(*args: str, socket: Path | None = None,
                  timeout: float = CLI_TIMEOUT_S) -> Result:
    """``voicecall [--socket SOCKET] ARGS...`` in process; stdout and stderr kept apart."""
    argv = (["--socket", str(socket)] if socket is not None else []) + list(args)
    invoke = partial(CliRunner().invoke, cli, argv, prog_name="voicecall")
    with trio.fail_after(timeout):
        return await trio.to_thread.run_sync(invoke, abandon_on_cancel=True)
