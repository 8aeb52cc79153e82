"""Daemon lifecycle: crash and restore, socket ownership, broken config, no daemon."""

from __future__ import annotations

import json
import os
import socket
import subprocess

from .conftest import VOICECALL, Daemon, make_daemon
from .test_call_flow import place_answered_call


def test_kill_9_mid_call_restores_without_redialling(daemon_factory) -> None:
    # 15 s from answer: room for a turn, a kill, a restart and a turn on a loaded machine.
    daemon: Daemon = daemon_factory(max_duration=15)
    daemon.start()
    call_id = place_answered_call(daemon)
    daemon.cli_json("continue", "--call-id", call_id, "--message", "Does ten work?")
    before = daemon.call_state(call_id)
    daemon.kill9()
    assert daemon.socket.exists()  # the dead daemon's socket file is left behind
    daemon.start()

    restored = daemon.call_state(call_id)
    assert restored["state"] == before["state"]
    assert restored["transcript"] == before["transcript"]
    events = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True).stdout
    types = [json.loads(line)["type"] for line in events.splitlines()[1:]]
    assert types.count("call.dialled") == 1 and "call.restored" in types
    # The conversation goes on after the restart.
    turn = daemon.cli_json("continue", "--call-id", call_id, "--message", "Anything else?")
    assert turn["transcript"] in {"Yes, ten works.", "No, that is all."}

    # The max-duration timer survives the restart (that it keeps its *remaining* time is
    # checked on trio's MockClock in tests/daemon/test_restore.py, not on a loaded real clock).
    ended = daemon.wait_for(lambda: (c := daemon.call_state(call_id))["endedAt"] and c,
                            timeout=60, what="the max-duration hang-up")
    assert ended["state"] == "timeout"
    assert ended["endedAt"] - ended["answeredAt"] >= 15000  # never before maxDurationSeconds


def test_second_daemon_refuses_and_stale_socket_is_replaced(daemon_factory) -> None:
    first: Daemon = daemon_factory()
    first.start()
    second = subprocess.run(
        [*VOICECALL, "--socket", str(first.socket), "--config", str(first.config), "daemon",
         "run"], capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert "already serving" in second.stderr
    assert "Address already in use" not in second.stderr
    assert first.health()["ok"]

    stale: Daemon = daemon_factory()
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(stale.socket))
    leftover.close()  # a socket file nobody answers on, as a crashed daemon leaves it
    stale.start()
    assert stale.health()["pid"] == stale.proc.pid
    assert (os.stat(stale.socket).st_mode & 0o777) == 0o600


