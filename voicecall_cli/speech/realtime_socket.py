"""One OpenAI Realtime websocket over trio-websocket, kept open: the part that the transcriber
(:mod:`.stt_openai`) and the speech-to-speech voice (:mod:`.realtime_voice`) share.

The ``openai`` SDK's realtime client is asyncio-only, so :class:`RealtimeSocket` speaks the
wire itself. A subclass says what is sent first on every (re)connect
(:meth:`RealtimeSocket.connect_events`) and what each server event means
(:meth:`RealtimeSocket.handle_event`); this class connects, sends, reads and reconnects.

Sending never blocks: caller audio (8 kHz mu-law) waits in a bounded queue and goes out in
batches (``APPEND_BYTES`` per ``input_audio_buffer.append``, or what came within
``APPEND_WAIT_S`` of a batch's first frame, a backlog up to ``MAX_FRAMES_PER_APPEND`` frames at
once): a call delivers 50 frames a second and one message each would cost as much event-loop
time as the call's own media. Other client events (:meth:`RealtimeSocket.send_event`) go out
before queued audio, in order. When the socket is slow or away, the oldest audio is dropped
and counted; client events queued when a connection is lost are dropped with it (they named
that session's items), those queued afterwards wait for the next connection.

Resource handling: the socket, its TCP/TLS stream and the queues live inside
:meth:`RealtimeSocket.run`, which the owner runs as a task in its own nursery; nothing outlives
that task. :meth:`RealtimeSocket.close` closes the socket (code 1000), stops reconnects and
makes ``run`` return; cancelling ``run`` drops the socket at once.

Error handling: the first connect failing raises :class:`SpeechError` out of ``nursery.start``
(unless ``retry_first_connect``: then it is retried like a lost connection). After an
unexpected close ``run`` reconnects with exponential backoff and raises :class:`SpeechError`
once ``max_reconnects`` attempts in a row have failed. Log lines and errors never contain the
API key.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import trio
import trio_websocket

from voicecall_cli.speech.errors import SpeechError

log = logging.getLogger("voicecall.speech.realtime")

LOG_TEXT_LIMIT = 200
MAX_FRAMES_PER_APPEND = 25  # a backlog is sent as one append of up to 0.5 s of audio
APPEND_BYTES = 800  # a live call's audio is sent 100 ms (five 20 ms frames) per append...
APPEND_WAIT_S = 0.100  # ...or whatever came within 100 ms of the first frame of the batch
CLOSE_TIMEOUT_S = 2.0

_APPEND_PREFIX = '{"type":"input_audio_buffer.append","audio":"'
_tls_context: ssl.SSLContext | None = None  # shared by every socket, made on first use


def loggable(text: str, secret: str = "", limit: int = LOG_TEXT_LIMIT) -> str:
    """``text`` made safe for one log line: the secret removed, control characters turned
    into spaces, and cut to ``limit`` characters."""
    if secret:
        text = text.replace(secret, "[redacted]")
    text = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RealtimeSocket:
    """A reconnecting Realtime websocket (see the module docstring). ``label`` names it in
    logs and errors ("Realtime STT", "Realtime voice")."""

    label = "Realtime"

    def __init__(self, *, api_key: str, url: str, headers: list[tuple[bytes, bytes]],
                 connect_timeout_s: float = 10.0, max_reconnects: int = 5,
                 backoff_s: float = 1.0, audio_queue_frames: int = 100,
                 retry_first_connect: bool = False) -> None:
        self._api_key = api_key
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"expected a ws:// or wss:// URL, got {url!r}")
        self._tls = parts.scheme == "wss"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        self._host_header = parts.netloc
        self._resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = [(b"Authorization", f"Bearer {api_key}".encode()), *headers]
        self._connect_timeout_s = connect_timeout_s
        self._max_reconnects = max_reconnects
        self._backoff_s = backoff_s
        self._retry_first_connect = retry_first_connect
        self._queue_frames = audio_queue_frames
        self._frames: deque[bytes] = deque()
        self._queued_bytes = 0
        self._control: deque[str] = deque()
        self._wake = trio.Event()
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._run_scope = trio.CancelScope()
        self._running = False
        self._reported_started = False
        self._closed = False
        self._dropped_frames = 0
        self._dropping = False

    # -- what a subclass says --------------------------------------------------------------------

    def connect_events(self, resumed: bool) -> list[dict[str, Any]]:
        """The events sent first on a connection (``resumed``: not the first one)."""
        return []

    def handle_event(self, event: dict[str, Any]) -> None:
        """One server event (a JSON object)."""

    def connection_opened(self, resumed: bool) -> None:
        """A connection is configured (its first events were sent)."""

    def connection_lost(self, reason: str) -> None:
        """An open connection closed unexpectedly; a reconnect follows (unless closed)."""

    # -- the owner's side ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a configured session is open (audio is being sent)."""
        return self._ws is not None

    @property
    def dropped_frames(self) -> int:
        """Audio frames dropped because the socket was slow or reconnecting."""
        return self._dropped_frames

    def send_audio(self, mulaw: bytes) -> None:
        """Queue 8 kHz mu-law audio for the server; never blocks. A no-op once closed."""
        if self._closed or not mulaw:
            return
        if len(self._frames) >= self._queue_frames:
            self._queued_bytes -= len(self._frames.popleft())
            self._dropped_frames += 1
            if not self._dropping:
                self._dropping = True
                log.warning("%s: dropping audio (socket slow or reconnecting)", self.label)
        self._frames.append(mulaw)
        self._queued_bytes += len(mulaw)
        if len(self._frames) == 1 or self._queued_bytes >= APPEND_BYTES:
            self._wake.set()  # a batch starts, or is full (the pump has its deadline between)

    def send_event(self, event: dict[str, Any]) -> None:
        """Queue a client event; it goes out before queued audio. A no-op once closed."""
        if not self._closed:
            self._control.append(json.dumps(event, separators=(",", ":")))
            self._wake.set()

    async def close(self) -> None:
        """Stop for good: close the socket (waiting up to 2 s for the close handshake, even
        when cancelled), stop reconnecting and make :meth:`run` return. Idempotent."""
        if self._closed:
            return
        self._closed = True
        ws = self._ws
        if ws is not None:
            with trio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
                await ws.aclose(code=1000, reason="call ended")
        self._run_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, report started, then read events until :meth:`close`.

        Raises :class:`SpeechError` if the first connect fails (before ``started()``; with
        ``retry_first_connect`` it is started at once and retried instead) or when
        ``max_reconnects`` reconnect attempts in a row have failed. Attempt ``n`` waits
        ``backoff_s * 2**(n-1)`` seconds first; a successful connect resets the count.
        """
        if self._running:
            raise RuntimeError(f"{type(self).__name__}.run() may only be called once")
        self._running = True
        try:
            with self._run_scope:
                if self._retry_first_connect:
                    self._reported_started = True
                    task_status.started()
                    await self._supervise(None)
                else:
                    await self._supervise(task_status)
            if not self._reported_started:  # close() came first: nothing to wait for
                task_status.started()
        finally:
            self._closed = True
            self._frames.clear()
            self._control.clear()

    async def _supervise(self, task_status: trio.TaskStatus[None] | None) -> None:
        connected, reason = await self._session(task_status, resumed=False)
        ever = connected
        if not connected and not self._closed and not self._retry_first_connect:
            raise SpeechError(f"{self.label} connection failed: {reason}")
        attempt = 0
        while not self._closed:
            if connected:
                attempt = 0
                log.warning("%s connection closed unexpectedly: %s", self.label, reason)
                self.connection_lost(reason)
            else:
                log.warning("%s connect attempt failed: %s", self.label, reason)
            if attempt >= self._max_reconnects:
                raise SpeechError(f"{self.label} gave up after {attempt} reconnect attempts: "
                                  f"{reason}")
            attempt += 1
            delay = self._backoff_s * 2 ** (attempt - 1)
            log.info("%s reconnecting in %.1f s (attempt %d of %d)", self.label, delay, attempt,
                     self._max_reconnects)
            await trio.sleep(delay)
            connected, reason = await self._session(None, resumed=ever)
            ever = ever or connected

    async def _session(self, task_status: trio.TaskStatus[None] | None,
                       resumed: bool) -> tuple[bool, str]:
        """One connection, from connect to close: (whether it got configured, why it ended).

        The TCP/TLS stream is opened here (not by trio-websocket's ``open_websocket_url``,
        whose connect timeout does not cover a server that accepts and never answers) so that
        the timeout covers connect + TLS + handshake and the stream is closed on every exit.
        """
        configured = False
        reason = "connection lost"
        stream: trio.abc.Stream | None = None
        try:
            async with trio.open_nursery() as nursery:  # the library's reader, our pump
                try:
                    with trio.fail_after(self._connect_timeout_s):
                        stream = await self._open_stream()
                        ws = await trio_websocket.wrap_client_stream(
                            nursery, stream, self._host_header, self._resource,
                            extra_headers=self._headers)
                        for event in self.connect_events(resumed):
                            await ws.send_message(json.dumps(event, separators=(",", ":")))
                    configured = True
                    self._ws = ws
                    log.info("%s session open", self.label)
                    if task_status is not None:
                        self._reported_started = True
                        task_status.started()
                    self.connection_opened(resumed)
                    pump: trio.CancelScope = await nursery.start(self._pump, ws)
                    reason = await self._read_events(ws)
                    pump.cancel()
                    # let the library's reader finish the close handshake, but not forever
                    nursery.cancel_scope.deadline = trio.current_time() + CLOSE_TIMEOUT_S
                except trio.TooSlowError:
                    reason = f"{self.label} connection timeout"
                except OSError as exc:
                    reason = loggable(f"{type(exc).__name__}: {exc}", self._api_key)
                except trio.BrokenResourceError as exc:  # the TLS handshake failed
                    cause = exc.__cause__ or exc
                    reason = loggable(f"TLS: {type(cause).__name__}: {cause}", self._api_key)
                except trio_websocket.ConnectionClosed as exc:  # while sending the first events
                    reason = self._describe_close(exc.reason)
                finally:
                    self._ws = None
                    if configured:
                        self._control.clear()  # they named this session's items
                if not configured:
                    nursery.cancel_scope.cancel()
        except* trio_websocket.ConnectionRejected as rejected:  # raised by the reader task
            refusal = rejected.exceptions[0]
            assert isinstance(refusal, trio_websocket.ConnectionRejected)
            body = (refusal.body or b"").decode("utf-8", "replace")
            reason = loggable(f"HTTP {refusal.status_code} {body}".strip(), self._api_key)
        finally:
            if stream is not None:
                await trio.aclose_forcefully(stream)
        return configured, reason

    async def _open_stream(self) -> trio.SocketStream | trio.SSLStream[trio.SocketStream]:
        if not self._tls:
            return await trio.open_tcp_stream(self._host, self._port)
        global _tls_context
        if _tls_context is None:  # loading the CA bundle takes a while: keep it off the loop
            _tls_context = await trio.to_thread.run_sync(ssl.create_default_context)
        stream = await trio.open_ssl_over_tcp_stream(
            self._host, self._port, ssl_context=_tls_context, https_compatible=True)
        try:
            await stream.do_handshake()  # a TLS failure says so, instead of timing out later
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return stream

    async def _pump(self, ws: trio_websocket.WebSocketConnection, *,
                    task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        """Send queued client events, then queued audio in batches (see the module
        docstring), until the returned scope is cancelled or the socket closes (the reader
        reports why)."""
        batch_deadline: float | None = None
        with trio.CancelScope() as scope:
            task_status.started(scope)
            try:
                while True:
                    self._wake = trio.Event()
                    while self._control:
                        await ws.send_message(self._control.popleft())
                    if not self._frames:
                        batch_deadline = None
                        await self._wake.wait()
                        continue
                    if self._queued_bytes < APPEND_BYTES:
                        if batch_deadline is None:
                            batch_deadline = trio.current_time() + APPEND_WAIT_S
                        if trio.current_time() < batch_deadline:
                            with trio.move_on_at(batch_deadline):
                                await self._wake.wait()
                            continue
                    batch_deadline = None
                    await ws.send_message(self._take_append())
                    self._dropping = False
            except trio_websocket.ConnectionClosed:
                return

    def _take_append(self) -> str:
        frames = []
        while self._frames and len(frames) < MAX_FRAMES_PER_APPEND:
            frames.append(self._frames.popleft())
            self._queued_bytes -= len(frames[-1])
        return _APPEND_PREFIX + base64.b64encode(b"".join(frames)).decode("ascii") + '"}'

    async def _read_events(self, ws: trio_websocket.WebSocketConnection) -> str:
        """Dispatch server events until the socket closes; returns why it closed."""
        while True:
            try:
                message = await ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                return self._describe_close(exc.reason)
            try:
                event = json.loads(message)
            except (ValueError, RecursionError):
                log.warning("%s: ignoring a message that is not JSON", self.label)
                continue
            if isinstance(event, dict):
                self.handle_event(event)

    def _describe_close(self, reason: trio_websocket.CloseReason | None) -> str:
        if reason is None:
            return "connection lost"
        text = f"code {reason.code} {reason.name}"
        if reason.reason:
            text += f" ({reason.reason})"
        return loggable(text, self._api_key)
