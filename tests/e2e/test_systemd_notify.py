"""The daemon speaks systemd's notify protocol itself: READY=1 once serving, STOPPING=1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

from .conftest import VOICECALL, make_daemon


def test_ready_watchdog_and_stopping_reach_notify_socket() -> None:
    d = make_daemon()
    notify_path = d.root / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(20)
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "1000000"}
        proc = subprocess.Popen([*VOICECALL, "--socket", str(d.socket), "--config",
                                 str(d.config), "daemon", "run"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            messages: list[str] = []
            while not any("READY=1" in m for m in messages):
                messages.append(notify.recv(4096).decode())
            assert d.socket.exists(), "READY=1 must come after the control socket serves"
            while not any(m == "WATCHDOG=1" for m in messages):
                messages.append(notify.recv(4096).decode())
            proc.send_signal(signal.SIGTERM)
            while not any("STOPPING=1" in m for m in messages):
                messages.append(notify.recv(4096).decode())
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
