"""A real ``voicecall daemon run`` process on a private socket and port 0, driven by the CLI.

Each test gets its own directory, config and store; the daemon is stopped (SIGTERM, then
SIGKILL) at teardown. Everything talks over loopback and a Unix socket.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

VOICECALL = [sys.executable, "-m", "voicecall_cli"]

BASE_CONFIG = """\
provider = "mock"
toNumber = "+15550001111"
maxConcurrentCalls = 3
maxDurationSeconds = {max_duration}
store = "{store}"

[serve]
bind = "127.0.0.1"
port = 0

[outbound]
defaultMode = "conversation"

[mock]
ringDelayMs = 50
answerDelayMs = 50
replyDelayMs = 100
replies = ["Yes, ten works.", "No, that is all."]
"""


def unix_http(sock_path: Path, method: str, path: str, body: bytes | None = None,
              timeout: float = 5.0) -> tuple[int, bytes]:
    """One HTTP/1.1 request over the control socket with raw bytes (no client library)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        head = f"{method} {path} HTTP/1.1\r\nHost: voicecall\r\nConnection: close\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        s.sendall(head.encode() + b"\r\n" + (body or b""))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


SECRET_ENV = ("OPENAI_API_KEY", "ELEVENLABS_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
              "TWILIO_FROM_NUMBER", "TELNYX_API_KEY", "TELNYX_CONNECTION_ID", "TELNYX_PUBLIC_KEY",
              "PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN", "NGROK_AUTHTOKEN", "NGROK_DOMAIN")


def daemon_env() -> dict[str, str]:
    """The test's environment without real credentials: a daemon under test only ever talks to
    the local fakes its config names."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_ENV}


@dataclass
class Daemon:
    root: Path
    config: Path
    socket: Path
    proc: subprocess.Popen | None = None
    log: Path = field(init=False)
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. a fake tool first on PATH

    def __post_init__(self) -> None:
        self.log = self.root / "daemon.log"

    def start(self, wait: bool = True) -> subprocess.Popen:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*VOICECALL, "--socket", str(self.socket), "--config", str(self.config),
                 "daemon", "run"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                env={**daemon_env(), **self.extra_env})
        if wait:
            self.wait_ready()
        return self.proc

    def wait_ready(self, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n"
                                     + self.log.read_text())
            try:
                status, body = unix_http(self.socket, "GET", "/v1/health")
                if status == 200:
                    return json.loads(body)
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("daemon not ready:\n" + self.log.read_text())

    def health(self) -> dict:
        status, body = unix_http(self.socket, "GET", "/v1/health")
        assert status == 200
        return json.loads(body)

    def cli(self, *args: str, timeout: float = 60, check: bool = False
            ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*VOICECALL, "--socket", str(self.socket), *args],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "NO_COLOR": "1"})
        if check:
            assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
        return proc

    def cli_json(self, *args: str, timeout: float = 60) -> dict:
        proc = self.cli(*args, "--json", timeout=timeout, check=True)
        return json.loads(proc.stdout)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n" + self.log.read_text()[-3000:])

    def call_state(self, call_id: str) -> dict:
        return self.cli_json("status", "--call-id", call_id)["call"]


@asynccontextmanager
async def carrier_daemon(config_text: Callable[[Path], str], prefix: str,
                         ) -> AsyncIterator[Daemon]:
    """A started daemon (from a trio test) whose config is ``config_text(store)``; stopped and
    its directory removed on exit. For the carrier e2e tests, inside their simulator."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    config = root / "config.toml"
    config.write_text(config_text(root / "state"))
    daemon = Daemon(root=root, config=config, socket=root / "control.sock")
    try:
        await trio.to_thread.run_sync(daemon.start)
        yield daemon
    finally:
        await stop_daemon(daemon)
        shutil.rmtree(root, ignore_errors=True)


async def stop_daemon(daemon: Daemon) -> None:
    """Stop ``daemon`` from a trio test's cleanup, even when the test is being cancelled (a
    failed assertion in a nursery, a hang guard): unshielded, the stop would be cancelled
    before it began and leave the daemon process running after the test."""
    with trio.CancelScope(shield=True):
        await trio.to_thread.run_sync(daemon.stop)


async def cli_json(daemon: Daemon, *args: str) -> dict:
    """``voicecall ARGS --json`` against the daemon, from a trio test."""
    return await trio.to_thread.run_sync(lambda: daemon.cli_json(*args, timeout=30))


async def until(predicate: Callable[[], bool], what: str, timeout: float = 15) -> None:
    """Poll ``predicate`` until it holds; AssertionError naming ``what`` after ``timeout``."""
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.03)
        return
    raise AssertionError(f"timed out waiting for {what}")


def make_daemon(max_duration: int = 300, extra: str = "") -> Daemon:
    root = Path(tempfile.mkdtemp(prefix="vce2e", dir="/tmp"))
    config = root / "config.toml"
    config.write_text(BASE_CONFIG.format(max_duration=max_duration, store=root / "state")
                      + extra)
    return Daemon(root=root, config=config, socket=root / "control.sock")


@pytest.fixture
def daemon_factory() -> Iterator:
    made: list[Daemon] = []

    def factory(**kw) -> Daemon:
        d = make_daemon(**kw)
        made.append(d)
        return d

    yield factory
    for d in made:
        d.stop()
        shutil.rmtree(d.root, ignore_errors=True)


@pytest.fixture
def daemon(daemon_factory) -> Daemon:
    d = daemon_factory()
    d.start()
    return d
