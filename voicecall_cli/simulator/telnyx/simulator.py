"""A fake Telnyx (Call Control v2) for tests, benchmarks and the demo: the REST API on a real
loopback HTTP server, and simulated calls that post Ed25519-signed webhooks and, when asked,
open media streams.

Use :func:`run_telnyx_simulator`; point ``telnyx.apiBaseUrl`` at ``simulator.base_url``,
``telnyx.apiKey``/``connectionId`` at the ones given and ``telnyx.publicKey`` at
``simulator.public_key``. A dial (``POST /v2/calls``) gets a ``call_control_id`` and runs in
its own tasks (see :mod:`.runner`); commands (``POST /v2/calls/<id>/actions/<action>``)
act on it:

* a ``command_id`` already executed on the same call is answered 200 and not run again
  (recorded in ``duplicate_commands``);
* a ``client_state`` replaces the call's; every later webhook (and a stream's ``start``)
  carries it;
* an ended call answers 422 (code 90018), an unknown one 404 (10005); on an incoming call
  every command but ``answer`` and ``hangup`` is refused (422) until it is answered.

Test hooks: :meth:`TelnyxSimulator.place_inbound`, :meth:`~TelnyxSimulator.hang_up` (the
person hangs up), :meth:`~TelnyxSimulator.end_on_carrier` (the call ends with no webhook),
:meth:`~TelnyxSimulator.press` (DTMF), :meth:`~TelnyxSimulator.fail_next_request`,
``recordings`` (``record_start``; see :mod:`.recording`),
``duplicate_events`` / ``retry_delay_s`` (webhook delivery, see :mod:`.webhooks`) and the
``wait_for*`` methods. Webhooks go only to loopback URLs (or through the ``forward`` map).

Resource handling: the context manager owns the listening socket, hypercorn, one httpx client
and a nursery holding every call's tasks and webhook deliveries (through
:func:`~voicecall_cli.simulator.serving.serve_simulator`). Leaving it cancels all of them: calls
stop where they are and no further webhook is sent.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voicecall_cli.simulator.serving import serve_simulator
from voicecall_cli.simulator.telnyx import api
from voicecall_cli.simulator.telnyx.api import (
    STREAM_KEYS,
    ApiFailure,
    FakeTelnyxApi,
    InjectedFailure,
    RecordedRequest,
)
from voicecall_cli.simulator.telnyx.call import (
    CalleeScript,
    Command,
    SimCall,
    StreamRequest,
    WebhookDelivery,
)
from voicecall_cli.simulator.telnyx.recording import Recorder, SimRecording
from voicecall_cli.simulator.telnyx.runner import CallRunner
from voicecall_cli.simulator.telnyx.webhooks import (
    DeliveryPolicy,
    EventOutbox,
    WebhookSender,
    WebhookSigner,
    iso8601,
)

__all__ = ["CalleeScript", "Command", "RecordedRequest", "SimCall", "StreamRequest",
           "TelnyxSimulator", "WebhookDelivery", "run_telnyx_simulator"]

logger = logging.getLogger("voicecall.simulator.telnyx")

ACTIONS = frozenset({"answer", "hangup", "speak", "transcription_start", "transcription_stop",
                     "streaming_start", "streaming_stop", "send_dtmf", "record_start"})
DIAL_KEYS = frozenset({"connection_id", "to", "from", "webhook_url", "webhook_url_method",
                       "client_state", "command_id", "timeout_secs"}) | STREAM_KEYS
INBOUND_RING_TIMEOUT_S = 30.0


# The answering_machine_detection values simulated (others are recorded as ignored).
AMD_MODES = ("detect", "detect_beep")


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


class TelnyxSimulator:
    """The fake Telnyx's state; create it with :func:`run_telnyx_simulator`.

    ``callee`` is the script for new calls (``callees`` overrides it per called number);
    ``requests`` records every REST request; ``calls`` holds every call by call_control_id;
    ``connection_webhook_url`` is the connection's webhook URL, used when a dial gives none.
    """

    def __init__(self, *, api_key: str, connection_id: str, signer: WebhookSigner,
                 callee: CalleeScript | None, nursery: trio.Nursery, http: httpx.AsyncClient,
                 clock_ms: Callable[[], int], forward: Mapping[str, str] | None = None) -> None:
        self.connection_id = connection_id
        self.public_key = signer.public_key
        self.base_url = ""  # set once the server listens
        self.callee = callee or CalleeScript()
        self.callees: dict[str, CalleeScript] = {}
        self.connection_webhook_url: str | None = None
        self.requests: list[RecordedRequest] = []
        self.calls: dict[str, SimCall] = {}
        self.policy = DeliveryPolicy()
        self.api = FakeTelnyxApi(self, api_key=api_key)
        self._runners: dict[str, CallRunner] = {}
        self._nursery = nursery
        self._clock_ms = clock_ms
        self._sender = WebhookSender(http, signer, clock_ms=clock_ms, forward=forward)
        self._changed = trio.Event()
        self.recorder = Recorder(sender=self._sender, nursery=nursery, clock_ms=clock_ms,
                                 base_url=lambda: self.base_url, wait_ended=self.wait_ended,
                                 on_change=self._notify)

    @property
    def duplicate_events(self) -> set[str]:
        """Event types delivered twice (same ``data.id``, new timestamp and signature)."""
        return self.policy.duplicate_events

    @duplicate_events.setter
    def duplicate_events(self, event_types: set[str]) -> None:
        self.policy.duplicate_events = set(event_types)

    @property
    def retry_delay_s(self) -> float:
        return self.policy.retry_delay_s

    @retry_delay_s.setter
    def retry_delay_s(self, seconds: float) -> None:
        self.policy.retry_delay_s = seconds

    # -- what tests do --------------------------------------------------------------------------

    async def place_inbound(self, *, from_: str, to: str, webhook_url: str | None = None,
                            callee: CalleeScript | None = None,
                            ring_timeout_s: float = INBOUND_RING_TIMEOUT_S) -> str:
        """Someone calls ``to``: ``call.initiated`` (direction ``incoming``, state ``parked``)
        goes to ``webhook_url`` (the connection's webhook setting; default
        ``connection_webhook_url``), then nothing until the app answers; after
        ``ring_timeout_s`` unanswered the caller gives up. Returns the call_control_id at once.
        """
        call = self._new_call(direction="incoming", from_=from_, to=to,
                              webhook_url=webhook_url or self.connection_webhook_url,
                              timeout_s=round(ring_timeout_s), client_state=None)
        self._runner(call, callee or self.callee).start_inbound(ring_timeout_s)
        return call.call_control_id

    def hang_up(self, call_control_id: str) -> None:
        """The person on the call hangs up (``call.hangup``, ``normal_clearing`` once
        answered)."""
        self._runner_of(call_control_id).person_hangs_up()

    def end_on_carrier(self, call_control_id: str) -> None:
        """The call ends on Telnyx without any webhook reaching the app (GET then says
        ``is_alive: false``)."""
        self._runner_of(call_control_id).end_on_carrier()

    def press(self, call_control_id: str, digits: str) -> None:
        """The person presses ``digits``: one ``call.dtmf.received`` each."""
        self._runner_of(call_control_id).press(digits)

    def fail_next_request(self, status: int, body: str | dict[str, Any],
                          content_type: str = "application/json") -> None:
        """The next authorised REST request is answered with ``status`` and ``body``."""
        text = body if isinstance(body, str) else json.dumps(body)
        self.api.injected.append(InjectedFailure(status, text, content_type))

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; re-checked whenever a call record changes."""
        while not predicate():
            await self._changed.wait()

    async def wait_for_status(self, call_control_id: str, status: str) -> SimCall:
        """Wait until the call has been in state ``status`` (``bridging``, ``parked``,
        ``answered``, ``hangup``) at any point."""
        await self.wait_for(lambda: call_control_id in self.calls
                            and status in self.calls[call_control_id].status_history)
        return self.calls[call_control_id]

    async def wait_ended(self, call_control_id: str) -> SimCall:
        """Wait until the call ended and its ``call.hangup`` was delivered (first attempt)."""
        def done() -> bool:
            call = self.calls.get(call_control_id)
            return call is not None and call.ended and (
                call.ended_on_carrier or "call.hangup" in call.event_types)
        await self.wait_for(done)
        return self.calls[call_control_id]

    async def wait_for_stream(self, call_control_id: str) -> StreamRequest:
        """Wait until Telnyx would open the call's media stream (answered, with a
        ``stream_url``); returns how."""
        await self.wait_for(lambda: call_control_id in self.calls
                            and self.calls[call_control_id].stream is not None)
        stream = self.calls[call_control_id].stream
        assert stream is not None
        return stream

    # -- REST semantics (called by FakeTelnyxApi; raise ApiFailure for Telnyx errors) ----------

    def dial(self, body: dict[str, Any]) -> dict[str, Any]:
        connection_id = body.get("connection_id")
        if not connection_id:
            raise api.invalid("The 'connection_id' parameter is required.", "/connection_id",
                              "10004", "Missing required parameter")
        if connection_id != self.connection_id:
            raise api.invalid(f"No Call Control App with connection_id {connection_id!r}.",
                              "/connection_id")
        to, from_ = api.e164(body, "to"), api.e164(body, "from")
        state = api.client_state(body)
        timeout_s = api.timeout_secs(body)
        stream = api.stream_request(body)
        call = self._new_call(direction="outgoing", from_=from_, to=to,
                              webhook_url=body.get("webhook_url") or self.connection_webhook_url,
                              timeout_s=timeout_s, client_state=state)
        amd = body.get("answering_machine_detection")
        call.answering_machine_detection = amd if amd in AMD_MODES else None
        call.ignored_params = {k: v for k, v in body.items() if k not in DIAL_KEYS
                               and not (k == "answering_machine_detection" and amd in AMD_MODES)}
        call.commands.append(Command("dial", dict(body)))
        self._runner(call, self.callees.get(to, self.callee)).start_outbound(stream)
        return {"call_control_id": call.call_control_id, "call_leg_id": call.call_leg_id,
                "call_session_id": call.call_session_id, "is_alive": False,
                "record_type": "call", "client_state": call.client_state}

    def call_resource(self, call_control_id: str) -> dict[str, Any]:
        call = self._call(call_control_id)
        return {"call_control_id": call.call_control_id, "call_leg_id": call.call_leg_id,
                "call_session_id": call.call_session_id, "is_alive": not call.ended,
                "record_type": "call", "call_duration": call.duration_s(self._clock_ms()),
                "start_time": iso8601(call.created_ms),
                "end_time": iso8601(call.ended_ms) if call.ended_ms is not None else None,
                "client_state": call.client_state}

    def command(self, call_control_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        call = self._call(call_control_id)
        if action not in ACTIONS:
            raise api.not_found(f"Unknown call command {action!r}.")
        command_id = body.get("command_id")
        if isinstance(command_id, str) and command_id in call.command_ids:
            command = Command(action, dict(body), duplicate=True)
            call.commands.append(command)
            call.duplicate_commands.append(command)
            self._notify()
            return {"result": "ok"}
        try:
            run = self._check(call, action, body)
        except ApiFailure as failure:
            call.commands.append(Command(action, dict(body), error=failure.code))
            self._notify()
            raise
        call.commands.append(Command(action, dict(body)))
        if isinstance(command_id, str):
            call.command_ids.add(command_id)
        if "client_state" in body:
            call.client_state = body["client_state"]
        run()
        self._notify()
        return {"result": "ok"}

    def _check(self, call: SimCall, action: str, body: dict[str, Any]) -> Callable[[], None]:
        """Validate ``action`` on ``call`` (raise ApiFailure); return what executes it."""
        runner = self._runners[call.call_control_id]
        if call.ended:
            raise ApiFailure(422, "90018", "Call has already ended",
                             "This call is no longer active and can't receive commands.")
        api.client_state(body)
        incoming_unanswered = call.direction == "incoming" and not call.answered
        if action == "answer":
            if not incoming_unanswered:
                raise api.invalid("Only an incoming call that is not answered yet can be "
                                  "answered.")
            stream = api.stream_request(body)
            if isinstance(body.get("webhook_url"), str):
                call.webhook_url = body["webhook_url"]
            return partial(runner.answer, stream)
        if action == "hangup":
            return runner.hangup
        if incoming_unanswered:
            raise api.invalid("Answer the incoming call before sending it other commands.")
        if action == "speak":
            text = body.get("payload")
            if not isinstance(text, str) or not text:
                raise api.invalid("The 'payload' parameter is required.", "/payload", "10004",
                                  "Missing required parameter")
            return partial(runner.speak, text)
        if action == "streaming_start":
            stream = api.stream_request(body, required=True)
            assert stream is not None
            return partial(runner.streaming_start, stream)
        if action == "record_start":
            return self.recorder.check(call, body)
        if action == "send_dtmf":
            digits = body.get("digits")
            if not isinstance(digits, str) or not digits:
                raise api.invalid("The 'digits' parameter is required.", "/digits", "10004",
                                  "Missing required parameter")
            return partial(call.dtmf_sent.append, digits)
        return {"transcription_start": runner.transcription_start,
                "transcription_stop": runner.transcription_stop,
                "streaming_stop": runner.streaming_stop}[action]

    @property
    def recordings(self) -> dict[str, list[SimRecording]]:
        """Every recording started (``record_start``), by call_control_id."""
        return self.recorder.recordings

    # -- plumbing -------------------------------------------------------------------------------

    def _call(self, call_control_id: str) -> SimCall:
        call = self.calls.get(call_control_id)
        if call is None:
            raise api.not_found(f"Call {call_control_id} was not found.")
        return call

    def _runner_of(self, call_control_id: str) -> CallRunner:
        runner = self._runners.get(call_control_id)
        if runner is None:
            raise KeyError(f"no call {call_control_id}")
        return runner

    def _new_call(self, *, direction: str, from_: str, to: str, webhook_url: str | None,
                  timeout_s: int, client_state: str | None) -> SimCall:
        call = SimCall(call_control_id="v3:" + secrets.token_urlsafe(40),
                       call_leg_id=str(uuid.uuid4()), call_session_id=str(uuid.uuid4()),
                       direction="incoming" if direction == "incoming" else "outgoing",
                       from_=from_, to=to, connection_id=self.connection_id,
                       webhook_url=webhook_url, timeout_s=timeout_s, client_state=client_state,
                       state="parked" if direction == "incoming" else "bridging",
                       created_ms=self._clock_ms())
        self.calls[call.call_control_id] = call
        self._notify()
        return call

    def _runner(self, call: SimCall, script: CalleeScript) -> CallRunner:
        def record(delivery: WebhookDelivery) -> None:
            call.webhooks.append(delivery)
            self._notify()

        outbox = EventOutbox(self._sender, self.policy, self._nursery, record)
        runner = CallRunner(call, script=script, outbox=outbox, nursery=self._nursery,
                            clock_ms=self._clock_ms, on_change=self._notify)
        self._runners[call.call_control_id] = runner
        return runner

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


@asynccontextmanager
async def run_telnyx_simulator(*, api_key: str, connection_id: str,
                               signing_key: Ed25519PrivateKey | None = None,
                               host: str = "127.0.0.1", port: int = 0,
                               callee: CalleeScript | None = None,
                               clock_ms: Callable[[], int] = _wall_clock_ms,
                               forward: Mapping[str, str] | None = None,
                               ) -> AsyncIterator[TelnyxSimulator]:
    """Run the fake Telnyx on ``host:port`` (port 0: a free one; see ``base_url``).

    ``signing_key`` signs the webhooks (default: a fresh Ed25519 key; its public half is
    ``public_key``). ``forward`` maps public webhook origins to loopback origins (a tunnel
    stand-in). A bind failure raises ``OSError`` before anything is yielded. On exit every
    call task, the server and the HTTP client are closed; pending webhooks are abandoned.
    """
    def build(nursery: trio.Nursery, http: httpx.AsyncClient) -> TelnyxSimulator:
        return TelnyxSimulator(api_key=api_key, connection_id=connection_id,
                               signer=WebhookSigner(signing_key), callee=callee,
                               nursery=nursery, http=http, clock_ms=clock_ms, forward=forward)

    async with serve_simulator(build, host=host, port=port, logger=logger) as simulator:
        yield simulator
