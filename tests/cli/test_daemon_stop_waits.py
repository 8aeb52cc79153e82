"""Stopping waits for the daemon's process to exit, not only for its socket to go quiet, so a
restart finds the webhook port and the store free; and how a systemd-run daemon is recognised."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from tests.cli.conftest import Env, run_cli
from tests.cli.fake_daemon import FakeDaemon, Reply
from voicecall_cli.cli.daemon_process import (
    process_exists,
    unit_from_cgroup,
    wait_until_exited,
)
from voicecall_cli.cli.exit_codes import CliError, ExitCode

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


def test_process_exists_counts_zombies_as_gone() -> None:
    assert process_exists(os.getpid())
    child = subprocess.Popen(SLEEPER)
    try:
        assert process_exists(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while process_exists(child.pid):  # a zombie until reaped: already gone for us
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert not process_exists(child.pid)


def test_wait_until_exited_times_out_with_exit_5() -> None:
    child = subprocess.Popen(SLEEPER)
    try:
        with pytest.raises(CliError) as caught:
            wait_until_exited(child.pid, 0.2)
        assert caught.value.exit_code == ExitCode.TIMED_OUT
        assert str(child.pid) in caught.value.message
    finally:
        child.kill()
        child.wait(timeout=10)


async def test_stop_returns_only_once_the_process_has_exited(env: Env, fake: FakeDaemon) -> None:
    child = subprocess.Popen(SLEEPER)

    def exit_later() -> None:
        time.sleep(0.7)
        child.kill()

    try:
        fake.on("GET", "/v1/health", Reply(200, {"ok": True, "pid": child.pid}))

        def stop_now(_request: object) -> Reply:
            threading.Thread(target=exit_later, daemon=True).start()
            return Reply(200, {"ok": True}, after=fake.stop_soon)

        fake.on("POST", "/v1/daemon.stop", stop_now)
        result = await run_cli("daemon", "stop", socket=env.socket)
        assert result.exit_code == 0, result.output
        # The process is killed 0.7 s after the stop request was answered: gone on return
        # means stop waited for it (no clock needed).
        assert not process_exists(child.pid)
    finally:
        child.kill()
        child.wait(timeout=10)


def test_a_voicecall_systemd_unit_is_recognised_from_the_cgroup() -> None:
    user = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/voicecall.service\n"
    assert unit_from_cgroup(user) == ("voicecall.service", True)
    system = "12:pids:/system.slice/voicecall.service\n0::/system.slice/voicecall.service\n"
    assert unit_from_cgroup(system) == ("voicecall.service", False)
    # Started by `daemon start` from a terminal, or from another service: not ours to restart.
    for other in ("0::/user.slice/user-1000.slice/session-3.scope\n",
                  "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                  "vte-spawn-1.scope\n",
                  "0::/system.slice/gitlab-runner.service\n", "0::/\n", ""):
        assert unit_from_cgroup(other) is None
