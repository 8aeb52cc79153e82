"""The mock carrier: a simulated callee that talks to the daemon through its own webhook path.

No outside network: every event the callee produces is a mock webhook POSTed (with httpx) to the
daemon's webhook URL (read from its endpoints at each POST), so the daemon's real webhook pipeline
(replay cache, parsing, event processing) runs for mock calls too. What the callee does next is
decided by the pure script in :mod:`.callee`; this module only sleeps and POSTs.

Resource handling: :func:`open_mock_client` owns one httpx client and one trio nursery for all
callee tasks; leaving the context cancels every pending callee action (nothing more is POSTed)
and closes the client. Callee state is per provider call id and created lazily by any method,
so a restarted daemon keeps driving calls it restored (see :meth:`MockClient.resume`).

Error handling: a failed POST is retried a few times with a short backoff, then logged; it never
raises into the daemon. Methods that must POST raise :class:`ProviderError` only when no webhook
URL is known for the call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.providers.base import (
    Endpoints,
    PlaceCallRequest,
    PlacedCall,
    ProviderCallStatus,
    ProviderClient,
    ProviderConfig,
    ProviderError,
)
from voicecall_cli.providers.http import is_loopback_url
from voicecall_cli.providers.mock.callee import (
    CalleeState,
    MockSettings,
    PlannedReply,
    call_id_from_provider_id,
    detection_script,
    keypress,
    placement_script,
)
from voicecall_cli.providers.mock.webhooks import encode_mock_event

logger = logging.getLogger("voicecall.providers.mock")

POST_ATTEMPTS = 3
POST_BACKOFF_S = 0.05  # doubled after each failed attempt
POST_TIMEOUT_S = 5.0
_RETRY_STATUSES = frozenset({408, 429})


@dataclass(slots=True)
class _CalleeCall:
    """A call's callee state plus the cancel scopes of its pending tasks."""

    state: CalleeState
    scopes: set[trio.CancelScope] = field(default_factory=set)
    # Set once the newest planned reply was delivered (or given up): the next one waits for
    # it, so the callee answers its questions in the order they were asked.
    last_reply: trio.Event | None = None
    recording_since_ms: int | None = None  # start_recording: the recording runs from then


