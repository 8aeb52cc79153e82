"""A fake Plivo (Voice API + XML) for tests, benchmarks and the demo: the REST API on a real
loopback HTTP server, and simulated calls that send signed requests to the app, run the Plivo
XML it answers and, when asked, play Plivo's side of its audio streams.

Use :func:`run_plivo_simulator`; point ``plivo.apiBaseUrl`` at ``simulator.base_url`` and
``plivo.authId``/``authToken`` at the ones given. A dial (``POST Call/``) is queued under a
request uuid and runs in its own tasks (see :mod:`.runner`, :mod:`.interpreter`); transfers
and hang-ups act on it by CallUUID, a cancel by request uuid (see :mod:`.api` for the routes
and their answers). Plivo is strict and so is this: a parameter Plivo would refuse is answered
400 with ``{"api_id", "error"}``, XML Plivo would reject is recorded in ``call.xml_errors``
and ends the call (see :mod:`.xml`).

Test hooks: :meth:`PlivoSimulator.place_inbound`, :meth:`~PlivoSimulator.hang_up` (the person
hangs up), :meth:`~PlivoSimulator.end_on_carrier` (the call ends with no request to the app),
:meth:`~PlivoSimulator.press` (DTMF), :meth:`~PlivoSimulator.connect_stream` (play Plivo's side
of a call's stream), :meth:`~PlivoSimulator.end_stream`,
:meth:`~PlivoSimulator.fail_next_request`, ``time_factor`` (scales the times the XML gives),
``retry_delay_s`` (between answer URL attempts) and the ``wait_for*`` methods. Requests go
only to loopback URLs (or through the ``forward`` map).

Resource handling: the context manager owns the listening socket, hypercorn, one httpx client
and a nursery holding every call's tasks, streams and webhook deliveries (through
:func:`~voicecall_cli.simulator.serving.serve_simulator`). Leaving it cancels all of them: calls
stop where they are and no further request is sent.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import trio

from voicecall_cli.simulator.plivo import api
from voicecall_cli.simulator.plivo.api import (
    ApiFailure,
    FakePlivoApi,
    InjectedFailure,
    RecordedRequest,
)
from voicecall_cli.simulator.plivo.call import (
    CALL_STATES,
    LIVE_STATUSES,
    CalleeScript,
    SimCall,
    StreamRequest,
    WebhookDelivery,
)
from voicecall_cli.simulator.plivo.media import PlivoMediaStream
from voicecall_cli.simulator.plivo.recording import Recorder, SimRecording
from voicecall_cli.simulator.plivo.runner import CallRunner
from voicecall_cli.simulator.plivo.webhooks import (
    Outbox,
    WebhookSender,
    WebhookSigner,
    plivo_api_time,
    plivo_number,
    session_time,
)
from voicecall_cli.simulator.serving import serve_simulator

__all__ = ["CalleeScript", "PlivoMediaStream", "PlivoSimulator", "RecordedRequest", "SimCall",
           "StreamRequest", "WebhookDelivery", "run_plivo_simulator"]

logger = logging.getLogger("voicecall.simulator.plivo")

DEFAULT_RING_TIMEOUT_S = 120  # what the official SDK sends when not told otherwise


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


class PlivoSimulator:
    """The fake Plivo's state; create it with :func:`run_plivo_simulator`.

    ``callee`` is the script for new calls (``callees`` overrides it per called number, as
    Plivo writes it: no ``+``); ``requests`` records every REST request; ``calls`` holds every
    call by CallUUID (:meth:`find_call` also takes a request uuid); ``answer_url`` /
    ``hangup_url`` are the Plivo application's URLs, used for inbound calls.
    """

    def __init__(self, *, auth_id: str, auth_token: str, callee: CalleeScript | None,
                 nursery: trio.Nursery, http: httpx.AsyncClient, clock_ms: Callable[[], int],
                 forward: Mapping[str, str] | None = None, time_factor: float = 1.0) -> None:
        self.auth_id = auth_id
        self.auth_token = auth_token
        self.base_url = ""  # set once the server listens
        self.callee = callee or CalleeScript()
        self.callees: dict[str, CalleeScript] = {}
        self.answer_url: str | None = None
        self.hangup_url: str | None = None
        self.requests: list[RecordedRequest] = []
        self.calls: dict[str, SimCall] = {}
        self.time_factor = time_factor
        self.retry_delay_s = 0.25
        self.api = FakePlivoApi(self, auth_id=auth_id, auth_token=auth_token)
        self._runners: dict[str, CallRunner] = {}
        self._by_request: dict[str, str] = {}
        self._nursery = nursery
        self._clock_ms = clock_ms
        self._sender = WebhookSender(http, WebhookSigner(auth_token), forward=forward)
        self._changed = trio.Event()
        self.recorder = Recorder(sender=self._sender, nursery=nursery, clock_ms=clock_ms,
                                 base_url=lambda: self.base_url, wait_ended=self.wait_ended,
                                 on_change=self._notify)

    # -- what tests do --------------------------------------------------------------------------

    async def place_inbound(self, *, from_: str, to: str, answer_url: str | None = None,
                            answer_method: str = "POST", hangup_url: str | None = None,
                            hangup_method: str = "POST", caller_name: str | None = None,
                            callee: CalleeScript | None = None) -> str:
        """Someone calls ``to``: the application's ``answer_url`` (default ``self.answer_url``)
        is fetched (``Direction=inbound``, ``CallStatus=in-progress``, ``Event=StartApp``) and
        its XML runs; the hangup goes to ``hangup_url`` (default ``self.hangup_url``). Returns
        the CallUUID at once; the call goes on in the simulator's nursery."""
        answer_url = answer_url or self.answer_url
        if not answer_url:
            raise ValueError("an inbound call needs the application's answer_url")
        from_, to = plivo_number(from_), plivo_number(to)
        call = self._new_call(direction="inbound", from_=from_, to=to,
                              caller_name=caller_name or from_, answer_url=answer_url,
                              answer_method=answer_method, request_uuid=None)
        call.hangup_url, call.hangup_method = hangup_url or self.hangup_url, hangup_method
        self._runner(call, callee or self.callees.get(to, self.callee)).start_inbound()
        return call.call_uuid

    def hang_up(self, call_uuid: str) -> None:
        """The person on the call hangs up (``HangupSource`` Callee, or Caller inbound)."""
        self._runner_of(call_uuid).person_hangs_up()

    def end_on_carrier(self, call_uuid: str) -> None:
        """The call ends on Plivo's side and no request reaches the app (the detail record
        then shows it ended)."""
        self._runner_of(call_uuid).end_on_carrier()

    def press(self, call_uuid: str, digits: str) -> None:
        """The person presses ``digits``: a listening ``<GetInput>`` with dtmf gets them (cut
        at its ``finishOnKey``), an open stream gets ``dtmf`` frames."""
        self._runner_of(call_uuid).press(digits)

    def end_stream(self, call_uuid: str, reason: str = "Stream ended") -> None:
        """The call's latest open stream is over (a ``keepCallAlive`` document goes on)."""
        self._runner_of(call_uuid).streams.end(reason)

    def connect_stream(self, call_uuid: str, *, echo_marks: bool = True,
                       local_address: str | None = None,
                       ) -> AbstractAsyncContextManager[PlivoMediaStream]:
        """Async context manager: play Plivo's side of the call's latest ``<Stream>`` not yet
        connected (:meth:`wait_for_stream` first), reporting ``StartStream`` /
        ``StopStream`` / ``DroppedStream`` to its status callback and ending a
        ``keepCallAlive`` wait when the socket closes. Raises ``LookupError`` when no stream
        waits. The simulator closes the socket when the call ends."""
        return self._runner_of(call_uuid).streams.connect(echo_marks=echo_marks,
                                                          local_address=local_address)

    def fail_next_request(self, status: int, body: str | dict[str, Any],
                          content_type: str = "application/json") -> None:
        """The next authorised REST request is answered with ``status`` and ``body``."""
        text = body if isinstance(body, str) else json.dumps(body)
        self.api.injected.append(InjectedFailure(status, text, content_type))

    def find_call(self, call_or_request_uuid: str) -> SimCall | None:
        """The call with this CallUUID or request uuid (None when there is none)."""
        call_uuid = self._by_request.get(call_or_request_uuid, call_or_request_uuid)
        return self.calls.get(call_uuid)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; re-checked whenever a call record changes."""
        while not predicate():
            await self._changed.wait()

    async def wait_for_status(self, call_id: str, status: str) -> SimCall:
        """Wait until the call (CallUUID or request uuid) has had CallStatus ``status``."""
        await self.wait_for(lambda: (call := self.find_call(call_id)) is not None
                            and status in call.status_history)
        call = self.find_call(call_id)
        assert call is not None
        return call

    async def wait_ended(self, call_id: str) -> SimCall:
        """Wait until the call ended and its hangup request (if any) was made."""
        def done() -> bool:
            call = self.find_call(call_id)
            return call is not None and call.ended and (
                call.ended_on_carrier or not call.hangup_url or bool(call.deliveries("hangup")))
        await self.wait_for(done)
        call = self.find_call(call_id)
        assert call is not None
        return call

    async def wait_for_stream(self, call_id: str) -> StreamRequest:
        """Wait until the call reached a ``<Stream>``; returns the latest one."""
        await self.wait_for(lambda: (call := self.find_call(call_id)) is not None
                            and call.stream is not None)
        call = self.find_call(call_id)
        assert call is not None and call.stream is not None
        return call.stream

    # -- REST semantics (called by FakePlivoApi; raise ApiFailure for Plivo's errors) ----------

    def create_call(self, body: dict[str, Any]) -> dict[str, Any]:
        from_, to = api.number(body, "from"), api.number(body, "to")
        if from_ == to:
            raise ApiFailure(400, "src and destination cannot overlap")
        answer_url = api.url(body, "answer_url", required=True)
        assert answer_url is not None
        urls = {name: (api.url(body, f"{name}_url"), api.method(body, f"{name}_method"))
                for name in ("ring", "hangup", "fallback")}
        answer_method = api.method(body, "answer_method")
        ring_timeout = api.seconds(body, "ring_timeout", DEFAULT_RING_TIMEOUT_S)
        on_ring = api.seconds(body, "hangup_on_ring", None)
        time_limit = api.seconds(body, "time_limit", None)
        caller_name = api.text(body, "caller_name") or from_
        call = self._new_call(direction="outbound", from_=from_, to=to,
                              caller_name=caller_name, answer_url=answer_url,
                              answer_method=answer_method, request_uuid=str(uuid.uuid4()))
        call.ring_url, call.ring_method = urls["ring"]
        call.hangup_url, call.hangup_method = urls["hangup"]
        call.fallback_url, call.fallback_method = urls["fallback"]
        call.ring_timeout_s = min(t for t in (ring_timeout, on_ring) if t is not None)
        call.time_limit_s = time_limit
        detection = api.text(body, "machine_detection")
        if detection not in (None, "true", "hangup"):
            raise ApiFailure(400, "machine_detection must be true or hangup")
        call.machine_detection = detection
        call.machine_detection_url = api.url(body, "machine_detection_url")
        call.machine_detection_method = api.method(body, "machine_detection_method")
        self._runner(call, self.callees.get(to, self.callee)).start_outbound()
        return {"message": "call fired", "request_uuid": call.request_uuid}

    def get_call(self, call_id: str, status: str | None) -> dict[str, Any]:
        if status == "queued":
            call = self.calls.get(self._by_request.get(call_id, ""))
            if call is None or call.status != "queued":
                raise ApiFailure(404, "not found")
            return {"call_status": "queued", "request_uuid": call.request_uuid,
                    "direction": call.direction, "from": call.from_, "to": call.to,
                    "caller_name": call.caller_name}
        if status not in (None, "live"):
            raise ApiFailure(400, "status must be live or queued")
        call = self.calls.get(call_id)
        if call is None or not call.revealed:
            raise ApiFailure(404, "not found")
        if status == "live":
            if call.status not in LIVE_STATUSES:
                raise ApiFailure(404, "not found")
            return {"call_uuid": call.call_uuid, "call_status": call.status,
                    "direction": call.direction, "from": call.from_, "to": call.to,
                    "caller_name": call.caller_name, "request_uuid": call.request_uuid,
                    "session_start": session_time(call.ringing_ms or call.created_ms)}
        if not call.ended:
            raise ApiFailure(404, "not found")
        return self._detail_record(call)

    def transfer(self, call_uuid: str, body: dict[str, Any]) -> dict[str, Any]:
        call = self._live_call(call_uuid)
        legs = body.get("legs")
        if legs not in ("aleg", "bleg", "both"):
            raise ApiFailure(400, "legs must be aleg, bleg or both")
        if legs == "bleg":
            raise ApiFailure(400, "this call has no bleg to transfer")
        aleg_url = api.url(body, "aleg_url", required=True)
        aleg_method = api.method(body, "aleg_method")
        api.url(body, "bleg_url")
        api.method(body, "bleg_method")
        if not call.answered:
            raise ApiFailure(400, "call is not answered")
        assert aleg_url is not None
        self._runners[call.call_uuid].transfer(aleg_url, aleg_method)
        return {"message": "call transferred"}

    def hangup(self, call_uuid: str) -> None:
        self._runners[self._live_call(call_uuid).call_uuid].hangup_by_api()

    def send_digits(self, call_uuid: str, digits: str) -> None:
        call = self._live_call(call_uuid)
        if not call.answered:
            raise ApiFailure(400, "call is not answered")
        call.dtmf_sent.append(digits)
        self._notify()

    def cancel_request(self, request_uuid: str) -> None:
        call = self.calls.get(self._by_request.get(request_uuid, ""))
        if call is None or call.status not in ("queued", "ringing"):
            raise ApiFailure(404, "not found")
        self._runners[call.call_uuid].cancel_request()

    def start_recording(self, call_uuid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.recorder.start(self._live_call(call_uuid), body)

    @property
    def recordings(self) -> dict[str, list[SimRecording]]:
        """Every recording started (the Record API), by CallUUID."""
        return self.recorder.recordings

    # -- plumbing -------------------------------------------------------------------------------

    def _live_call(self, call_uuid: str) -> SimCall:
        call = self.calls.get(call_uuid)
        if call is None or not call.revealed or call.ended:
            raise ApiFailure(404, "not found")
        return call

    def _detail_record(self, call: SimCall) -> dict[str, Any]:
        cause = call.cause
        return {
            "call_uuid": call.call_uuid, "call_direction": call.direction,
            "from_number": call.from_, "to_number": call.to,
            "call_duration": call.duration_s, "bill_duration": call.bill_duration_s,
            "billed_duration": call.bill_duration_s,
            "initiation_time": plivo_api_time(call.ringing_ms or call.created_ms),
            "answer_time": plivo_api_time(call.answered_ms),
            "end_time": plivo_api_time(call.ended_ms),
            "hangup_cause_name": cause.name if cause else None,
            "hangup_cause_code": cause.code if cause else None,
            "hangup_source": call.hangup_source, "call_state": CALL_STATES[call.status],
            "call_status": call.status, "parent_call_uuid": None, "total_amount": "0.00000",
            "resource_uri": f"/v1/Account/{self.auth_id}/Call/{call.call_uuid}/",
        }

    def _runner_of(self, call_uuid: str) -> CallRunner:
        runner = self._runners.get(self._by_request.get(call_uuid, call_uuid))
        if runner is None:
            raise KeyError(f"no call {call_uuid}")
        return runner

    def _new_call(self, *, direction: str, from_: str, to: str, caller_name: str,
                  answer_url: str, answer_method: str, request_uuid: str | None) -> SimCall:
        call = SimCall(call_uuid=str(uuid.uuid4()), request_uuid=request_uuid,
                       direction="inbound" if direction == "inbound" else "outbound",
                       from_=from_, to=to, caller_name=caller_name, answer_url=answer_url,
                       answer_method=answer_method, created_ms=self._clock_ms())
        self.calls[call.call_uuid] = call
        if request_uuid is not None:
            self._by_request[request_uuid] = call.call_uuid
        self._notify()
        return call

    def _runner(self, call: SimCall, script: CalleeScript) -> CallRunner:
        runner: CallRunner

        def record(delivery: WebhookDelivery) -> None:
            runner.record(delivery)

        outbox = Outbox(self._sender, self._nursery, record)
        runner = CallRunner(call, script=script, sender=self._sender, outbox=outbox,
                            account_id=self.auth_id, nursery=self._nursery,
                            clock_ms=self._clock_ms, time_factor=lambda: self.time_factor,
                            retry_delay_s=lambda: self.retry_delay_s, on_change=self._notify)
        self._runners[call.call_uuid] = runner
        return runner

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


@asynccontextmanager
async def run_plivo_simulator(*, auth_id: str, auth_token: str, host: str = "127.0.0.1",
                              port: int = 0, callee: CalleeScript | None = None,
                              clock_ms: Callable[[], int] = _wall_clock_ms,
                              forward: Mapping[str, str] | None = None,
                              time_factor: float = 1.0) -> AsyncIterator[PlivoSimulator]:
    """Run the fake Plivo on ``host:port`` (port 0: a free one; see ``base_url``).

    ``time_factor`` scales the times the XML gives (0.01: a ``<Wait length="60">`` takes
    0.6 s). ``forward`` maps public webhook origins to loopback origins (a tunnel stand-in).
    A bind failure raises ``OSError`` before anything is yielded. On exit every call task, the
    server and the HTTP client are closed; pending requests are abandoned.
    """
    def build(nursery: trio.Nursery, http: httpx.AsyncClient) -> PlivoSimulator:
        return PlivoSimulator(auth_id=auth_id, auth_token=auth_token, callee=callee,
                              nursery=nursery, http=http, clock_ms=clock_ms, forward=forward,
                              time_factor=time_factor)

    async with serve_simulator(build, host=host, port=port, logger=logger) as simulator:
        yield simulator
