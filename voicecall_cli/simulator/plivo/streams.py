"""The audio streams of one simulated Plivo call: one :class:`StreamSession` per ``<Stream>``
the call reached, from the element to the socket's close.

Who plays Plivo's side of the socket: the simulator itself when the callee script streams
audio (it connects at once and talks with
:func:`~voicecall_cli.simulator.caller.talk_on_stream`), or else a test, through
:meth:`CallStreams.connect` (or not at all: :meth:`CallStreams.end` then says the stream is
over). Either way the session reports to the element's ``statusCallbackUrl``: ``StartStream``
once the socket is up and the ``start`` frame sent, ``StopStream`` when it ended normally
(the app closed the socket, the stream timed out, the call ended), ``DroppedStream`` when it
failed (refused, unreachable, closed abnormally); each with ``StatusReason``. A
``keepCallAlive`` element waits on :attr:`StreamSession.done`.

Resource handling: a session's tasks (the simulator's connection, the ``streamTimeout`` timer)
run in the simulator's nursery under cancel scopes this object owns; :meth:`CallStreams.stop_all`
(the call ended) reports every open session stopped, cancels them and closes sockets a test
holds (the test's context manager still owns and exits its connection). Sessions outlive a
transfer: only the XML waiting on them is abandoned.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import trio
import trio_websocket

from voicecall_cli.simulator.caller import talk_on_stream
from voicecall_cli.simulator.plivo.call import CalleeScript, SimCall, StreamRequest
from voicecall_cli.simulator.plivo.media import PlivoMediaStream, open_plivo_media_stream
from voicecall_cli.simulator.plivo.webhooks import plivo_time

Notify = Callable[[str, str, str, Mapping[str, str]], None]  # kind, url, method, params


@dataclass(eq=False, slots=True)
class StreamSession:
    """One ``<Stream>`` of a call and what became of it."""

    request: StreamRequest
    done: trio.Event = field(default_factory=trio.Event)  # the stream is over
    media: PlivoMediaStream | None = None  # the socket while it is open
    connected: bool = False  # a socket was opened for it (by the simulator or a test)
    started: bool = False  # StartStream reported
    ended_reason: str | None = None
    scopes: list[trio.CancelScope] = field(default_factory=list)


class CallStreams:
    """The stream sessions of one call; created and owned by its call runner."""

    def __init__(self, call: SimCall, *, script: CalleeScript, account_id: str,
                 nursery: trio.Nursery, notify: Notify, clock_ms: Callable[[], int],
                 time_factor: Callable[[], float], give_reply: Callable[[str], None],
                 on_change: Callable[[], None]) -> None:
        self.call = call
        self.sessions: list[StreamSession] = []
        self._script = script
        self._account_id = account_id
        self._nursery = nursery
        self._notify = notify
        self._clock_ms = clock_ms
        self._time_factor = time_factor
        self._give_reply = give_reply
        self._on_change = on_change

    def start(self, request: StreamRequest) -> StreamSession:
        """The call reached a ``<Stream>``: record it, start its timeout, and connect when the
        simulator plays the caller."""
        session = StreamSession(request)
        self.sessions.append(session)
        self.call.streams.append(request)
        self._spawn(session, self._expire, session)
        if self._script.stream_audio:
            self._spawn(session, self._drive, session)
        self._on_change()
        return session

    def end(self, reason: str = "Stream ended") -> None:
        """A test says the latest open stream is over (it never connected, or is done)."""
        for session in reversed(self.sessions):
            if not session.done.is_set():
                self._finish(session, reason)
                return

    def stop_all(self, reason: str, *, report: bool = True) -> None:
        """The call ended: every open session stops (reported unless ``report`` is False)."""
        for session in self.sessions:
            self._finish(session, reason, report=report)

    def press(self, digit: str) -> None:
        """The caller pressed a key: a ``dtmf`` frame on every open socket."""
        for session in self.sessions:
            if session.media is not None and not session.done.is_set():
                self._nursery.start_soon(self._send_dtmf, session.media, digit)

    @asynccontextmanager
    async def connect(self, *, echo_marks: bool = True, local_address: str | None = None,
                      ) -> AsyncIterator[PlivoMediaStream]:
        """Play Plivo's side of the latest stream not yet connected (see the module
        docstring); the session ends when this exits or the socket closes."""
        session = next((s for s in reversed(self.sessions)
                        if not s.connected and not s.done.is_set()), None)
        if session is None:
            raise LookupError(f"call {self.call.call_uuid} has no stream waiting to connect")
        session.connected = True
        failed = True
        try:
            async with self._open(session, echo_marks=echo_marks,
                                  local_address=local_address) as media:
                failed = False
                yield media
        finally:
            self._closed(session, failed=failed)

    # -- the session's life ---------------------------------------------------------------------

    @asynccontextmanager
    async def _open(self, session: StreamSession, *, echo_marks: bool,
                    local_address: str | None = None) -> AsyncIterator[PlivoMediaStream]:
        request = session.request
        async with open_plivo_media_stream(
                request.url, call_uuid=self.call.call_uuid, stream_id=request.stream_id,
                account_id=self._account_id, extra_headers=request.extra_headers,
                content_type=request.content_type, bidirectional=request.bidirectional,
                audio_track=request.audio_track, echo_marks=echo_marks,
                local_address=local_address) as media:
            session.media = media
            if not session.done.is_set():
                session.started = True
                self._report(session, "StartStream")
                self._spawn(session, self._watch, session, media)
            try:
                yield media
            finally:
                self.call.errors.extend(f"media stream: {error}" for error in media.errors)

    async def _drive(self, session: StreamSession) -> None:
        """The simulator is the caller on this stream until the socket closes."""
        session.connected = True
        failed = True
        try:
            async with self._open(session, echo_marks=True) as media:
                failed = False
                with suppress(trio_websocket.ConnectionClosed):
                    await talk_on_stream(media, self._script, given=self.call.replies,
                                         give_reply=self._give_reply,
                                         send_silence=media.send_media)
        except* Exception as group:  # refused, unreachable, closed under us
            leaf = _first_leaf(group)
            self.call.errors.append(f"media stream: {leaf!r}")
            session.ended_reason = session.ended_reason or f"{type(leaf).__name__}: {leaf}"
        finally:
            self._closed(session, failed=failed)

    async def _watch(self, session: StreamSession, media: PlivoMediaStream) -> None:
        """End the session as soon as the socket closes, even while its owner holds it."""
        await media.closed.wait()
        if session.media is media:
            self._closed(session, failed=False)

    async def _expire(self, session: StreamSession) -> None:
        await trio.sleep(session.request.stream_timeout_s * self._time_factor())
        self._finish(session, "Stream timeout reached")

    def _closed(self, session: StreamSession, *, failed: bool) -> None:
        """The socket is gone (or never came up)."""
        media = session.media
        session.media = None
        abnormal = media is not None and media.close_code not in (None, 1000)
        if failed or abnormal:
            reason = session.ended_reason or (
                f"WebSocket closed with code {media.close_code}" if media is not None
                else "could not connect to the WebSocket server")
            self._finish(session, reason, dropped=True)
        else:
            self._finish(session, "WebSocket closed by the application")

    def _finish(self, session: StreamSession, reason: str, *, dropped: bool = False,
                report: bool = True) -> None:
        if session.done.is_set():
            return
        session.ended_reason = reason
        session.done.set()
        if report and (session.started or dropped):
            self._report(session, "DroppedStream" if dropped else "StopStream", reason)
        for scope in session.scopes:
            scope.cancel()
        if session.media is not None:
            self._nursery.start_soon(self._close, session.media)
        self._on_change()

    def _report(self, session: StreamSession, event: str, reason: str | None = None) -> None:
        request, call = session.request, self.call
        if request.status_callback_url is None:
            return
        params = {"Event": event, "CallUUID": call.call_uuid, "StreamID": request.stream_id,
                  "Timestamp": plivo_time(self._clock_ms()), "From": call.from_,
                  "To": call.to, "Direction": call.direction}
        if reason is not None:
            params["StatusReason"] = reason
        self._notify("stream", request.status_callback_url, request.status_callback_method,
                     params)

    # -- plumbing -------------------------------------------------------------------------------

    def _spawn(self, session: StreamSession, action: Callable[..., Awaitable[object]],
               *args: object) -> None:
        scope = trio.CancelScope()
        session.scopes.append(scope)

        async def run() -> None:
            with scope:
                await action(*args)

        self._nursery.start_soon(run)

    @staticmethod
    async def _close(media: PlivoMediaStream) -> None:
        """Close the socket (its owner may close it too; the simulator's exit cancels this)."""
        with suppress(trio_websocket.ConnectionClosed), trio.move_on_after(2):
            await media.close()

    @staticmethod
    async def _send_dtmf(media: PlivoMediaStream, digit: str) -> None:
        with suppress(trio_websocket.ConnectionClosed):
            await media.send_dtmf(digit)


def _first_leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups, or ``exc`` itself."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
