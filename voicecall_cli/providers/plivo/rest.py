"""The Plivo REST client: places, steers and ends calls through the Voice API (reference 4.3).

Requests go to ``{api_base_url}/v1/Account/{authId}/...`` with HTTP Basic auth
``authId:authToken`` and JSON bodies. A call is placed with answer, ring and hang-up URLs that
carry our call id and a ``flow`` (see :mod:`.webhooks`); Plivo answers with a RequestUUID, and
the call's webhooks later name its CallUUID (the call manager re-keys the call then).

Speech without a media stream is steered by transfer: the client records what the call should
do next in the shared :class:`~.state.PlivoState` (a text to say, a turn to listen for), then
``POST /Call/{uuid}/`` moves the call's A leg to our ``flow=xml-speak`` or ``flow=xml-listen``
URL, where the webhook codec serves the XML. ``speak`` returns when Plivo comes back after the
``<Speak>`` (a ``<Redirect>`` carrying the speech's token), or after a generous estimate. The
daemon sends speech for calls with a live media stream into the stream, never through here.

Resource handling: :func:`open_plivo_client` owns one ``httpx.AsyncClient`` and closes it on
exit. Errors raise :class:`~voicecall_cli.providers.http.ApiError` (a ``ProviderError``) with
the auth token and Basic credentials masked; see :mod:`voicecall_cli.providers.http`.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable
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
from voicecall_cli.providers.plivo import xml
from voicecall_cli.providers.plivo.state import PendingListen, PendingSpeech, PlivoState
from voicecall_cli.providers.urls import with_query

logger = logging.getLogger("voicecall.providers.plivo")

# call_status of a call detail record -> end reason (reference 3.2's terminal set).
CDR_END_REASONS = {"completed": "completed", "busy": "busy", "failed": "failed",
                   "timeout": "no-answer", "no-answer": "no-answer", "cancel": "hangup-bot",
                   "machine": "voicemail", "hangup": "completed"}
CDR_STATES = {"ANSWER": "completed", "BUSY": "busy", "NO_ANSWER": "no-answer",
              "CANCEL": "hangup-bot", "FAILED": "failed"}
MISSING_WEBHOOK_URL = "Missing webhook URL for this call (provider state missing)"
NOT_RINGING = "Plivo has not connected this call yet"
# How long speak() waits for Plivo to come back after a <Speak> (~15 chars/s speech).
SPEAK_BASE_WAIT_S = 5.0
SPEAK_S_PER_CHAR = 0.12
_NOT_DIALABLE = re.compile(r"[^\d+]")


def plivo_number(number: str) -> str:
    """A number as Plivo takes it: a ``sip:`` URI as given, else only its digits and ``+``."""
    value = number.strip()
    return value if value.lower().startswith("sip:") else _NOT_DIALABLE.sub("", value)


class PlivoClient(ProviderClient):
    """Plivo's :class:`~voicecall_cli.providers.base.ProviderClient` (module docstring).

    Create it with :func:`open_plivo_client`. Methods return once Plivo accepted the request
    (``speak`` once the text was said); what the call does next arrives as webhooks. A notify
    call's answer XML says the message and hangs up by itself.
    """

    name = "plivo"

    def __init__(self, *, api: RestApi, auth_id: str, state: PlivoState, endpoints: Endpoints,
                 voice: str, language: str, ring_timeout_s: int,
                 record_time_limit_s: int = 3600) -> None:
        self._api = api
        self._account = f"/v1/Account/{quote(auth_id, safe='')}"
        self.state = state
        self.endpoints = endpoints
        self.voice = voice
        self.language = language
        self.ring_timeout_s = ring_timeout_s
        self.record_time_limit_s = record_time_limit_s  # Plivo stops at 60 s unless told

    def reconfigure(self, config: ProviderConfig) -> Callable[[], None]:
        """``daemon reload``: ``ringTimeoutMs`` is the next dial's ``ring_timeout``."""
        ring_timeout_s = ring_timeout_seconds(config)

        def switch() -> None:
            self.ring_timeout_s = ring_timeout_s
        return switch

    # -- ProviderClient ----------------------------------------------------------------------

    async def place_call(self, request: PlaceCallRequest) -> PlacedCall:
        """``POST /Call/``; the PlacedCall's id is Plivo's RequestUUID. Never retried: a
        second request would ring the callee twice."""
        call_url = with_query(self._webhook_url(), callId=request.call_id)
        # A voicemail call's message waits for the beep: the daemon says it then, not the
        # notify XML at answer.
        if (request.mode == "notify" and request.message
                and request.machine_detection != "voicemail"):
            self.state.store_notify_xml(request.call_id, xml.notify(
                request.message, voice=self.voice, language=self.language))
        body = {
            "from": plivo_number(request.from_number), "to": plivo_number(request.to_number),
            "answer_url": with_query(call_url, flow="answer"), "answer_method": "POST",
            "ring_url": with_query(call_url, flow="ring"), "ring_method": "POST",
            "hangup_url": with_query(call_url, flow="hangup"), "hangup_method": "POST",
            "ring_timeout": self.ring_timeout_s,
        }
        if request.machine_detection != "off":  # asynchronous: the result goes to flow=amd
            body.update(machine_detection="true",
                        machine_detection_url=with_query(call_url, flow="amd"),
                        machine_detection_method="POST")
        try:
            answer = await self._api.request("POST", f"{self._account}/Call/", json=body)
            request_uuid = answer.get("request_uuid") if isinstance(answer, dict) else None
            if isinstance(request_uuid, list):
                request_uuid = request_uuid[0] if request_uuid else None
            if not isinstance(request_uuid, str) or not request_uuid:
                raise ProviderError("Plivo call create returned no request_uuid")
        except BaseException:
            self.state.drop_notify(request.call_id)
            raise
        self.state.placed(request.call_id, request_uuid)
        return PlacedCall(provider_call_id=request_uuid)

    async def hangup(self, call_id: str, provider_call_id: str, reason: str) -> None:
        """``DELETE /Call/{CallUUID}/``; a call that has not rung yet (only its RequestUUID
        is known) is cancelled with ``DELETE /Request/{RequestUUID}/`` too. 404 means the
        call is already over. The state is kept when Plivo refused, so a retry can work."""
        call_uuid = self.state.call_uuid(provider_call_id)
        targets = [f"Call/{call_uuid}"] if call_uuid else [
            f"Call/{provider_call_id}", f"Request/{provider_call_id}"]
        for target in targets:
            try:
                await self._api.request("DELETE", f"{self._account}/{_path(target)}/")
            except ApiError as exc:
                if exc.status != 404:
                    raise
        self.state.forget(provider_call_id)

    async def speak(self, call_id: str, provider_call_id: str, text: str) -> None:
        """Transfer the call to our ``<Speak>``; returns once Plivo came back after it (the
        text was heard), or after a generous estimate of its length."""
        call_uuid = self._answered_uuid(provider_call_id)
        heard = trio.Event()
        speech = PendingSpeech(xml.speakable(text), uuid.uuid4().hex)
        self.state.set_speech(call_uuid, speech, heard.set)
        try:
            await self._transfer(call_id, call_uuid, "xml-speak")
            with trio.move_on_after(SPEAK_BASE_WAIT_S + SPEAK_S_PER_CHAR * len(text)):
                await heard.wait()
        finally:
            self.state.speech_heard(speech.token)

    async def speak_and_listen(self, call_id: str, provider_call_id: str, text: str,
                               turn_token: str | None, *, accept: str = "speech") -> None:
        """One transfer to a ``<GetInput>`` that says ``text`` while it listens."""
        await self._listen(call_id, provider_call_id, turn_token, prompt=xml.speakable(text),
                           accept=accept)

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None, *, accept: str = "speech") -> None:
        await self._listen(call_id, provider_call_id, turn_token, prompt=None, accept=accept)

    async def send_dtmf(self, call_id: str, provider_call_id: str, digits: str) -> None:
        """``POST /Call/{CallUUID}/DTMF/`` (``w``/``W`` are Plivo's own pauses); the call,
        streamed or not, goes on where it was."""
        call_uuid = self._answered_uuid(provider_call_id)
        await self._api.request("POST", f"{self._account}/Call/{_path(call_uuid)}/DTMF/",
                                json={"digits": digits})

    async def stop_listening(self, call_id: str, provider_call_id: str) -> None:
        """The turn is over: no new ``<GetInput>`` is served (one in progress on Plivo's side
        may still answer; its turn token no longer matches)."""
        call_uuid = self.state.call_uuid(provider_call_id)
        if call_uuid:
            self.state.stop_listening(call_uuid)

    async def start_recording(self, call_id: str, provider_call_id: str) -> None:
        """``POST /Call/{CallUUID}/Record/`` (mp3, up to the call's longest duration); Plivo
        posts ``record_url`` and ``recording_duration`` to our ``flow=recording`` URL when
        the recording ends. (Plivo's Record API has no channel option: one mixed file.)"""
        call_uuid = self._answered_uuid(provider_call_id)
        await self._api.request("POST", f"{self._account}/Call/{_path(call_uuid)}/Record/", json={
            "file_format": "mp3", "time_limit": self.record_time_limit_s,
            "callback_url": with_query(self._webhook_url(), callId=call_id, flow="recording"),
            "callback_method": "POST"})
    async def await_greeting_end(self, call_id: str, provider_call_id: str) -> None:
        """Plivo reports no beep by itself: transfer the call to a ``<Wait beep="true">``
        whose redirect (``flow=beep-done``) says the greeting is over."""
        await self._transfer(call_id, self._answered_uuid(provider_call_id), "xml-beep")

    async def get_call_status(self, provider_call_id: str) -> ProviderCallStatus:
        """A live call (``GET /Call/{uuid}/?status=live``), or one still queued under its
        RequestUUID (``?status=queued``), else its call detail record; a call Plivo knows in
        none of these ways is over. Any other failure is unknown."""
        path = f"{self._account}/Call/{_path(provider_call_id)}/"
        for status in ("live", "queued"):
            try:
                found = await self._api.request("GET", f"{path}?status={status}")
            except ApiError as exc:
                if exc.status != 404:
                    return self._unknown(provider_call_id, exc)
                continue
            raw = found.get("call_status") if isinstance(found, dict) else None
            return ProviderCallStatus("live", raw=str(raw or status).strip().lower())
        try:
            record = await self._api.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return ProviderCallStatus("ended", "completed", raw="not-found")
            return self._unknown(provider_call_id, exc)
        return _ended_status(record)

    async def resume(self, call_id: str, provider_call_id: str) -> None:
        self.state.remember_call(call_id, provider_call_id)

    def held_calls(self) -> list[str]:
        return self.state.held()

    async def connect_held(self, call_id: str, provider_call_id: str) -> bool:
        """Transfer the held caller to the hold flow now (instead of at their next check):
        it answers with the stream XML. A call Plivo says is over is dropped and False
        returned; any other failure puts the caller back first in line and raises."""
        return await connect_held_caller(
            self.state, call_id, provider_call_id, call_status=self.get_call_status,
            connect=lambda: self._transfer(call_id, provider_call_id, "hold"))

    # -- helpers --------------------------------------------------------------------------------

    async def _listen(self, call_id: str, provider_call_id: str, turn_token: str | None, *,
                      prompt: str | None, accept: str = "speech") -> None:
        call_uuid = self._answered_uuid(provider_call_id)
        self.state.set_listen(call_uuid, PendingListen(turn_token, prompt, accept))
        try:
            await self._transfer(call_id, call_uuid, "xml-listen")
        except BaseException:
            self.state.end_turn(call_uuid, turn_token)
            raise

    async def _transfer(self, call_id: str, call_uuid: str, flow: str) -> None:
        """Move the call's A leg to our ``flow`` URL (Plivo fetches it at once)."""
        url = with_query(self._webhook_url(), callId=call_id, flow=flow)
        await self._api.request("POST", f"{self._account}/Call/{_path(call_uuid)}/", json={
            "legs": "aleg", "aleg_url": url, "aleg_method": "POST"})

    def _answered_uuid(self, provider_call_id: str) -> str:
        call_uuid = self.state.call_uuid(provider_call_id)
        if not call_uuid:
            raise ProviderError(NOT_RINGING)
        return call_uuid

    def _webhook_url(self) -> str:
        url = self.endpoints.webhook_url
        if not url:
            raise ProviderError(MISSING_WEBHOOK_URL)
        return url

    @staticmethod
    def _unknown(provider_call_id: str, exc: ApiError) -> ProviderCallStatus:
        logger.warning("plivo: status of call %s unknown: %s", provider_call_id, exc)
        return ProviderCallStatus("unknown", raw="error")


