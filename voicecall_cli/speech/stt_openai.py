"""Speech-to-text for one call: OpenAI Realtime transcription over trio-websocket.

The ``openai`` SDK's realtime client is asyncio-only, so :class:`RealtimeTranscriber` speaks the
wire protocol itself: it connects to ``wss://api.openai.com/v1/realtime?intent=transcription``
(headers ``Authorization: Bearer <key>`` and ``OpenAI-Beta: realtime=v1``), configures the
session with ``transcription_session.update`` (G.711 mu-law input, server VAD), streams the
caller's audio as ``input_audio_buffer.append`` and turns server events into three callbacks:
``on_speech_started()``, ``on_partial(text so far)`` and ``on_final(transcript)``.

Resource handling: the transcriber owns its websocket and the bounded queue of audio waiting
to be sent. Both live inside :meth:`RealtimeTranscriber.run`, which the caller runs as a task
in its own nursery (``await nursery.start(transcriber.run)``); nothing outlives that task.
:meth:`RealtimeTranscriber.close` closes the socket (code 1000), stops reconnects and makes
``run`` return; cancelling ``run`` drops the socket at once.

Error handling: the first connect failing raises :class:`SpeechError` out of
``nursery.start``. After an unexpected close ``run`` reconnects with exponential backoff and
raises :class:`SpeechError` once ``max_reconnects`` attempts in a row have failed. Server
``error`` events are logged and the session continues. Log lines never contain the API key,
and transcripts in them are cut to 200 characters.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import trio
import trio_websocket

from voicecall_cli.protocol.text import without_lone_surrogates
from voicecall_cli.speech.errors import SpeechError

log = logging.getLogger("voicecall.speech.stt")

DEFAULT_URL = "wss://api.openai.com/v1/realtime?intent=transcription"
LOG_TEXT_LIMIT = 200
MAX_FRAMES_PER_APPEND = 25  # a backlog is sent as one append of up to 0.5 s of audio
APPEND_BYTES = 800  # a live call's audio is sent 100 ms (five 20 ms frames) per append...
APPEND_WAIT_S = 0.100  # ...or whatever came within 100 ms of the first frame of the batch
CLOSE_TIMEOUT_S = 2.0

_APPEND_PREFIX = '{"type":"input_audio_buffer.append","audio":"'
_tls_context: ssl.SSLContext | None = None  # shared by every transcriber, made on first use


def _loggable(text: str, secret: str = "", limit: int = LOG_TEXT_LIMIT) -> str:
    """``text`` made safe for one log line: the secret removed, control characters turned
    into spaces, and cut to ``limit`` characters."""
    if secret:
        text = text.replace(secret, "[redacted]")
    text = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RealtimeTranscriber:
    """One call's transcription session. Owns its websocket and a task in the nursery given
    to :meth:`run` (see the module docstring).

    ``send_audio`` never blocks: frames wait in a queue of ``audio_queue_frames`` entries that
    is drained only while the socket is connected; when the socket is slow or reconnecting the
    oldest frames are dropped and counted in :attr:`dropped_frames`.
    """

    def __init__(
        self, *, api_key: str, model: str = "gpt-4o-transcribe", vad_threshold: float = 0.5,
        silence_duration_ms: int = 800, url: str = DEFAULT_URL,
        on_partial: Callable[[str], None], on_final: Callable[[str], None],
        on_speech_started: Callable[[], None], connect_timeout_s: float = 10.0,
        max_reconnects: int = 5, backoff_s: float = 1.0, audio_queue_frames: int = 100,
        on_speech_stopped: Callable[[], None] | None = None,
    ) -> None:
        self._api_key = api_key
        self._model = model
        self._vad_threshold = vad_threshold
        self._silence_duration_ms = silence_duration_ms
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"expected a ws:// or wss:// URL, got {url!r}")
        self._tls = parts.scheme == "wss"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        self._host_header = parts.netloc
        self._resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._on_partial = on_partial
        self._on_final = on_final
        self._on_speech_started = on_speech_started
        self._on_speech_stopped = on_speech_stopped
        self._connect_timeout_s = connect_timeout_s
        self._max_reconnects = max_reconnects
        self._backoff_s = backoff_s
        self._audio_in, self._audio_out = trio.open_memory_channel[bytes](audio_queue_frames)
        self._partial = ""
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._run_scope = trio.CancelScope()
        self._running = False
        self._reported_started = False
        self._closed = False
        self._dropped_frames = 0
        self._dropping = False

    @property
    def connected(self) -> bool:
        """True while a configured session is open (audio is being sent)."""
        return self._ws is not None

    @property
    def dropped_frames(self) -> int:
        """Audio frames dropped because the socket was slow or reconnecting."""
        return self._dropped_frames

    def session_update(self) -> dict[str, Any]:
        """The ``transcription_session.update`` event sent on every (re)connect."""
        return {"type": "transcription_session.update", "session": {
            "input_audio_format": "g711_ulaw",
            "input_audio_transcription": {"model": self._model},
            "turn_detection": {"type": "server_vad", "threshold": self._vad_threshold,
                               "prefix_padding_ms": 300,
                               "silence_duration_ms": self._silence_duration_ms},
        }}

    def send_audio(self, mulaw: bytes) -> None:
        """Queue 8 kHz mu-law audio for the server; never blocks. A no-op once closed or
        once :meth:`run` has finished."""
        if self._closed or not mulaw:
            return
        try:
            self._audio_in.send_nowait(mulaw)
        except trio.WouldBlock:
            self._audio_out.receive_nowait()  # the queue is full, so this cannot block
            self._audio_in.send_nowait(mulaw)
            self._dropped_frames += 1
            if not self._dropping:
                self._dropping = True
                log.warning("Realtime STT: dropping audio (socket slow or reconnecting)")

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

        Raises :class:`SpeechError` if the first connect fails (before ``started()``) or when
        ``max_reconnects`` reconnect attempts in a row have failed. Attempt ``n`` waits
        ``backoff_s * 2**(n-1)`` seconds first; a successful connect resets the count.
        """
        if self._running:
            raise RuntimeError("RealtimeTranscriber.run() may only be called once")
        self._running = True
        try:
            with self._run_scope:
                await self._supervise(task_status)
            if not self._reported_started:  # close() came first: nothing to wait for
                task_status.started()
        finally:
            self._closed = True
            self._audio_in.close()

    async def _supervise(self, task_status: trio.TaskStatus[None]) -> None:
        connected, reason = await self._session(task_status)
        if not connected and not self._closed:
            raise SpeechError(f"Realtime STT connection failed: {reason}")
        attempt = 0
        while not self._closed:
            if connected:
                attempt = 0
                log.warning("Realtime STT connection closed unexpectedly: %s", reason)
            else:
                log.warning("Realtime STT reconnect attempt %d failed: %s", attempt, reason)
            if attempt >= self._max_reconnects:
                raise SpeechError(f"Realtime STT gave up after {attempt} reconnect attempts: "
                                  f"{reason}")
            attempt += 1
            delay = self._backoff_s * 2 ** (attempt - 1)
            log.info("Realtime STT reconnecting in %.1f s (attempt %d of %d)", delay, attempt,
                     self._max_reconnects)
            await trio.sleep(delay)
            connected, reason = await self._session(None)

    async def _session(self, task_status: trio.TaskStatus[None] | None) -> tuple[bool, str]:
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
                            extra_headers=[
                                (b"Authorization", f"Bearer {self._api_key}".encode()),
                                (b"OpenAI-Beta", b"realtime=v1")])
                        await ws.send_message(json.dumps(self.session_update()))
                    configured = True
                    self._partial = ""
                    self._ws = ws
                    log.info("Realtime STT session open")
                    if task_status is not None:
                        self._reported_started = True
                        task_status.started()
                    pump: trio.CancelScope = await nursery.start(self._pump_audio, ws)
                    reason = await self._read_events(ws)
                    pump.cancel()
                    # let the library's reader finish the close handshake, but not forever
                    nursery.cancel_scope.deadline = trio.current_time() + CLOSE_TIMEOUT_S
                except trio.TooSlowError:
                    reason = "Realtime STT connection timeout"
                except OSError as exc:
                    reason = _loggable(f"{type(exc).__name__}: {exc}", self._api_key)
                except trio.BrokenResourceError as exc:  # the TLS handshake failed
                    cause = exc.__cause__ or exc
                    reason = _loggable(f"TLS: {type(cause).__name__}: {cause}", self._api_key)
                except trio_websocket.ConnectionClosed as exc:  # while sending the update
                    reason = self._describe_close(exc.reason)
                finally:
                    self._ws = None
                if not configured:
                    nursery.cancel_scope.cancel()
        except* trio_websocket.ConnectionRejected as rejected:  # raised by the reader task
            refusal = rejected.exceptions[0]
            assert isinstance(refusal, trio_websocket.ConnectionRejected)
            body = (refusal.body or b"").decode("utf-8", "replace")
            reason = _loggable(f"HTTP {refusal.status_code} {body}".strip(), self._api_key)
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

    async def _pump_audio(self, ws: trio_websocket.WebSocketConnection, *,
                          task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        """Send queued audio, ``APPEND_BYTES`` per append (what arrives within
        ``APPEND_WAIT_S`` of a batch's first frame, if less; a backlog of up to
        ``MAX_FRAMES_PER_APPEND`` frames at once), until the returned scope is cancelled or the
        socket closes (the reader reports why)."""
        with trio.CancelScope() as scope:
            task_status.started(scope)
            async for first in self._audio_out:
                frames = [first]
                size = len(first)
                with trio.move_on_after(APPEND_WAIT_S):
                    while size < APPEND_BYTES:
                        try:
                            frames.append(await self._audio_out.receive())
                        except trio.EndOfChannel:
                            break
                        size += len(frames[-1])
                while len(frames) < MAX_FRAMES_PER_APPEND:
                    try:
                        frames.append(self._audio_out.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                audio = base64.b64encode(b"".join(frames)).decode("ascii")
                try:
                    await ws.send_message(_APPEND_PREFIX + audio + '"}')
                except trio_websocket.ConnectionClosed:
                    return
                self._dropping = False

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
                log.warning("Realtime STT: ignoring a message that is not JSON")
                continue
            if isinstance(event, dict):
                self._handle_event(event)

    def _handle_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "conversation.item.input_audio_transcription.delta":
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                self._partial += without_lone_surrogates(delta)
                log.debug("Realtime STT partial: %s", _loggable(self._partial))
                self._on_partial(self._partial)
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._partial = ""
            transcript = event.get("transcript")
            if isinstance(transcript, str) and transcript.strip():
                transcript = without_lone_surrogates(transcript)
                log.info("Realtime STT transcript: %s", _loggable(transcript))
                self._on_final(transcript)
        elif kind == "input_audio_buffer.speech_started":
            self._partial = ""
            self._on_speech_started()
        elif kind == "input_audio_buffer.speech_stopped":
            if self._on_speech_stopped is not None:
                self._on_speech_stopped()  # the caller's end of speech (turn latency)
        elif kind == "error":
            error = event.get("error")
            detail = error.get("message", "") if isinstance(error, dict) else ""
            code = error.get("code") if isinstance(error, dict) else None
            log.warning("Realtime STT error event (%s): %s", _loggable(str(code)),
                        _loggable(str(detail), self._api_key))

    def _describe_close(self, reason: trio_websocket.CloseReason | None) -> str:
        if reason is None:
            return "connection lost"
        text = f"code {reason.code} {reason.name}"
        if reason.reason:
            text += f" ({reason.reason})"
        return _loggable(text, self._api_key)
