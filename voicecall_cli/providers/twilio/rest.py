"""The Twilio REST client: places, steers and ends calls through the Programmable Voice API.

Requests go to ``{api_base_url}/2010-04-01/Accounts/{AccountSid}/...`` with HTTP Basic auth
``AccountSid:AuthToken`` and form bodies (list values repeat their key). Speech is a TwiML
update of the live call (``Twiml=`` built by :mod:`.twiml`); the daemon sends speech for calls
with a live media stream into the stream instead, never through this client. What is
remembered per call lives in the shared :class:`TwilioState`.

Resource handling: :func:`open_twilio_client` owns one ``httpx.AsyncClient`` and closes it on
exit. A request cancelled from outside is abandoned at once (its connection is dropped).

Error handling is the shared REST caller's (:mod:`voicecall_cli.providers.http`): every
request is bounded by ``request_timeout_s`` in total; non-2xx answers raise ``"Twilio API
error: <status> <body, at most 200 chars>"``, network errors and timeouts raise too, all as
:class:`~voicecall_cli.providers.http.ApiError` (a :class:`ProviderError`). Messages never
contain the auth token or the Basic credentials (both are masked should a server echo them
back), and this module never logs request headers.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import trio

from voicecall_cli.providers.base import (
    Endpoints,
    PlaceCallRequest,
    PlacedCall,
    ProviderCallStatus,
    ProviderClient,
    ProviderConfig,
    ProviderError,
    ring_timeout_seconds,
)
from voicecall_cli.providers.holding import connect_held_caller
from voicecall_cli.providers.http import ApiError, RestApi, is_loopback_url
from voicecall_cli.providers.twilio import twiml
from voicecall_cli.providers.twilio.state import TwilioState
from voicecall_cli.providers.urls import with_query

logger = logging.getLogger("voicecall.providers.twilio")

API_VERSION = "2010-04-01"
STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
# Terminal CallStatus -> our end reason (reference 4.1); every other status is live.
END_REASONS = {"completed": "completed", "failed": "failed", "busy": "busy",
               "no-answer": "no-answer", "canceled": "hangup-bot"}
NOT_IN_PROGRESS = "21220"  # Twilio's "call is not in-progress"
RECORDING_ATTEMPTS = 5
RECORDING_RETRY_S = 0.4
MISSING_CALL_URL = "Missing webhook URL for this call (provider state not initialized)"
# outbound.machineDetection -> Twilio's MachineDetection: DetectMessageEnd reports a machine
# only once its greeting ended (the beep), so the voicemail is left after it.
MACHINE_DETECTION = {"detect": "Enable", "voicemail": "DetectMessageEnd"}

Form = Mapping[str, str | Sequence[str]]


# How long speak() waits for Twilio to finish a <Say> (generous: ~15 chars/s speech).
SAY_BASE_WAIT_S = 5.0
SAY_S_PER_CHAR = 0.12


class TwilioClient(ProviderClient):
    """Twilio's :class:`~voicecall_cli.providers.base.ProviderClient`.

    Create it with :func:`open_twilio_client`. Methods return once Twilio accepted the request
    (``speak`` once Twilio finished saying the text); what the call does next arrives as
    webhooks. A notify call's TwiML says the message and hangs up by itself (reference 2.6,
    porting note 8).
    """

    name = "twilio"

    def __init__(self, *, http: httpx.AsyncClient, account_sid: str, auth_token: str,
                 state: TwilioState, endpoints: Endpoints, voice: str, language: str,
                 ring_timeout_s: int, request_timeout_s: float) -> None:
        self._calls_path = f"/{API_VERSION}/Accounts/{quote(account_sid, safe='')}/Calls"
        basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._api = RestApi(http, label="Twilio", secrets=(auth_token, basic),
                            timeout_s=request_timeout_s)
        self.state = state
        self.endpoints = endpoints
        self.voice = voice
        self.language = language
        self.ring_timeout_s = ring_timeout_s

    def reconfigure(self, config: ProviderConfig) -> Callable[[], None]:
        """``daemon reload``: ``ringTimeoutMs`` is the next dial's ``Timeout``."""
        ring_timeout_s = ring_timeout_seconds(config)

        def switch() -> None:
            self.ring_timeout_s = ring_timeout_s
        return switch

    # -- ProviderClient ----------------------------------------------------------------------

    async def place_call(self, request: PlaceCallRequest) -> PlacedCall:
        webhook_url = self._webhook_url()
        call_url = with_query(webhook_url, callId=request.call_id)
        status_url = with_query(webhook_url, callId=request.call_id, type="status")
        # A voicemail call's message waits for the beep: the daemon says it then, not the
        # notify TwiML at answer.
        if (request.mode == "notify" and request.message
                and request.machine_detection != "voicemail"):
            self.state.store_notify_twiml(
                request.call_id, twiml.notify(request.message, self.voice, self.language))
        form: dict[str, str | Sequence[str]] = {
            "To": request.to_number, "From": request.from_number, "Url": call_url,
            "StatusCallback": status_url, "StatusCallbackEvent": STATUS_CALLBACK_EVENTS,
            "Timeout": str(self.ring_timeout_s),
        }
        if request.machine_detection in MACHINE_DETECTION:
            form.update(machine_detection_form(
                request.machine_detection,
                with_query(webhook_url, callId=request.call_id, type="amd")))
        try:
            body = await self._request("POST", f"{self._calls_path}.json", form)
        except ProviderError:
            self.state.take_notify_twiml(request.call_id)
            raise
        sid = body.get("sid") if isinstance(body, dict) else None
        if not isinstance(sid, str) or not sid:
            raise ProviderError("Twilio API error: the call was created without a sid")
        self.state.remember_call(request.call_id, sid, call_url)
        status = "queued" if body.get("status") == "queued" else "initiated"
        return PlacedCall(provider_call_id=sid, status=status)

    async def hangup(self, call_id: str, provider_call_id: str, reason: str) -> None:
        try:
            await self._request("POST", self._call_path(provider_call_id),
                                {"Status": "completed"})
        except ApiError as exc:
            if exc.status != 404:  # 404: the call is already gone, nothing to hang up
                raise
        self.state.forget(provider_call_id)

    async def speak(self, call_id: str, provider_call_id: str, text: str) -> None:
        """A ``<Say>`` whose Redirect comes back to us: returns when Twilio follows it (the
        speech was heard), or after a generous estimate of the speech's length."""
        call_url = self._require_call_url(provider_call_id)
        token = uuid.uuid4().hex
        finished = trio.Event()
        self.state.expect_say(provider_call_id, token, finished.set)
        try:
            await self._update_twiml(provider_call_id, twiml.say(
                text, self.voice, self.language,
                redirect_url=with_query(call_url, sayDone=token)))
            # Twilio follows the Redirect after the Say: then the speech has been heard.
            with trio.move_on_after(SAY_BASE_WAIT_S + SAY_S_PER_CHAR * len(text)):
                await finished.wait()
        finally:
            self.state.say_finished(token)

    async def speak_and_listen(self, call_id: str, provider_call_id: str, text: str,
                               turn_token: str | None, *, accept: str = "speech") -> None:
        """Speak ``text`` and listen for the reply in one TwiML update (``<Gather>`` holding
        ``<Say>``), so listening never cuts the prompt short."""
        await self._gather(provider_call_id, prompt=text, turn_token=turn_token, accept=accept)

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None, *, accept: str = "speech") -> None:
        await self._gather(provider_call_id, prompt=None, turn_token=turn_token, accept=accept)

    async def send_dtmf(self, call_id: str, provider_call_id: str, digits: str) -> None:
        """A TwiML update: ``<Play digits>``, then a ``<Redirect>`` back to the call's URL,
        whose webhook reply resumes what the call was doing (a listening turn's Gather is
        issued again; a call with a media stream gets a new stream: the update closes the
        old one; otherwise the call idles). Returns once Twilio accepted the update. The
        redirect URL carries a fresh ``keysDone`` so it is never a replay of an earlier
        request (which would get that request's reply)."""
        call_url = self._require_call_url(provider_call_id)
        back = with_query(call_url, keysDone=uuid.uuid4().hex)
        await self._update_twiml(provider_call_id, twiml.play_digits(digits, back))

    async def stop_listening(self, call_id: str, provider_call_id: str) -> None:
        self.state.clear_pending_gather(provider_call_id)

    async def start_recording(self, call_id: str, provider_call_id: str) -> None:
        """``POST Calls/{CallSid}/Recordings.json``: both parties in two channels; Twilio
        posts the ``completed`` recording to our webhook (``type=recording``). An inbound
        call is answered by our reply to its first webhook, which this request can beat:
        Twilio then refuses (21220, not in progress), so that refusal is retried briefly."""
        form = {"RecordingChannels": "dual",
                "RecordingStatusCallback": with_query(self._webhook_url(), callId=call_id,
                                                      type="recording"),
                "RecordingStatusCallbackEvent": "completed",
                "RecordingStatusCallbackMethod": "POST"}
        path = f"{self._call_path(provider_call_id)[:-len('.json')]}/Recordings.json"
        for attempt in range(RECORDING_ATTEMPTS):
            try:
                await self._request("POST", path, form)
                return
            except ApiError as exc:
                not_yet = exc.status == 400 and NOT_IN_PROGRESS in exc.codes
                if not not_yet or attempt == RECORDING_ATTEMPTS - 1:
                    raise
            await trio.sleep(RECORDING_RETRY_S)

    async def get_call_status(self, provider_call_id: str) -> ProviderCallStatus:
        """Reference 3.2: 404 is an ended call (``completed``); any other failure is
        unknown."""
        try:
            body = await self._request("GET", self._call_path(provider_call_id))
        except ApiError as exc:
            if exc.status == 404:
                return ProviderCallStatus("ended", "completed", raw="not-found")
            logger.warning("twilio: status of call %s unknown: %s", provider_call_id, exc)
            return ProviderCallStatus("unknown", raw="error")
        raw = body.get("status") if isinstance(body, dict) else None
        status = str(raw or "").strip().lower() or "unknown"
        if status in END_REASONS:
            return ProviderCallStatus("ended", END_REASONS[status], raw=status)
        return ProviderCallStatus("live", raw=status)

    async def resume(self, call_id: str, provider_call_id: str) -> None:
        self.state.remember_call(call_id, provider_call_id,
                                 with_query(self._webhook_url(), callId=call_id))

    def held_calls(self) -> list[str]:
        return self.state.held()

    async def connect_held(self, call_id: str, provider_call_id: str) -> bool:
        """Redirect the queued call (a REST update with ``Url``) back to its webhook URL,
        which now answers with stream TwiML; Twilio takes it out of the hold queue (the
        Enqueue's action reports ``redirected``). A call Twilio says is over is dropped and
        False returned; any other failure puts the caller back first in line and raises."""
        call_url = self._require_call_url(provider_call_id)
        return await connect_held_caller(
            self.state, call_id, provider_call_id, call_status=self.get_call_status,
            connect=lambda: self._request("POST", self._call_path(provider_call_id),
                                          {"Url": call_url, "Method": "POST"}))

    # -- helpers --------------------------------------------------------------------------------

    def _webhook_url(self) -> str:
        url = self.endpoints.webhook_url
        if not url:
            raise ProviderError("Webhook URL not configured")
        return url

    async def _gather(self, call_sid: str, *, prompt: str | None,
                      turn_token: str | None, accept: str = "speech") -> None:
        call_url = self._require_call_url(call_sid)
        action = twiml.turn_url(call_url, turn_token)
        document = twiml.gather(action, prompt=prompt, voice=self.voice, language=self.language,
                                redirect_url=action, accept=accept)
        self.state.set_pending_gather(call_sid, turn_token, accept)
        try:
            await self._update_twiml(call_sid, document)
        except BaseException:
            self.state.clear_pending_gather(call_sid)
            raise

    def _require_call_url(self, call_sid: str) -> str:
        call_url = self.state.call_url(call_sid)
        if call_url is None:
            raise ProviderError(MISSING_CALL_URL)
        return call_url

    async def _update_twiml(self, call_sid: str, document: str) -> None:
        await self._request("POST", self._call_path(call_sid), {"Twiml": document})

    def _call_path(self, call_sid: str) -> str:
        return f"{self._calls_path}/{quote(call_sid, safe='')}.json"

    async def _request(self, method: str, path: str, form: Form | None = None) -> Any:
        """One API request with a form body; the JSON answer (None when empty). Raises
        :class:`~voicecall_cli.providers.http.ApiError`."""
        return await self._api.request(method, path,
                                       form=_form_pairs(form) if form is not None else None)