def test_broken_config_exits_78_naming_the_key() -> None:
    d = make_daemon()
    d.config.write_text(d.config.read_text().replace("port = 0", "prot = 0"))
    proc = subprocess.run(
        [*VOICECALL, "--socket", str(d.socket), "--config", str(d.config), "daemon", "run"],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 78
    assert "serve.prot" in proc.stderr and "serve.port" in proc.stderr
    validate = subprocess.run([*VOICECALL, "--config", str(d.config), "config", "validate"],
                              capture_output=True, text=True, timeout=30)
    assert validate.returncode == 78 and "serve.prot" in validate.stderr + validate.stdout


def test_commands_without_a_daemon_exit_7_with_a_hint() -> None:
    d = make_daemon()
    proc = subprocess.run([*VOICECALL, "--socket", str(d.socket), "status", "--json"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 7
    assert json.loads(proc.stdout)["error"]["code"] == "daemon_not_running"
    assert "voicecall daemon start" in proc.stderr


def test_daemon_start_status_stop(daemon_factory) -> None:
    d: Daemon = daemon_factory()
    env = {**os.environ, "XDG_STATE_HOME": str(d.root / "xdg-state")}
    base = [*VOICECALL, "--socket", str(d.socket), "--config", str(d.config)]
    started = subprocess.run([*base, "daemon", "start", "--json"], capture_output=True,
                             text=True, timeout=60, env=env)
    assert started.returncode == 0, started.stderr
    health = json.loads(started.stdout)
    assert health["ok"] and health["provider"] == "mock"
    status = subprocess.run([*base, "daemon", "status", "--json"], capture_output=True,
                            text=True, timeout=30, env=env)
    assert json.loads(status.stdout)["pid"] == health["pid"]
    stopped = subprocess.run([*base, "daemon", "stop"], capture_output=True, text=True,
                             timeout=30, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not d.socket.exists()
    after = subprocess.run([*base, "daemon", "status"], capture_output=True, text=True,
                           timeout=30, env=env)
    assert after.returncode == 7


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_detached(d: Daemon, env: dict[str, str], *pids: int) -> None:
    """Teardown for daemons that `daemon start` detached (the fixture knows only its own)."""
    import contextlib

    subprocess.run([*VOICECALL, "--socket", str(d.socket), "daemon", "stop"],
                   capture_output=True, timeout=30, env=env)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def test_daemon_restart_keeps_live_calls_and_its_port(daemon_factory) -> None:
    d: Daemon = daemon_factory()
    port = _free_port()  # a fixed port: the new daemon needs the old one to have let go of it
    d.config.write_text(d.config.read_text().replace("port = 0", f"port = {port}"))
    env = {**os.environ, "XDG_STATE_HOME": str(d.root / "xdg-state"), "NO_COLOR": "1"}
    base = [*VOICECALL, "--socket", str(d.socket), "--config", str(d.config)]
    pids: list[int] = []
    try:
        started = subprocess.run([*base, "daemon", "start", "--json"], capture_output=True,
                                 text=True, timeout=60, env=env)
        assert started.returncode == 0, started.stderr
        old = json.loads(started.stdout)
        pids.append(old["pid"])
        call_id = place_answered_call(d)
        before = d.call_state(call_id)

        restarted = subprocess.run([*base, "daemon", "restart", "--json"], capture_output=True,
                                   text=True, timeout=60, env=env)
        assert restarted.returncode == 0, restarted.stderr
        new = json.loads(restarted.stdout)
        pids.append(new["pid"])
        assert new["ok"] and new["pid"] != old["pid"]
        assert new["webhookUrl"].startswith(f"http://127.0.0.1:{port}/")
        assert f"the daemon stopped (pid {old['pid']})" in restarted.stderr
        assert f"the daemon started (pid {new['pid']})" in restarted.stderr
        assert "Traceback" not in restarted.stderr

        # The call survived: restored with its transcript, and it goes on.
        restored = d.call_state(call_id)
        assert restored["endedAt"] is None
        assert restored["transcript"] == before["transcript"]
        turn = d.cli_json("continue", "--call-id", call_id, "--message", "Does ten work?")
        assert turn["transcript"] == "Yes, ten works."

        # Both daemons' output is in daemon.log, which `daemon logs` shows.
        logs = subprocess.run([*base, "daemon", "logs", "-n", "200"], capture_output=True,
                              text=True, timeout=30, env=env)
        assert logs.returncode == 0, logs.stderr
        assert logs.stdout.count("voicecall daemon ready") == 2
    finally:
        _stop_detached(d, env, *pids)


def test_daemon_restart_without_a_daemon_starts_one(daemon_factory) -> None:
    d: Daemon = daemon_factory()
    env = {**os.environ, "XDG_STATE_HOME": str(d.root / "xdg-state"), "NO_COLOR": "1"}
    base = [*VOICECALL, "--socket", str(d.socket), "--config", str(d.config)]
    pids: list[int] = []
    try:
        restarted = subprocess.run([*base, "daemon", "restart"], capture_output=True,
                                   text=True, timeout=60, env=env)
        assert restarted.returncode == 0, restarted.stderr
        assert "the daemon was not running" in restarted.stderr
        pids.append(d.health()["pid"])
        assert "provider" in restarted.stdout  # the health panel, as `start` prints it
    finally:
        _stop_detached(d, env, *pids)
