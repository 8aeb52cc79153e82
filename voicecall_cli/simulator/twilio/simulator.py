"""A fake Twilio for tests, benchmarks and the demo: the REST API on a real loopback HTTP server,
and simulated calls that post signed webhooks and run the TwiML they get back.

Use :func:`run_twilio_simulator`; point ``twilio.apiBaseUrl`` at ``simulator.base_url`` and the
account SID/auth token at the ones given. An outbound call (``POST Calls.json``) gets a CallSid,
then, in its own task: status callbacks ``initiated`` and ``ringing``, the callee's answer (or
busy / no-answer / failed) per the :class:`CalleeScript`, the ``answered`` callback
(``CallStatus=in-progress``), then a POST to the call's ``Url`` whose TwiML it runs (see
:mod:`.runner`); with ``MachineDetection`` and ``AsyncAmd=true`` the ``AnsweredBy`` result is
POSTed to ``AsyncAmdStatusCallback`` meanwhile. REST updates (``Twiml``, ``Url``,
``Status=completed``) interrupt the running TwiML or end the call; the end posts the
``completed`` status callback. Webhooks go only to loopback URLs (or through the ``forward``
map; see :mod:`.webhooks`).

Resource handling: the context manager owns the listening socket, hypercorn, one httpx client
and a nursery holding every call's tasks (through
:func:`~voicecall_cli.simulator.serving.serve_simulator`). Leaving it cancels all of them: calls
stop where they are and no further webhook is sent.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio

from voicecall_cli.simulator.serving import serve_simulator
from voicecall_cli.simulator.twilio.api import (
    ApiFailure,
    FakeTwilioApi,
    InjectedFailure,
    RecordedRequest,
)
from voicecall_cli.simulator.twilio.call import (
    TERMINAL_STATUSES,
    CalleeScript,
    SimCall,
    StreamRequest,
    WebhookDelivery,
)
from voicecall_cli.simulator.twilio.recording import Recorder, SimRecording
from voicecall_cli.simulator.twilio.runner import CallRunner
from voicecall_cli.simulator.twilio.webhooks import API_VERSION, WebhookSender, rfc2822

__all__ = ["CalleeScript", "RecordedRequest", "SimCall", "StreamRequest", "TwilioSimulator",
           "WebhookDelivery", "run_twilio_simulator"]

logger = logging.getLogger("voicecall.simulator.twilio")

STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


def _rfc2822(ms: int | None) -> str | None:
    return None if ms is None else rfc2822(ms)


class TwilioSimulator:
    """The fake Twilio's state; create it with :func:`run_twilio_simulator`.

    ``callee`` is the script for new calls (``callees`` overrides it per called number);
    ``requests`` records every REST request; ``calls`` holds every call by CallSid.
    """

    def __init__(self, *, account_sid: str, auth_token: str, callee: CalleeScript | None,
                 nursery: trio.Nursery, http: httpx.AsyncClient, clock_ms: Callable[[], int],
                 forward: Mapping[str, str] | None = None) -> None:
        self.account_sid = account_sid
        self.base_url = ""  # set once the server listens
        self.callee = callee or CalleeScript()
        self.callees: dict[str, CalleeScript] = {}
        self.requests: list[RecordedRequest] = []
        self.calls: dict[str, SimCall] = {}
        self._runners: dict[str, CallRunner] = {}
        self._nursery = nursery
        self._clock_ms = clock_ms
        self._sender = WebhookSender(http, auth_token, forward=forward)
        self.api = FakeTwilioApi(self, account_sid=account_sid, auth_token=auth_token)
        self._changed = trio.Event()
        self.recorder = Recorder(account_sid=account_sid, sender=self._sender,
                                 nursery=nursery, clock_ms=clock_ms,
                                 base_url=lambda: self.base_url, wait_ended=self.wait_ended,
                                 on_change=self._notify)

    # -- what tests do --------------------------------------------------------------------------

    async def place_inbound(self, *, from_: str, to: str, webhook_url: str,
                            status_callback_url: str | None = None,
                            status_callback_events: tuple[str, ...] = ("completed",),
                            callee: CalleeScript | None = None) -> str:
        """Someone calls ``to``: POST ``Direction=inbound CallStatus=ringing`` to ``webhook_url``
        and run the TwiML it returns (the first verb other than ``Reject`` answers). Returns the
        CallSid at once; the call goes on in the simulator's nursery. Status callbacks go to
        ``status_callback_url`` (a phone number's status callback setting) when given.
        """
        call = self._new_call(direction="inbound", from_=from_, to=to, url=webhook_url,
                              status_callback=status_callback_url,
                              events=status_callback_events, timeout_s=60)
        self._runner(call, callee or self.callee).start_inbound()
        return call.sid

    def set_status(self, call_sid: str, status: str) -> None:
        """Make ``GET Calls/<sid>.json`` report ``status``. An unknown sid becomes a bare call
        record; a terminal status on a running call ends it (its status callback is sent)."""
        runner = self._runners.get(call_sid)
        if runner is None:
            call = self.calls.get(call_sid) or self._new_call(
                sid=call_sid, direction="outbound-api", from_="", to="", url=None,
                status_callback=None, events=(), timeout_s=60)
            call.status = status
            call.status_history.append(status)
            self._notify()
        elif status in TERMINAL_STATUSES:
            runner.end(status)
        else:
            runner.call.status = status
            runner.call.status_history.append(status)
            self._notify()

    def hang_up(self, call_sid: str) -> None:
        """The person on the call hangs up (status ``completed``)."""
        self._runners[call_sid].end("completed")

    def press(self, call_sid: str, digits: str) -> None:
        """The person presses ``digits``: a ``<Gather>`` listening for dtmf gets them (cut at
        its ``finishOnKey``), the media stream the callee talks on gets ``dtmf`` frames;
        otherwise nobody hears them."""
        self._runners[call_sid].press(digits)

    def end_stream(self, call_sid: str) -> None:
        """The call's media stream closed: a held ``<Connect><Stream>`` goes on to its next verb."""
        self._runners[call_sid].end_stream()

    def fail_next_request(self, status: int, body: str,
                          content_type: str = "text/plain; charset=utf-8") -> None:
        """The next authorised REST request is answered with ``status`` and ``body``."""
        self.api.injected.append(InjectedFailure(status, body, content_type))

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; it is re-checked whenever a call record changes."""
        while not predicate():
            await self._changed.wait()

    async def wait_for_status(self, call_sid: str, status: str) -> SimCall:
        """Wait until the call has had ``status`` (at any point of its history)."""
        await self.wait_for(lambda: call_sid in self.calls
                            and status in self.calls[call_sid].status_history)
        return self.calls[call_sid]

    async def wait_ended(self, call_sid: str) -> SimCall:
        """Wait until the call ended and its final status callback (if any) was sent."""
        def done() -> bool:
            call = self.calls.get(call_sid)
            if call is None or not call.ended:
                return False
            wants_callback = call.status_callback and "completed" in call.status_callback_events
            return not wants_callback or any(
                d.params.get("CallStatus") in TERMINAL_STATUSES for d in call.callbacks)
        await self.wait_for(done)
        return self.calls[call_sid]

    async def wait_for_stream(self, call_sid: str) -> StreamRequest:
        """Wait until the call reached ``<Connect><Stream>``; returns its URL and parameters."""
        await self.wait_for(lambda: call_sid in self.calls
                            and self.calls[call_sid].stream is not None)
        stream = self.calls[call_sid].stream
        assert stream is not None
        return stream

    # -- REST semantics (called by FakeTwilioApi; raise ApiFailure for Twilio errors) ----------

    def create_call(self, form: Mapping[str, list[str]]) -> dict[str, Any]:
        to, from_ = _first(form, "To"), _first(form, "From")
        url, twiml = _first(form, "Url"), _first(form, "Twiml")
        if not to:
            raise ApiFailure(400, 21201, "No 'To' number is specified")
        if not from_:
            raise ApiFailure(400, 21213, "No 'From' number is specified")
        if not url and not twiml:
            raise ApiFailure(400, 21205, "Url parameter is required.")
        events = tuple(word for value in form.get("StatusCallbackEvent", [])
                       for word in value.split() if word in STATUS_CALLBACK_EVENTS)
        try:
            timeout_s = min(600, max(1, int(_first(form, "Timeout") or 60)))
        except ValueError:
            raise ApiFailure(400, 21201, "Timeout must be an integer") from None
        call = self._new_call(direction="outbound-api", from_=from_, to=to, url=url,
                              status_callback=_first(form, "StatusCallback"),
                              events=events or ("completed",), timeout_s=timeout_s)
        call.machine_detection = _first(form, "MachineDetection")
        if _first(form, "AsyncAmd") == "true":
            call.amd_callback = _first(form, "AsyncAmdStatusCallback")
        runner = self._runner(call, self.callees.get(to, self.callee))
        runner.start_outbound(twiml)
        return self.call_resource(call.sid)

    def call_resource(self, call_sid: str) -> dict[str, Any]:
        call = self._call(call_sid)
        return {
            "sid": call.sid, "account_sid": self.account_sid, "to": call.to, "from": call.from_,
            "status": call.status, "direction": call.direction, "api_version": API_VERSION,
            "date_created": _rfc2822(call.created_ms),
            "date_updated": _rfc2822(call.ended_ms or call.answered_ms or call.created_ms),
            "start_time": _rfc2822(call.answered_ms), "end_time": _rfc2822(call.ended_ms),
            "duration": str(call.duration_s) if call.ended else None,
            "answered_by": call.answered_by, "caller_name": None, "forwarded_from": None,
            "parent_call_sid": None, "phone_number_sid": None, "price": None,
            "price_unit": "USD", "queue_time": "0",
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{call.sid}.json",
        }

    def update_call(self, call_sid: str, form: Mapping[str, list[str]]) -> dict[str, Any]:
        call = self._call(call_sid)
        runner = self._runners.get(call_sid)
        status, twiml, url = _first(form, "Status"), _first(form, "Twiml"), _first(form, "Url")
        if status == "completed":
            call.hangups += 1
            self._notify()
            if runner is not None:
                runner.end("completed" if call.answered else "canceled")
            elif not call.ended:
                self.set_status(call_sid, "completed")
        elif status == "canceled":
            if runner is not None and call.status in ("queued", "ringing"):
                runner.end("canceled")
        elif twiml or url:
            if runner is None or call.status != "in-progress":
                raise ApiFailure(400, 21220, "Call is not in-progress. Cannot redirect.")
            if twiml:
                runner.run_twiml(twiml)
            else:
                runner.run_url(url or "")
        elif status:
            raise ApiFailure(400, 20001, f"Invalid Status: {status}")
        return self.call_resource(call_sid)

    def start_recording(self, call_sid: str, form: Mapping[str, list[str]]) -> dict[str, Any]:
        return self.recorder.start(self._call(call_sid), form)

    @property
    def recordings(self) -> dict[str, list[SimRecording]]:
        """Every recording started, by CallSid (see :mod:`.recording`)."""
        return self.recorder.recordings

    # -- plumbing -------------------------------------------------------------------------------

    def _call(self, call_sid: str) -> SimCall:
        call = self.calls.get(call_sid)
        if call is None:
            raise ApiFailure(404, 20404, f"The requested resource /{API_VERSION}/Accounts/"
                                         f"{self.account_sid}/Calls/{call_sid}.json was not found")
        return call

    def _new_call(self, *, direction: str, from_: str, to: str, url: str | None,
                  status_callback: str | None, events: tuple[str, ...], timeout_s: int,
                  sid: str | None = None) -> SimCall:
        call = SimCall(sid=sid or "CA" + uuid.uuid4().hex, direction=direction, from_=from_,
                       to=to, url=url, status_callback=status_callback,
                       status_callback_events=events, timeout_s=timeout_s,
                       created_ms=self._clock_ms())
        if direction == "outbound-api" and sid is None:
            call.status_history.append(call.status)
        self.calls[call.sid] = call
        self._notify()
        return call

    def _runner(self, call: SimCall, script: CalleeScript) -> CallRunner:
        runner = CallRunner(call, script=script, sender=self._sender,
                            account_sid=self.account_sid, nursery=self._nursery,
                            clock_ms=self._clock_ms, on_change=self._notify)
        self._runners[call.sid] = runner
        return runner

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


def _first(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


@asynccontextmanager
async def run_twilio_simulator(*, account_sid: str, auth_token: str, host: str = "127.0.0.1",
                               port: int = 0, callee: CalleeScript | None = None,
                               clock_ms: Callable[[], int] = _wall_clock_ms,
                               forward: Mapping[str, str] | None = None,
                               ) -> AsyncIterator[TwilioSimulator]:
    """Run the fake Twilio on ``host:port`` (port 0: a free one; see ``base_url``).

    ``forward`` maps public webhook origins to loopback origins (a tunnel stand-in). A bind
    failure raises ``OSError`` before anything is yielded. On exit every call task, the server
    and the HTTP client are closed; pending webhooks are abandoned.
    """
    def build(nursery: trio.Nursery, http: httpx.AsyncClient) -> TwilioSimulator:
        return TwilioSimulator(account_sid=account_sid, auth_token=auth_token, callee=callee,
                               nursery=nursery, http=http, clock_ms=clock_ms, forward=forward)

    async with serve_simulator(build, host=host, port=port, logger=logger) as simulator:
        yield simulator
