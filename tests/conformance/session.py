"""One conformance test's world: a carrier's simulator and a real ``voicecall daemon run``.

:func:`open_session` builds the daemon's config (the suite's common part, deep-merged with the
carrier's), starts the harness's simulator and the daemon (``tests.e2e.conftest.Daemon``: a
private socket, store and port 0), and tears both down. :class:`Session` drives the daemon
with the real CLI for actions and reads call state over the control socket for polling (a
CLI process per poll would cost more than the waits themselves). Blocking calls run in worker
threads so the simulators' tasks in this trio loop keep their timing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from tests.conformance.harness import CalleePlan, CarrierHarness
from tests.e2e.conftest import Daemon, stop_daemon, unix_http
from voicecall_cli.core.config.merge import deep_merge

OUR_NUMBER = "+15550009999"
CALLEE = "+15550001111"
ALLOWED = "+15550001234"
STRANGER = "+19995550000"
INBOUND_GREETING = "Hi, you reached the conformance line."
REPLIES = ("Ten works for me.", "Nothing else, thanks.")
HEARD_OVER_STREAM = ("Sorry, can I stop you there?", "One more thing.")
TERMINAL = frozenset({"completed", "hangup-user", "hangup-bot", "timeout", "error", "failed",
                      "no-answer", "busy", "voicemail"})
WAIT_S = 10.0  # the longest any single condition may take


def common_config(provider: str, store: Path, *, media: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "provider": provider,
        "fromNumber": OUR_NUMBER,
        "toNumber": CALLEE,
        "maxConcurrentCalls": 3,
        "store": str(store),
        "inboundPolicy": "allowlist",
        "allowFrom": [ALLOWED],
        "inboundGreeting": INBOUND_GREETING,
        "serve": {"bind": "127.0.0.1", "port": 0},
        "outbound": {"defaultMode": "conversation", "notifyHangupDelaySec": 0},
    }
    if media:
        config["streaming"] = {"enabled": True, "preStartTimeoutMs": 2000,
                               "sttProvider": "scripted",
                               "scriptedTranscripts": list(HEARD_OVER_STREAM),
                               "silenceDurationMs": 300}
    return config


@dataclass
class Session:
    carrier: CarrierHarness
    daemon: Daemon

    # -- the CLI ------------------------------------------------------------------------------

    async def cli(self, *args: str, check: bool = False) -> Any:
        return await trio.to_thread.run_sync(
            lambda: self.daemon.cli(*args, timeout=30, check=check))

    async def cli_json(self, *args: str) -> dict[str, Any]:
        return await trio.to_thread.run_sync(lambda: self.daemon.cli_json(*args, timeout=30))

    def cli_json_soon(self, nursery: trio.Nursery, *args: str) -> dict[str, Any]:
        """:meth:`cli_json` as a task of ``nursery`` (a ``speak`` or ``continue`` the test
        acts on while it waits): the returned dict stays empty until the command answers,
        then holds its answer."""
        answer: dict[str, Any] = {}

        async def run() -> None:
            answer.update(await self.cli_json(*args))
        nursery.start_soon(run)
        return answer

    async def place(self, message: str, mode: str = "conversation") -> str:
        placed = await self.cli_json("call", "--mode", mode, "--message", message)
        assert placed["initiated"] is True
        return placed["callId"]

    @asynccontextmanager
    async def streamed_call(self, message: str) -> AsyncIterator[tuple[str, str, Any]]:
        """A conversation call placed with ``message``, its media stream open at the
        carrier's end, answered and greeted: (call id, provider call id, the carrier's
        :class:`~tests.conformance.harness.MediaCaller`), closed when the block exits."""
        call_id = await self.place(message)
        pid = await self.provider_id(call_id)
        async with self.carrier.media_caller(pid) as caller:
            await self.answered(call_id)
            yield call_id, pid, caller

    async def events(self) -> list[dict[str, Any]]:
        """Every stored event (``tail --since all --no-follow``), stream control lines left out."""
        out = (await self.cli("tail", "--since", "all", "--no-follow", "--json",
                              check=True)).stdout
        return [e for e in map(json.loads, out.splitlines())
                if e["type"] not in ("snapshot", "heartbeat", "lagged")]

    # -- the control socket (polling) ---------------------------------------------------------

    async def rpc(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body).encode()
        status, answer = await trio.to_thread.run_sync(
            lambda: unix_http(self.daemon.socket, "POST", f"/v1/{method}", raw))
        assert status == 200, (status, answer)
        return json.loads(answer)

    async def call(self, call_id: str) -> dict[str, Any]:
        found = await self.rpc("voicecall.status", {"callId": call_id})
        assert found.get("found"), found
        return found["call"]

    async def active(self) -> list[dict[str, Any]]:
        return (await self.rpc("voicecall.status", {}))["calls"]

    async def history(self) -> list[dict[str, Any]]:
        return (await self.rpc("voicecall.calls", {}))["calls"]

    async def wait_call(self, call_id: str, predicate: Callable[[dict[str, Any]], Any],
                        what: str, timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = trio.current_time() + timeout
        while True:
            call = await self.call(call_id)
            if predicate(call):
                return call
            if trio.current_time() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {call}\n{self.log_tail()}")
            await trio.sleep(0.03)

    async def answered(self, call_id: str) -> dict[str, Any]:
        """The call once answered and greeted (its first bot words are in the transcript)."""
        return await self.wait_call(call_id, lambda c: c["answeredAt"] and any(
            t["speaker"] == "bot" for t in c["transcript"]), "the answer and the greeting")

    async def inbound_call(self, provider_call_id: str) -> dict[str, Any]:
        """The active call the daemon created for the carrier's call ``provider_call_id``."""
        deadline = trio.current_time() + WAIT_S
        while True:
            for call in await self.active():
                if call["providerCallId"] == provider_call_id:
                    return call
            if trio.current_time() > deadline:
                raise AssertionError(f"no call for {provider_call_id}\n{self.log_tail()}")
            await trio.sleep(0.03)

    async def provider_id(self, call_id: str) -> str:
        return (await self.wait_call(call_id, lambda c: c["providerCallId"],
                                     "the carrier's call id"))["providerCallId"]

    async def until(self, predicate: Callable[[], Any], what: str,
                    timeout: float = WAIT_S) -> Any:
        """Wait for a condition on the carrier's side (polled; bounded)."""
        deadline = trio.current_time() + timeout
        while not (value := predicate()):
            if trio.current_time() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.log_tail()}")
            await trio.sleep(0.02)
        return value

    # -- the daemon process -------------------------------------------------------------------

    async def kill9(self) -> None:
        await trio.to_thread.run_sync(self.daemon.kill9)

    async def start(self) -> None:
        await trio.to_thread.run_sync(self.daemon.start)
        await self.carrier.attach(self.daemon)

    def log_tail(self) -> str:
        try:
            return "daemon log:\n" + self.daemon.log.read_text()[-3000:]
        except OSError:
            return ""


@asynccontextmanager
async def open_session(carrier: CarrierHarness, *, media: bool = False,
                       config: dict[str, Any] | None = None) -> AsyncIterator[Session]:
    """A session; ``config`` is merged over the suite's and the carrier's configuration."""
    plan = CalleePlan(our_number=OUR_NUMBER, replies=REPLIES)
    root = Path(tempfile.mkdtemp(prefix="vcconf", dir="/tmp"))
    try:
        async with carrier.running(plan):
            path = root / "config.json"
            path.write_text(json.dumps(deep_merge(deep_merge(
                common_config(carrier.name, root / "state", media=media),
                carrier.config(plan)), config or {}), indent=2))
            session = Session(carrier, Daemon(root=root, config=path,
                                              socket=root / "control.sock"))
            try:
                await session.start()
                yield session
            finally:
                await stop_daemon(session.daemon)
    finally:
        shutil.rmtree(root, ignore_errors=True)

