"""Typed call operations over the control client: requests in, protocol views out.

:class:`CallsApi` is what the MCP server (and any Python caller) uses instead of raw JSON: each
method sends one request through a :class:`~voicecall_cli.client.control.ControlClient` and
reads the answer into its view from :mod:`voicecall_cli.protocol.views`. Failures are
:class:`~voicecall_cli.protocol.ApiError` with the protocol's codes; an answer that does not
fit its view is ``protocol_mismatch``. Every method blocks its thread (stdlib sockets, as the
CLI): an async caller runs it in a worker thread.
"""

from __future__ import annotations

import time
from contextlib import closing
from typing import Any, TypeVar

from voicecall_cli.client.control import (
    BEFORE_LISTENING_S,
    EVENT_STREAM_TIMEOUT_S,
    SPEAK_WAIT_S,
    UNBOUNDED_WAIT_S,
    ControlClient,
)
from voicecall_cli.protocol import (
    ApiError,
    CallsRequest,
    ContinueRequest,
    DtmfRequest,
    EndRequest,
    ErrorCode,
    InitiateRequest,
    Request,
    SpeakRequest,
    StatusRequest,
)
from voicecall_cli.protocol.events import CALL_ENDED, SINCE_ALL
from voicecall_cli.protocol.views import (
    CallsResult,
    CallView,
    ContinueResult,
    HealthView,
    InitiateResult,
    StatusResult,
    SuccessResult,
    View,
)

V = TypeVar("V", bound=View)


class CallsApi:
    """The daemon's call operations, typed. Holds only the socket path and timeouts; each
    method opens and closes its own connection."""

    def __init__(self, client: ControlClient) -> None:
        self.client = client

    def health(self) -> HealthView:
        return _read(HealthView, self.client.health())

    def initiate(self, request: InitiateRequest) -> InitiateResult:
        return self._rpc(request, InitiateResult)

    def continue_call(self, request: ContinueRequest) -> ContinueResult:
        """Speak, then wait for the caller's reply: up to ``timeoutMs``, else the daemon's
        ``transcriptTimeoutMs`` (the socket waits longer than either)."""
        timeout = (request.timeoutMs / 1000 + BEFORE_LISTENING_S if request.timeoutMs
                   else UNBOUNDED_WAIT_S)
        return self._rpc(request, ContinueResult, timeout=timeout)

    def speak(self, request: SpeakRequest) -> SuccessResult:
        return self._rpc(request, SuccessResult, timeout=SPEAK_WAIT_S)

    def dtmf(self, request: DtmfRequest) -> SuccessResult:
        """Send touch tones; returns once the carrier accepted them (a ringing call is
        waited for, as for ``speak``)."""
        return self._rpc(request, SuccessResult, timeout=SPEAK_WAIT_S)

    def end(self, request: EndRequest) -> SuccessResult:
        return self._rpc(request, SuccessResult)

    def status(self, call_id: str) -> CallView | None:
        """The call (active or ended) with this id or unique id prefix; None when none has."""
        result = self._rpc(StatusRequest(callId=call_id), StatusResult)
        return result.call if result.found else None

    def active_calls(self) -> tuple[CallView, ...]:
        return self._rpc(StatusRequest(), StatusResult).calls or ()

    def calls(self, request: CallsRequest) -> tuple[CallView, ...]:
        return self._rpc(request, CallsResult).calls

    def wait_until_ended(self, call_id: str, timeout_s: float) -> CallView:
        """Follow the call's events (from its first, so an end before the stream opened is
        seen) until it has ended; the ended call, transcript and end reason included.

        Raises ``call_not_found`` for an unknown call, ``timeout`` when it has not ended within
        ``timeout_s``, ``daemon_not_running`` when the daemon stops or dies first."""
        call = self.status(call_id)
        if call is None:
            raise ApiError(ErrorCode.CALL_NOT_FOUND, f"Call not found: {call_id}")
        if call.ended:
            return call
        deadline = time.monotonic() + timeout_s
        stream = ControlClient(self.client.socket_path, EVENT_STREAM_TIMEOUT_S,
                               on_warning=self.client.on_warning
                               ).event_lines(SINCE_ALL, call.callId, deadline=deadline)
        try:
            with closing(stream):
                for _raw, event in stream:
                    if event.get("type") == CALL_ENDED:
                        break
                else:
                    raise ApiError(ErrorCode.DAEMON_NOT_RUNNING,
                                   f"the daemon closed the event stream before call "
                                   f"{call.callId} ended")
        except ApiError as err:
            if err.code is ErrorCode.TIMEOUT and time.monotonic() >= deadline - 0.05:
                raise ApiError(ErrorCode.TIMEOUT,
                               f"call {call.callId} has not ended within {timeout_s:g} s "
                               f"(it is {self._state(call.callId)})") from None
            if err.code is ErrorCode.OPERATION_FAILED:  # the stream broke off: a crash
                raise ApiError(ErrorCode.DAEMON_NOT_RUNNING,
                               f"the daemon went away before call {call.callId} ended "
                               f"({err.message})") from None
            raise
        ended = self.status(call.callId)
        if ended is None:
            raise ApiError(ErrorCode.CALL_NOT_FOUND, f"Call not found: {call.callId}")
        return ended

    def _state(self, call_id: str) -> str:
        try:
            call = self.status(call_id)
        except ApiError:
            return "still going"
        return call.state if call is not None else "gone"

    def _rpc(self, request: Request, view: type[V], *, timeout: float | None = None) -> V:
        client = self.client
        if timeout is not None and timeout > client.timeout:
            client = ControlClient(client.socket_path, timeout, on_warning=client.on_warning)
        return _read(view, client.call(request.METHOD, request.to_body()))


def _read(view: type[V], answer: dict[str, Any]) -> V:
    try:
        return view.from_json(answer)
    except ValueError as exc:
        raise ApiError(ErrorCode.PROTOCOL_MISMATCH,
                       f"the daemon's answer does not fit {view.__name__}: {exc}") from None
