"""Media streams: the websocket endpoint, its limits, and playback into each call.

:class:`MediaStreams` is an ASGI websocket app (``asgi``) mounted by the webhook server at
``streaming.streamPath``. Frames are read and written through the provider's
:class:`~voicecall_cli.providers.media_codec.MediaCodec`; streams are kept in the daemon's
:class:`~voicecall_cli.daemon.media.registry.StreamRegistry`. Per socket (reference sections
5.1 and 5.2):

* which sockets are taken on at all (malformed upgrades 400, ``max_connections`` open sockets
  503 through the ASGI ``websocket.http.response`` extension, ``max_pending`` /
  ``max_pending_per_ip`` sockets waiting for their start 1013) is :mod:`.admission`'s call;
* no valid ``start`` within ``pre_start_timeout_s`` -> 1008 "Start timeout";
* stream started: no provider call id -> 1008 "Missing callSid"; a token (the start frame's,
  else the one presented before it: a credential frame, the codec's ``token_header`` on the
  upgrade request, the upgrade URL's ``?token=``) that ``registry.check_token`` rejects for
  the start's token subject (by default the provider call id), or a call that is not live
  (``is_live_call``) -> 1008 "Unknown call". Accepted: the token is spent (tokens are
  single-use and short-lived, see :mod:`.registry`), the stream is added to the registry
  (an inbound call's reserved stream slot becomes this stream), then
  ``on_start(call id, stream id)``;
* audio -> ``on_audio(call id, mu-law bytes)`` (dropped before the start; frames that carry a
  sequence number are put back in order first, see :mod:`.reorder`); a played mark ->
  completes a playback; dtmf -> ``on_dtmf(call id, digits)``; stream stopped or the socket
  closing -> removed from the registry, ``on_stop(call id, stream id)`` and, if that was the
  call's current stream, the disconnect grace: ``on_disconnect_timeout(call id)`` after
  ``disconnect_grace_s`` unless a stream for the call started again meanwhile.
* hostile or broken frames: one the codec cannot decode is ignored, too many close the
  socket 1008 (:mod:`.guard`); a failure of ours while handling a frame closes it 1011.
  Only that socket ends, and a started stream's call gets ``on_error(call id, why)``.
* more than ``send_buffer_limit`` bytes waiting to be sent -> 1013 "Backpressure: send buffer
  exceeded".

Logging: lines about what a socket's peer sent or did wrong are rate-limited and coalesced
(:class:`.guard.EndpointLog`): a hostile socket cannot fill the disk.

Callbacks are called synchronously from the stream's tasks: they must not block (hand work to
a channel or a nursery). Their exceptions are logged and never end the stream.

Resource handling: :meth:`run` opens the nursery that holds every socket's tasks (reader,
writer, player) and every grace timer; the ASGI call only waits for its socket's tasks. When
``run`` is cancelled, every socket's tasks end, each open socket is closed with 1001 by its
ASGI call, and waiting ``play`` calls fail with :class:`PlaybackFailed`. Before ``run`` has
started (or after it ended) upgrades are refused with 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from voicecall_cli.daemon.media.admission import SHUTTING_DOWN, Admission
from voicecall_cli.daemon.media.connection import Connection
from voicecall_cli.daemon.media.grace import GraceTimers
from voicecall_cli.daemon.media.guard import (
    DEFAULT_LIMITS,
    EndpointLog,
    FrameLimits,
    SocketGuard,
    default_clock,
    describe,
)
from voicecall_cli.daemon.media.playback import Playback, PlaybackFailed, PlayProgress
from voicecall_cli.daemon.media.registry import Stream, StreamRegistry
from voicecall_cli.daemon.media.reorder import FrameOrder
from voicecall_cli.daemon.media.upgrade import presented_token
from voicecall_cli.providers.audio import AudioSource
from voicecall_cli.providers.media_codec import (
    AudioIn,
    DtmfIn,
    MarkPlayed,
    MediaCodec,
    StreamCredential,
    StreamStarted,
    StreamStopped,
)

logger = logging.getLogger("voicecall.media")

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

__all__ = ["MediaStreams", "PlaybackFailed"]


class MediaStreams:
    """The media-stream endpoint and the playback into each started stream (module docstring).

    ``is_inbound(call id)`` says whether a stream belongs to an inbound call (the registry
    counts inbound streams for the hold queue); without it, streams count as outbound.
    ``is_live_call(call id)`` says whether the daemon has the call live: a stream for a call
    that ended is refused like one with a bad token.
    ``on_error(call id, message)`` hears why a started stream's socket was closed for what it
    sent or for a failure of ours (module docstring); ``limits`` bound the bad frames.
    ``first_audio_timeout_s`` bounds the keep-alive silence before a source yields audio;
    ``mark_timeout_s`` bounds the wait for the provider's echo of the completion mark.
    """

    def __init__(self, *, registry: StreamRegistry, codec: MediaCodec, max_connections: int,
                 max_pending: int,
                 max_pending_per_ip: int, pre_start_timeout_s: float,
                 on_start: Callable[[str, str], None], on_stop: Callable[[str, str], None],
                 on_audio: Callable[[str, bytes], None] | None = None,
                 on_dtmf: Callable[[str, str], None] | None = None,
                 send_buffer_limit: int = 1 << 20, disconnect_grace_s: float = 2.0,
                 on_disconnect_timeout: Callable[[str], None] | None = None,
                 is_inbound: Callable[[str], bool] | None = None,
                 is_live_call: Callable[[str], bool] | None = None,
                 first_audio_timeout_s: float = 8.0, mark_timeout_s: float = 10.0,
                 on_error: Callable[[str, str], None] | None = None,
                 limits: FrameLimits = DEFAULT_LIMITS) -> None:
        self._registry = registry
        self._codec = codec
        self._pre_start_timeout_s = pre_start_timeout_s
        self._on_start = on_start
        self._on_stop = on_stop
        self._on_audio = on_audio
        self._on_dtmf = on_dtmf
        self._send_buffer_limit = send_buffer_limit
        self._graces = GraceTimers(disconnect_grace_s, on_disconnect_timeout,
                                   registry.has_stream, self._notify)
        self._is_inbound = is_inbound or (lambda _call_sid: False)
        self._is_live_call = is_live_call or (lambda _call_sid: True)
        self._first_audio_timeout_s = first_audio_timeout_s
        self._mark_timeout_s = mark_timeout_s
        self._on_error = on_error
        self._limits = limits
        self.log = EndpointLog(logger, default_clock)
        self._admission = Admission(max_connections=max_connections, max_pending=max_pending,
                                    max_pending_per_ip=max_pending_per_ip, log=self.log)
        self._nursery: trio.Nursery | None = None

    # -- the owner's side ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold every stream's tasks until cancelled; ready as soon as sockets may connect."""
        self.log.attach()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                while True:  # what the rate limit left out is summed up now and then
                    await trio.sleep(self.log.limiter.summary_every_s)
                    self.log.limiter.flush(force=False)
        finally:
            self._nursery = None
            self.log.detach()

    async def play(self, provider_call_id: str, source: AudioSource,
                   progress: PlayProgress | None = None) -> str:
        """Play ``source`` into the call's stream after what is already queued.

        Returns "played" once the provider echoed the completion mark, "interrupted" when
        :meth:`clear` came first. Raises :class:`PlaybackFailed` (no stream, the source failed
        or produced no audio, the socket closed or refused the audio). Cancelling the call
        abandons the item (taken off the queue, or stopped at the next frame).
        """
        stream = self._registry.current(provider_call_id)
        if stream is None:
            raise PlaybackFailed(f"No media stream for call {provider_call_id}")
        return await stream.playback.play(source, progress)

    def clear(self, provider_call_id: str) -> None:
        """Barge-in: ``clear`` to the provider, queued audio dropped, every playback
        "interrupted"."""
        stream = self._registry.current(provider_call_id)
        if stream is not None:
            stream.playback.clear()

    def has_stream(self, provider_call_id: str) -> bool:
        return self._registry.has_stream(provider_call_id)

    # -- the websocket endpoint ----------------------------------------------------------------

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI websocket app: limits, then the socket's tasks run in :meth:`run`'s nursery."""
        if scope["type"] != "websocket":
            return
        try:
            await self._upgrade(scope, receive, send)
        except Exception as exc:  # the peer vanished mid-answer, or a failure of ours
            self.log.failure(None, "media stream upgrade failed: %s", describe(exc), exc=exc)

    async def _upgrade(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if await self._admission.refused(scope, send, running=self._nursery is not None):
            return
        with self._admission.counted():
            client = scope.get("client")
            client_ip = str(client[0]) if client else "unknown"
            if not await self._admission.take_pending(client_ip, send):
                return
            connection = Connection(
                client_ip=client_ip, send=send, send_buffer_limit=self._send_buffer_limit,
                start_deadline=trio.current_time() + self._pre_start_timeout_s,
                presented_token=presented_token(scope, self._codec.token_header))
            try:
                connection.guard = SocketGuard(self.log.limiter, client_ip, self._limits)
                await send({"type": "websocket.accept"})
                if self._nursery is None:  # run() ended while we accepted
                    connection.finished.set()
                else:
                    self._nursery.start_soon(self._serve, connection, receive)
                await connection.finished.wait()
            finally:
                connection.cancel_scope.cancel()
                self._admission.release_pending(connection)
                if connection.guard is not None:
                    connection.guard.close()
        if not (connection.outbox.close_sent or connection.peer_gone):
            with trio.move_on_after(1):  # run() was cancelled: tell the peer we are going
                await send({"type": "websocket.close", "code": 1001,
                            "reason": SHUTTING_DOWN.decode().strip()})

    async def _serve(self, connection: Connection, receive: Receive) -> None:
        """The socket's tasks: reader (here), writer and, once started, the player.

        A failure of ours while serving one socket closes that socket (1011) and is logged;
        it never reaches :meth:`run`, so no other call's stream is disturbed."""
        try:
            with connection.cancel_scope:
                async with trio.open_nursery() as tasks:
                    connection.tasks = tasks
                    tasks.start_soon(self._write, connection)
                    try:
                        with connection.read_scope:
                            await self._read(connection, receive)
                    except Exception as exc:
                        self._failed(connection, exc)
                    finally:
                        why = connection.outbox.failure  # set when we closed the socket
                        self._end_stream(connection, f"Telephony stream playback failed: {why}"
                                         if why else "Media stream closed before playback "
                                                     "finished")
                        if connection.peer_gone:
                            connection.outbox.abandon("media stream closed by the peer")
        except Exception as exc:  # a task of this socket's (writer, player) failed: only it ends
            self._failed(connection, exc)
        finally:
            self._admission.release_pending(connection)
            connection.finished.set()

    async def _write(self, connection: Connection) -> None:
        await connection.outbox.run()
        connection.read_scope.cancel()  # the close went out, or the socket is unusable

    async def _read(self, connection: Connection, receive: Receive) -> None:
        while True:
            if connection.stream is None:
                with trio.move_on_at(connection.start_deadline) as pre_start:
                    message = await receive()
                if pre_start.cancelled_caught:
                    self._close_for(connection, 1008, "Start timeout")
                    return
            else:
                message = await receive()
            if message["type"] == "websocket.disconnect":
                connection.peer_gone = True
                return
            guard = connection.guard
            assert guard is not None
            started = connection.stream is not None
            too_many = guard.frame(started)  # empty ones count: they are frames all the same
            frame = message.get("text") or message.get("bytes")
            if too_many is None:
                if not frame:
                    continue
                try:
                    event = self._codec.decode(frame)
                except Exception as exc:  # hostile input the codec did not expect included
                    too_many = guard.bad(exc, started)
                    if too_many is None:
                        continue
            if too_many is not None:
                self._close_for(connection, 1008, too_many)
                return
            guard.good()
            stream = connection.stream
            if isinstance(event, AudioIn):
                if stream is not None and self._on_audio is not None:
                    if event.sequence is None:
                        self._notify(self._on_audio, stream.provider_call_id, event.payload)
                    else:
                        self._audio_in_order(connection, stream, event.sequence, event.payload)
            elif isinstance(event, MarkPlayed):
                if stream is not None:
                    stream.playback.mark_echoed(event.name)
            elif isinstance(event, StreamStarted):
                if stream is None and not self._start(connection, event):
                    return
            elif isinstance(event, DtmfIn):
                if stream is not None and self._on_dtmf is not None:
                    self._notify(self._on_dtmf, stream.provider_call_id, event.digits)
            elif isinstance(event, StreamCredential):
                if stream is None:
                    connection.presented_token = event.token
            elif isinstance(event, StreamStopped) and stream is not None:
                self._stopped(connection, stream)
                return

    def _start(self, connection: Connection, event: StreamStarted) -> bool:
        """Accept or refuse a stream start; False when the socket is being closed."""
        call_id = event.provider_call_id
        if not call_id:
            self._close_for(connection, 1008, "Missing callSid")
            return False
        token = event.token or connection.presented_token
        subject = event.token_subject or call_id
        if not (self._registry.check_token(subject, token) and self._is_live_call(call_id)):
            self._close_for(connection, 1008, "Unknown call")
            return False
        self._registry.spend_token(subject)
        self._admission.release_pending(connection)
        self._graces.cancel(call_id)
        playback = Playback(connection.outbox, self._codec, event.stream_id,
                            first_audio_timeout_s=self._first_audio_timeout_s,
                            mark_timeout_s=self._mark_timeout_s)
        stream = connection.stream = Stream(call_id, event.stream_id, playback,
                                            inbound=self._is_inbound(call_id))
        stream.stop = lambda: self._stopped(connection, stream)
        self._registry.add(connection.stream)
        assert connection.tasks is not None
        connection.tasks.start_soon(playback.run)
        logger.info("media stream %s started for call %s", event.stream_id, call_id)
        self._notify(self._on_start, call_id, event.stream_id)
        return True

    def _stopped(self, connection: Connection, stream: Stream) -> None:
        """The provider ended the stream (a stop frame, or its out-of-band report): the
        caller's last frames go on, the stream ends and the socket is closed."""
        if connection.order is not None and self._on_audio is not None:
            for payload in connection.order.drain():
                self._notify(self._on_audio, stream.provider_call_id, payload)
        self._end_stream(connection, "Media stream stopped before playback finished")
        connection.close(1000, "Stream stopped")

    def _audio_in_order(self, connection: Connection, stream: Stream, sequence: int,
                        payload: bytes) -> None:
        order = connection.order
        if order is None:
            order = connection.order = FrameOrder()
        assert self._on_audio is not None
        for due in order.push(sequence, payload):
            self._notify(self._on_audio, stream.provider_call_id, due)

    def _end_stream(self, connection: Connection, reason: str) -> None:
        """The stream stopped or its socket closed (idempotent): unregister, notify, grace."""
        stream = connection.stream
        if stream is None or stream.ended:
            return
        stream.ended = True
        stream.playback.close(reason)
        was_current = self._registry.remove(stream)
        call_id = stream.provider_call_id
        logger.info("media stream %s for call %s ended", stream.stream_id, call_id)
        self._notify(self._on_stop, call_id, stream.stream_id)
        if was_current:
            self._graces.start(self._nursery, call_id)

    def _close_for(self, connection: Connection, code: int, reason: str,
                   why: str | None = None) -> None:
        """Close the socket for what its peer sent (or failed to send), with one rate-limited
        line in place of the outbox's own; a started stream's call hears ``why``."""
        assert connection.guard is not None
        connection.guard.log.log("closed", logging.WARNING, "closing it: %d %s", code, reason)
        stream = connection.stream
        if stream is not None and self._on_error is not None:
            self._notify(self._on_error, stream.provider_call_id,
                         why or f"media stream closed: {reason}")
        with self.log.hushed():
            connection.close(code, reason)

    def _failed(self, connection: Connection, exc: Exception) -> None:
        """A failure of ours while serving the socket: logged, the socket closed 1011."""
        assert connection.guard is not None
        self.log.failure(connection.guard.log, "failed (%s)", describe(exc), exc=exc)
        self._close_for(connection, 1011, "Internal error",
                        f"media stream failed: {describe(exc)}")

    def _notify(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception as exc:
            self.log.failure(None, "media stream callback %s failed: %s",
                             getattr(callback, "__name__", callback), describe(exc), exc=exc)
