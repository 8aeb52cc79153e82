"""``voicecall tail`` (the real CLI, as a process) across a daemon that goes away and returns.

The resumed stream must hold every event exactly once: nothing lost in the gap, nothing
repeated from before it. First against the fake control server (stopped, then a new one on the
same socket that serves a stored log from the ``since`` it is asked for), then against a real
``voicecall daemon run`` restarted with SIGTERM, whose store numbers the cursors.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.cli.conftest import Env
from tests.cli.fake_daemon import FakeDaemon, Recorded, Stream
from tests.e2e.conftest import Daemon, make_daemon

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VOICECALL = [sys.executable, "-m", "voicecall_cli"]
TEST_TIMEOUT_S = 60.0


class Lines:
    """The lines a child process writes to one of its pipes, read as they come."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.buffer = b""

    async def next(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = await self.stream.receive_some()
            if not chunk:
                raise AssertionError(f"the stream ended; unfinished line {self.buffer!r}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    async def rest(self) -> bytes:
        while chunk := await self.stream.receive_some():
            self.buffer += chunk
        rest, self.buffer = self.buffer, b""
        return rest


async def start_tail(socket: Path, *args: str) -> trio.Process:
    return await trio.lowlevel.open_process(
        [*VOICECALL, "--socket", str(socket), "tail", "--json", *args], cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def interrupt(proc: trio.Process) -> str:
    """Ctrl-C the tail; its exit must be the quiet 130. Returns what it wrote on stderr."""
    assert proc.stderr is not None
    proc.send_signal(signal.SIGINT)
    stderr = await Lines(proc.stderr).rest()
    assert await proc.wait() == 130
    return stderr.decode()


async def stop_process(proc: trio.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        with trio.move_on_after(10) as scope:
            scope.shield = True
            await proc.wait()


def event(cursor: int, call_id: str | None, kind: str, **data: Any) -> dict[str, Any]:
    return {"cursor": cursor, "ts": 1_700_000_000_000 + cursor * 1000, "callId": call_id,
            "type": kind, "data": data}


LOG = [
    event(6, "call-a", "call.state", state="answered", previous="ringing"),
    event(7, "call-a", "call.transcript", speaker="bot", text="Hello", isFinal=True),
    # What the daemon stored while tail was away:
    event(8, None, "daemon.stopping"),
    event(9, None, "daemon.started", pid=2, version="0.1.0", provider="mock"),
    event(10, "call-a", "call.restored", state="listening"),
]


async def test_tail_resumes_after_the_fake_daemon_comes_back(env: Env,
                                                             fake: FakeDaemon) -> None:
    first_snapshot = {"type": "snapshot", "cursor": 5,
                      "calls": [{"callId": "call-a", "state": "ringing"}]}
    fake.on("GET", "/v1/events", Stream([first_snapshot, *LOG[:2]]))
    served: list[Recorded] = []

    def serve_the_log(request: Recorded) -> Stream:
        served.append(request)
        since = int(request.query.get("since", LOG[-1]["cursor"]))
        return Stream([{"type": "snapshot", "cursor": LOG[-1]["cursor"],
                        "calls": [{"callId": "call-a", "state": "listening"}]},
                       *[e for e in LOG if e["cursor"] > since]])

    again = FakeDaemon(env.socket)
    again.on("GET", "/v1/events", serve_the_log)
    with trio.fail_after(TEST_TIMEOUT_S):
        proc = await start_tail(env.socket)
        try:
            assert proc.stdout is not None
            out = Lines(proc.stdout)
            seen = [json.loads(await out.next()) for _ in range(3)]
            assert seen == [first_snapshot, *LOG[:2]]
            await trio.to_thread.run_sync(fake.stop)  # the daemon goes away...
            await trio.sleep(1.2)  # ...for a few reconnect attempts...
            again.start()  # ...and comes back on the same socket
            seen = [json.loads(await out.next()) for _ in range(4)]
            assert seen[0]["type"] == "snapshot" and seen[1:] == LOG[2:]
            assert [r.query for r in served] == [{"since": "7"}]
            stderr = await interrupt(proc)
        finally:
            again.stop()
            await stop_process(proc)
    assert stderr.count("reconnecting for up to 60 s") == 1, stderr
    assert stderr.count("reconnected; resuming with --since 7") == 1, stderr


def stored_events(lines: list[bytes]) -> list[dict[str, Any]]:
    decoded = [json.loads(line) for line in lines]
    return [e for e in decoded if e.get("type") not in ("snapshot", "heartbeat", "lagged")]


@pytest.mark.e2e
async def test_tail_follows_a_real_daemon_through_a_restart(env: Env) -> None:
    daemon: Daemon = make_daemon()
    proc: trio.Process | None = None

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await trio.to_thread.run_sync(lambda: daemon.cli(*args, timeout=30, check=True))

    async def place_call() -> str:
        done = await cli("call", "--to", "+15550001111", "--message", "Hello there.",
                         "--mode", "notify")
        return done.stdout.strip()

    try:
        with trio.fail_after(TEST_TIMEOUT_S):
            await trio.to_thread.run_sync(daemon.start)
            proc = await start_tail(daemon.socket)
            assert proc.stdout is not None
            out = Lines(proc.stdout)
            printed = [await out.next()]
            start = json.loads(printed[0])["cursor"]

            async def read_until(predicate: Any) -> None:
                while not predicate(json.loads(printed[-1])):
                    printed.append(await out.next())

            before = await place_call()
            await read_until(lambda e: e.get("callId") == before)
            await trio.to_thread.run_sync(daemon.stop)  # SIGTERM: the daemon shuts down
            await trio.sleep(0.7)  # tail keeps trying meanwhile
            await trio.to_thread.run_sync(daemon.start)
            after = await place_call()
            await read_until(lambda e: e.get("callId") == after)
            stored = stored_events((await cli("tail", "--since", str(start), "--no-follow",
                                              "--json")).stdout.encode().splitlines())
            newest = stored[-1]["cursor"]
            await read_until(lambda e: isinstance(e.get("cursor"), int)
                             and e["cursor"] >= newest and e.get("type") != "snapshot")
            stderr = await interrupt(proc)
    finally:
        if proc is not None:
            await stop_process(proc)
        daemon.stop()
    shown = [e for e in stored_events(printed) if e["cursor"] <= newest]
    assert [e["cursor"] for e in shown] == [e["cursor"] for e in stored]  # none lost or repeated
    assert shown == stored
    kinds = [e["type"] for e in shown]
    assert "daemon.started" in kinds and {before, after} <= {e["callId"] for e in shown}
    assert sum(json.loads(line).get("type") == "snapshot" for line in printed) == 2
    assert stderr.count("reconnecting for up to 60 s") == 1, stderr
    assert stderr.count("reconnected") == 1, stderr
