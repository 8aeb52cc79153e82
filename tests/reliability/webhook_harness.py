"""A real webhook server for the hostile-webhook suite, driven from synchronous hypothesis tests.

:class:`WebhookServer` runs, in its own thread under its own ``trio.run``: the daemon's webhook
server (``serve_webhooks``: real hypercorn, the real pipeline, a real ``ReplayCache``) with one
carrier's real webhook codec, feeding a real :class:`CallManager` on a real SQLite store, the way
``daemon.main`` wires them (``on_events=manager.handle_events``, which runs before the response
is sent, so what a request changed is visible once its response has arrived). Only the carrier's
REST edge is a stand-in (``RecordingCarrier``, which records what the manager asks of it).

:class:`HttpClient` is a minimal blocking HTTP/1.1 client over one keep-alive loopback socket
(bounded by a socket timeout), far cheaper per request than an async client per example, so a
suite can send 10,000 requests in seconds.

Ownership: the test owns the :class:`WebhookServer` (``with`` closes the server, the manager
and the store, and joins the thread) and the :class:`HttpClient` (``close``).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio

from tests.daemon.manager_harness import RecordingCarrier
from voicecall_cli.daemon.bus import EventBus
from voicecall_cli.daemon.calls.manager import CallManager
from voicecall_cli.daemon.calls.service import new_call_manager, run_calls
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.clock import WallClock
from voicecall_cli.daemon.endpoints import DaemonEndpoints
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.daemon.store import Store
from voicecall_cli.daemon.web.server import serve_webhooks
from voicecall_cli.providers.base import Capabilities, Provider, WebhookCodec
from voicecall_cli.providers.replay import ReplayCache

PUBLIC_HOST = "voice.example.com"
WEBHOOK_PATH = "/voice/webhook"
PUBLIC_URL = f"https://{PUBLIC_HOST}{WEBHOOK_PATH}"
HANG_GUARD_S = 60.0  # a hang guard only; nothing here asserts on time

T = TypeVar("T")
CodecFactory = Callable[[DaemonEndpoints, StreamRegistry], WebhookCodec]


class WebhookServer:
    """One carrier's webhook server and call manager in a thread (module docstring)."""

    def __init__(self, carrier_name: str, make_codec: CodecFactory, state_dir: Path, *,
                 capabilities: Capabilities | None = None) -> None:
        self._name = carrier_name
        self._make_codec = make_codec
        self._state_dir = state_dir
        self._capabilities = capabilities or Capabilities()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"webhooks-{carrier_name}",
                                        daemon=True)
        self._failure: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self.port = 0
        self.manager: CallManager | None = None
        self.store: Store | None = None
        self.carrier = RecordingCarrier(name=carrier_name, capabilities=self._capabilities)

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        if not self._ready.wait(HANG_GUARD_S) or self._failure is not None:
            raise RuntimeError(f"webhook server did not start: {self._failure!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None and self._cancel is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._cancel.cancel, trio_token=self._token)
        self._thread.join(HANG_GUARD_S)
        assert not self._thread.is_alive(), "webhook server thread did not stop"
        if self._failure is not None:
            raise self._failure

    def run_sync(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the server's trio thread (reads the manager and the store safely)."""
        assert self._token is not None
        return trio.from_thread.run_sync(fn, trio_token=self._token)

    def run(self, afn: Callable[[], Any]) -> Any:
        """``await afn()`` in the server's trio thread, under the hang guard."""
        assert self._token is not None

        async def guarded() -> Any:
            with trio.fail_after(HANG_GUARD_S):
                return await afn()
        return trio.from_thread.run(guarded, trio_token=self._token)

    def fingerprint(self, provider_call_id: str) -> tuple[Any, ...]:
        """Everything a webhook may change that a user sees: the newest stored event's cursor,
        and the call's state and transcript (as ``status``/``tail`` show them)."""
        def read() -> tuple[Any, ...]:
            assert self.manager is not None and self.store is not None
            call = self.manager.find(provider_call_id)
            if call is None:
                return (self.store.last_cursor(), None, ())
            return (self.store.last_cursor(), call.state,
                    tuple((entry.speaker, entry.text) for entry in call.transcript))
        return self.run_sync(read)

    async def settle(self, provider_call_id: str) -> None:
        """Wait until the call's greeting (spoken in the background after an inbound call is
        answered) has finished, so that nothing changes the call unless a webhook does."""
        assert self.manager is not None
        call = self.manager.find(provider_call_id)
        assert call is not None, "the call was not admitted"
        pending = self.manager.greeting_in_flight.get(call.call_id)
        if pending is not None:
            await pending.wait()

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported by __enter__/__exit__ in the test's thread
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        store = Store.open(self._state_dir)
        clock = WallClock()
        holder: list[CallManager] = []
        bus = EventBus(store, lambda: holder[0].snapshot(), clock_ms=clock.now_ms)
        endpoints = DaemonEndpoints(public_url=PUBLIC_URL)
        codec = self._make_codec(endpoints, StreamRegistry())
        provider = Provider(self._name, self.carrier, codec, self._capabilities)
        settings = CallSettings(provider=self._name, inbound_policy="open",
                                max_concurrent_calls=4, max_duration_s=24 * 3600.0)
        manager = new_call_manager(settings, store, bus, provider, clock, endpoints=endpoints)
        holder.append(manager)
        try:
            async with trio.open_nursery() as nursery:
                self._cancel = nursery.cancel_scope
                await nursery.start(run_calls, manager)
                info = await nursery.start(partial(
                    serve_webhooks, bind="127.0.0.1", port=0, path=WEBHOOK_PATH, codec=codec,
                    on_events=manager.handle_events, replay=ReplayCache(),
                    clock_ms=clock.now_ms))
                endpoints.local_url = info.url
                self.port, self.manager, self.store = info.port, manager, store
                self._token = trio.lowlevel.current_trio_token()
                self._ready.set()
        finally:
            bus.close()
            store.close()


class HttpClient:
    """Blocking HTTP/1.1 over one keep-alive loopback connection (module docstring)."""

    def __init__(self, port: int, timeout_s: float = HANG_GUARD_S) -> None:
        self._port = port
        self._timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def post(self, target: str | bytes, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST ``body`` to ``target`` (path and query, sent as given) with ``Host:`` the
        public host; returns (status, body)."""
        raw_target = target if isinstance(target, bytes) else target.encode("latin-1")
        lines = [b"POST " + raw_target + b" HTTP/1.1", b"host: " + PUBLIC_HOST.encode(),
                 b"content-length: " + str(len(body)).encode()]
        lines += [f"{name}: {value}".encode("latin-1") for name, value in headers.items()]
        if self._sock is not None and self._closed_by_server():
            self.close()  # hypercorn closes idle keep-alive connections: not a failure
        if self._sock is None:
            self._sock = socket.create_connection(("127.0.0.1", self._port), self._timeout_s)
            self._buffer = b""
        self._sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        status, response_headers, response_body = self._read_response()
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        return status, response_body

    def _closed_by_server(self) -> bool:
        """Whether the idle connection has been closed (EOF waiting) before we send."""
        assert self._sock is not None
        readable, _, _ = select.select([self._sock], [], [], 0)
        return bool(readable) and not self._sock.recv(1, socket.MSG_PEEK)

    def _read_response(self) -> tuple[int, dict[str, str], bytes]:
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            self._fill()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return int(status_line.split(" ", 2)[1]), headers, body

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._fill()
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            self.close()
            raise ConnectionError("the webhook server closed the connection mid-response")
        self._buffer += chunk