class MockClient(ProviderClient):
    """The ``mock`` provider's client: the simulated callee.

    Create it with :func:`open_mock_client`; its methods return at once and the callee's
    events follow as webhooks to ``endpoints.webhook_url``, like a real carrier's.
    """

    name = "mock"

    def __init__(self, settings: MockSettings, *, nursery: trio.Nursery, http: httpx.AsyncClient,
                 clock_ms: Callable[[], int], endpoints: Endpoints,
                 public_http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._nursery = nursery
        self._http = http  # for the daemon's own (loopback) URL: no proxy
        self._public_http = public_http or http  # for a public URL: the environment's proxy
        self._clock_ms = clock_ms
        self._endpoints = endpoints
        self._calls: dict[str, _CalleeCall] = {}

    def reconfigure(self, config: ProviderConfig) -> Callable[[], None]:
        """``daemon reload``: the new ``mock`` block's callee script, for calls placed from now
        on and the next reply of a live call."""
        settings = MockSettings.from_config(config.get("mock") or {})

        def switch() -> None:
            self.settings = settings
        return switch

    def callee(self, provider_call_id: str) -> CalleeState:
        """The callee's view of a call (replies given, texts played, how it ended)."""
        return self._call(provider_call_id, None).state

    async def resume(self, call_id: str, provider_call_id: str) -> None:
        """Adopt a call placed before a daemon restart so its events reach the daemon."""
        self._call(provider_call_id, call_id)

    async def place_call(self, request: PlaceCallRequest) -> PlacedCall:
        provider_call_id = f"mock-{request.call_id}"
        call = self._call(provider_call_id, request.call_id)
        call.state.machine_detection = request.machine_detection
        self._start(call, self._ring_then_answer, call)
        return PlacedCall(provider_call_id=provider_call_id)

    async def hangup(self, call_id: str, provider_call_id: str, reason: str) -> None:
        call = self._call(provider_call_id, call_id)
        if not call.state.ended:
            self._require_webhook_url(call)
            self._end(call, reason)

    async def speak(self, call_id: str, provider_call_id: str, text: str) -> None:
        """The callee hears ``text`` at once (over a machine's greeting, if it still plays)."""
        state = self._call(provider_call_id, call_id).state
        state.played.append(text)
        if state.greeting_playing:
            state.heard_over_greeting.append(text)

    async def send_dtmf(self, call_id: str, provider_call_id: str, digits: str) -> None:
        """The callee hears the touch tones at once (``callee(...).heard_keys``)."""
        call = self._call(provider_call_id, call_id)
        if call.state.ended:
            raise ProviderError(f"mock carrier: call {call.state.call_id} has ended")
        call.state.heard_keys.append(digits)

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None, *, accept: str = "speech") -> None:
        """The callee heard a question: it answers ``replyDelayMs`` later, under this turn's
        token, whether or not the daemon still listens by then (as a caller answers a
        ``<Gather>`` that the daemon has given up on). A late answer thus carries its own
        turn's token, and the daemon never takes it for the answer to a newer turn."""
        call = self._call(provider_call_id, call_id)
        if call.state.ended:
            return
        self._require_webhook_url(call)
        planned = call.state.take_reply(self.settings)
        if planned is None:
            return
        previous, call.last_reply = call.last_reply, trio.Event()
        self._start(call, self._reply, call, planned, turn_token, previous, call.last_reply)

    async def stop_listening(self, call_id: str, provider_call_id: str) -> None:
        """Nothing to do: a question once asked is answered (see :meth:`start_listening`)."""

    async def start_recording(self, call_id: str, provider_call_id: str) -> None:
        """The mock carrier "records" from now on: after the call ends it reports a
        ``call.recording`` with a ``mock://`` URL (nothing is stored) and the seconds since."""
        call = self._call(provider_call_id, call_id)
        if call.state.ended:
            raise ProviderError(f"mock carrier: call {call_id} has ended")
        if call.recording_since_ms is None:
            call.recording_since_ms = self._clock_ms()

    async def get_call_status(self, provider_call_id: str) -> ProviderCallStatus:
        return self._call(provider_call_id, None).state.status()

    # -- callee behaviour (tasks in the carrier's nursery) -------------------------------------

    async def _ring_then_answer(self, call: _CalleeCall) -> None:
        for step in placement_script(self.settings):
            await trio.sleep(step.delay_ms / 1000)
            if step.event_type is EventType.ENDED:
                self._end(call, step.reason or "completed")
                return
            await self._post(call, step.event_type)
        for detected in detection_script(self.settings, call.state.machine_detection):
            call.state.greeting_playing = detected.answered_by == "machine"
            await trio.sleep(detected.delay_ms / 1000)
            call.state.greeting_playing = (detected.answered_by == "machine"
                                           and not detected.greeting_ended
                                           and call.state.machine_detection == "voicemail")
            await self._post(call, EventType.ANSWERED_BY, answered_by=detected.answered_by,
                             greeting_ended=detected.greeting_ended)
        if self.settings.hangup_after_ms is not None:
            await trio.sleep(self.settings.hangup_after_ms / 1000)
            self._end(call, "hangup-user")

    async def _reply(self, call: _CalleeCall, planned: PlannedReply, turn_token: str | None,
                     previous: trio.Event | None, delivered: trio.Event) -> None:
        """Say ``planned`` ``replyDelayMs`` after the question, never before the reply to the
        question asked before it; ``delivered`` is set on every way out."""
        try:
            await trio.sleep(self.settings.reply_delay_ms / 1000)
            if previous is not None:
                await previous.wait()
            keys = keypress(planned.text)
            if keys is not None:  # pressed, one event per key as they come from a keypad
                for key in keys:
                    await self._post(call, EventType.DTMF, digits=key, turn_token=turn_token)
            else:
                await self._post(call, EventType.SPEECH, transcript=planned.text,
                                 is_final=True, turn_token=turn_token)
        finally:
            delivered.set()
        if planned.hang_up_after:
            await trio.sleep(self.settings.reply_delay_ms / 1000)
            self._end(call, "hangup-user")

    def _end(self, call: _CalleeCall, reason: str) -> None:
        """The call ends now: cancel its pending callee actions, then report ``call.ended``."""
        call.state.ended_reason = reason
        for scope in call.scopes:
            scope.cancel()
        self._nursery.start_soon(self._post_end, call, reason)

    async def _post_end(self, call: _CalleeCall, reason: str) -> None:
        """``call.ended``, then the recording's report when the call was recorded."""
        await self._post(call, EventType.ENDED, reason=reason)
        since, call.recording_since_ms = call.recording_since_ms, None
        if since is not None:
            await self._post(call, EventType.RECORDING,
                             recording_url=f"mock://recordings/{call.state.call_id}.mp3",
                             recording_duration_s=max(0, round((self._clock_ms() - since)
                                                               / 1000)))

    # -- plumbing -------------------------------------------------------------------------------

    def _call(self, provider_call_id: str, call_id: str | None) -> _CalleeCall:
        call = self._calls.get(provider_call_id)
        if call is None:
            state = CalleeState(call_id=call_id or call_id_from_provider_id(provider_call_id),
                                provider_call_id=provider_call_id)
            call = self._calls[provider_call_id] = _CalleeCall(state)
        return call

    def _require_webhook_url(self, call: _CalleeCall) -> None:
        if self._endpoints.webhook_url is None:
            raise ProviderError(f"mock carrier: no webhook URL known for call "
                                f"{call.state.call_id}; the daemon is not listening yet")

    def _start(self, call: _CalleeCall, action: Callable[..., Any], *args: Any) -> None:
        """Run ``action(*args)`` in the nursery under a scope that :meth:`_end` cancels."""
        scope = trio.CancelScope()
        call.scopes.add(scope)

        async def run() -> None:
            try:
                with scope:
                    await action(*args)
            finally:
                call.scopes.discard(scope)

        self._nursery.start_soon(run)

    async def _post(self, call: _CalleeCall, event_type: EventType, **fields: Any) -> None:
        """POST one event (``fields`` are :class:`NormalizedEvent` attributes) with retries."""
        state = call.state
        webhook_url = self._endpoints.webhook_url
        if webhook_url is None:
            logger.warning("mock callee: no webhook URL for call %s; %s not sent",
                           state.call_id, event_type.value)
            return
        event = NormalizedEvent(type=event_type, id=str(uuid.uuid4()), call_id=state.call_id,
                                timestamp=self._clock_ms(),
                                provider_call_id=state.provider_call_id)
        for name, value in fields.items():
            setattr(event, name, value)
        body = encode_mock_event(event)
        problem = ""
        for attempt in range(POST_ATTEMPTS):
            if attempt:
                await trio.sleep(POST_BACKOFF_S * 2 ** (attempt - 1))
            try:
                http = self._http if is_loopback_url(webhook_url) else self._public_http
                response = await http.post(
                    webhook_url, content=body,
                    headers={"content-type": "application/json"})
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 300:
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code not in _RETRY_STATUSES:
                break
        logger.warning("mock callee: %s for call %s was not delivered (%s)",
                       event_type.value, state.call_id, problem)


@asynccontextmanager
async def open_mock_client(settings: Mapping[str, Any], *, endpoints: Endpoints,
                            clock_ms: Callable[[], int]) -> AsyncIterator[MockClient]:
    """Open the mock carrier for the config's ``mock`` block (camelCase keys, all optional).

    Raises ``ValueError`` naming the key for a bad setting. On exit, pending callee actions are
    cancelled and the HTTP client is closed.
    """
    mock_settings = MockSettings.from_config(settings)
    # The daemon's own URL is reached directly; a public one (a tunnel, `expose`) like any
    # carrier reaches it, through the environment's proxy settings.
    async with (httpx.AsyncClient(timeout=POST_TIMEOUT_S, trust_env=False) as http,
                httpx.AsyncClient(timeout=POST_TIMEOUT_S) as public_http,
                trio.open_nursery() as nursery):
        try:
            yield MockClient(mock_settings, nursery=nursery, http=http, clock_ms=clock_ms,
                              endpoints=endpoints, public_http=public_http)
        finally:
            nursery.cancel_scope.cancel()