def _ended_status(record: Any) -> ProviderCallStatus:
    """A call detail record: the call is over; why, from ``call_status`` or ``call_state``."""
    if not isinstance(record, dict):
        return ProviderCallStatus("ended", "completed", raw="ended")
    status = str(record.get("call_status") or "").strip().lower()
    if status in CDR_END_REASONS:
        return ProviderCallStatus("ended", CDR_END_REASONS[status], raw=status)
    state = str(record.get("call_state") or "").strip().upper()
    return ProviderCallStatus("ended", CDR_STATES.get(state, "completed"),
                              raw=(status or state.lower() or "ended"))


def _path(segment: str) -> str:
    return "/".join(quote(part, safe="") for part in segment.split("/"))


@asynccontextmanager
async def open_plivo_client(*, auth_id: str, auth_token: str, api_base_url: str,
                            state: PlivoState, endpoints: Endpoints,
                            voice: str = xml.DEFAULT_VOICE,
                            language: str = xml.DEFAULT_LANGUAGE, ring_timeout_s: int = 30,
                            request_timeout_s: float = 15.0, record_time_limit_s: int = 3600,
                            ) -> AsyncIterator[PlivoClient]:
    """Open a :class:`PlivoClient` for ``api_base_url`` (``https://api.plivo.com`` in
    production, a simulator's ``base_url`` in tests). The HTTP client is closed on exit.
    Proxy settings from the environment apply except for a loopback ``api_base_url``."""
    base_url = api_base_url.rstrip("/")
    basic = base64.b64encode(f"{auth_id}:{auth_token}".encode()).decode()
    async with httpx.AsyncClient(base_url=base_url, auth=httpx.BasicAuth(auth_id, auth_token),
                                 timeout=request_timeout_s,
                                 trust_env=not is_loopback_url(base_url),
                                 headers={"accept": "application/json"}) as http:
        api = RestApi(http, label="Plivo", secrets=(auth_token, basic),
                      timeout_s=request_timeout_s)
        yield PlivoClient(api=api, auth_id=auth_id, state=state, endpoints=endpoints,
                          voice=voice, language=language, ring_timeout_s=ring_timeout_s,
                          record_time_limit_s=record_time_limit_s)