def machine_detection_form(mode: str, callback_url: str) -> dict[str, str]:
    """The dial's answering-machine detection fields: asynchronous (the call's TwiML runs at
    once), its result (``AnsweredBy``) POSTed to ``callback_url``."""
    return {"MachineDetection": MACHINE_DETECTION[mode], "AsyncAmd": "true",
            "AsyncAmdStatusCallback": callback_url, "AsyncAmdStatusCallbackMethod": "POST"}


def _form_pairs(form: Form | None) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in (form or {}).items():
        if isinstance(value, str):
            pairs.append((key, value))
        else:
            pairs.extend((key, item) for item in value)
    return pairs


@asynccontextmanager
async def open_twilio_client(*, account_sid: str, auth_token: str, api_base_url: str,
                             state: TwilioState, endpoints: Endpoints, voice: str,
                             language: str = "en-US", ring_timeout_s: int = 30,
                             request_timeout_s: float = 15.0) -> AsyncIterator[TwilioClient]:
    """Open a :class:`TwilioClient` for ``api_base_url`` (``https://api.twilio.com`` in
    production, a simulator's ``base_url`` in tests). ``voice`` is the ``<Say>`` voice
    (see :func:`~voicecall_cli.providers.twilio.voices.polly_voice`). The HTTP client is closed
    on exit. Proxy settings from the environment apply except for a loopback ``api_base_url``.
    """
    base_url = api_base_url.rstrip("/")
    async with httpx.AsyncClient(base_url=base_url, auth=httpx.BasicAuth(account_sid, auth_token),
                                 timeout=request_timeout_s,
                                 trust_env=not is_loopback_url(base_url),
                                 headers={"accept": "application/json"}) as http:
        yield TwilioClient(http=http, account_sid=account_sid, auth_token=auth_token,
                           state=state, endpoints=endpoints, voice=voice, language=language,
                           ring_timeout_s=ring_timeout_s,
                           request_timeout_s=request_timeout_s)
