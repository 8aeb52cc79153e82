"""The Telnyx REST client: Call Control v2 commands (reference 4.2).

Requests go to ``{api_base_url}/v2/...`` with ``Authorization: Bearer <API key>`` and JSON
bodies. Dial is ``POST /v2/calls``; every other command is ``POST
/v2/calls/{call_control_id}/actions/<name>`` and carries a ``command_id``: Telnyx ignores a
command whose id it has already seen for the call, so a command whose answer was lost (network
error, timeout, 5xx) is retried once with the same id and runs at most once. The answer of an
inbound call has a ``command_id`` derived from our call id, so even a second answer attempt
(after a re-delivered ``call.initiated``) cannot answer twice.

With a stream URL (``endpoints.stream_url``: streaming is on), dial and answer attach the media
stream: ``stream_url``, the inbound track, bidirectional RTP PCMU at 8 kHz back to the call's
own leg, and a ``stream_auth_token`` from the daemon's stream registry minted for our call id
(the stream's ``start`` echoes it in ``client_state``).

Resource handling: :func:`open_telnyx_client` owns one ``httpx.AsyncClient`` and closes it on
exit. Errors raise :class:`~voicecall_cli.providers.http.ApiError` (a ``ProviderError``) with
the API key masked; see :mod:`voicecall_cli.providers.http`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import trio

from voicecall_cli.protocol.text import xml_safe
from voicecall_cli.providers.base import (
    Endpoints,
    PlaceCallRequest,
    PlacedCall,
    ProviderCallStatus,
    ProviderClient,
    ProviderConfig,
    ProviderError,
    Streams,
    ring_timeout_seconds,
)
from voicecall_cli.providers.http import ApiError, RestApi, is_loopback_url
from voicecall_cli.providers.telnyx.state import TelnyxState, encode_client_state

HOLD_PROMPT = "Please hold while we connect you."
logger = logging.getLogger("voicecall.providers.telnyx")

ALREADY_ENDED = "90018"  # "Call has already ended"
MIN_RING_S, MAX_RING_S = 5, 120  # timeout_secs bounds
# How long speak() waits for call.speak.ended (generous: ~15 chars/s speech).
SPEAK_BASE_WAIT_S = 5.0
SPEAK_S_PER_CHAR = 0.12
RETRIES = 1
DTMF_DURATION_MS = 250  # each key's tone (Telnyx takes 100 to 500)


# outbound.machineDetection -> the dial's answering_machine_detection: detect_beep adds
# call.machine.greeting.ended once a machine's greeting ended in a beep (voicemail mode).
MACHINE_DETECTION = {"detect": "detect", "voicemail": "detect_beep"}

class TelnyxClient(ProviderClient):
    """Telnyx's :class:`~voicecall_cli.providers.base.ProviderClient` (module docstring).

    Methods return once Telnyx accepted the command (``speak`` once Telnyx reports the speech
    ended); what the call does next arrives as webhooks.
    """

    name = "telnyx"

    def __init__(self, *, api: RestApi, connection_id: str, state: TelnyxState,
                 endpoints: Endpoints, streams: Streams, voice: str, language: str,
                 ring_timeout_s: int) -> None:
        self._api = api
        self.connection_id = connection_id
        self.state = state
        self.endpoints = endpoints
        self.streams = streams
        self.voice = voice
        self.language = language
        self.ring_timeout_s = min(MAX_RING_S, max(MIN_RING_S, ring_timeout_s))

    def reconfigure(self, config: ProviderConfig) -> Callable[[], None]:
        """``daemon reload``: ``ringTimeoutMs`` is the next dial's ``timeout_secs``."""
        ring_timeout_s = min(MAX_RING_S, max(MIN_RING_S, ring_timeout_seconds(config)))

        def switch() -> None:
            self.ring_timeout_s = ring_timeout_s
        return switch

    # -- ProviderClient ----------------------------------------------------------------------

    async def place_call(self, request: PlaceCallRequest) -> PlacedCall:
        """Dial. Never retried: a dial has no call to scope its ``command_id`` to, so a retry
        could ring the callee twice."""
        webhook_url = self.endpoints.webhook_url
        if not webhook_url:
            raise ProviderError("Webhook URL not configured")
        body: dict[str, Any] = {
            "connection_id": self.connection_id, "to": request.to_number,
            "from": request.from_number, "webhook_url": webhook_url,
            "webhook_url_method": "POST",
            "client_state": encode_client_state(request.call_id),
            "command_id": str(uuid.uuid4()), "timeout_secs": self.ring_timeout_s,
            **self._stream_fields(request.call_id)}
        if request.machine_detection in MACHINE_DETECTION:
            body["answering_machine_detection"] = MACHINE_DETECTION[request.machine_detection]
        answer = await self._api.request("POST", "/v2/calls", json=body)
        data = answer.get("data") if isinstance(answer, dict) else None
        pid = data.get("call_control_id") if isinstance(data, dict) else None
        if not isinstance(pid, str) or not pid:
            raise ProviderError("Telnyx API error: the call was created without a "
                                "call_control_id")
        return PlacedCall(provider_call_id=pid)

    async def hangup(self, call_id: str, provider_call_id: str, reason: str) -> None:
        try:
            await self._command(provider_call_id, "hangup", {})
        except ApiError as exc:
            if not _already_ended(exc):
                raise
        self.state.forget(provider_call_id)

    async def speak(self, call_id: str, provider_call_id: str, text: str) -> None:
        """Telnyx's text-to-speech; returns at ``call.speak.ended`` (or when the call ends),
        else after a generous estimate of the speech's length."""
        finished = trio.Event()
        self.state.expect_speak_end(provider_call_id, finished.set)
        try:
            await self._command(provider_call_id, "speak", {
                "payload": xml_safe(text), "payload_type": "text", "voice": self.voice,
                "language": self.language})
            with trio.move_on_after(SPEAK_BASE_WAIT_S + SPEAK_S_PER_CHAR * len(text)):
                await finished.wait()
        finally:
            self.state.withdraw(provider_call_id, finished.set)

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None, *, accept: str = "speech") -> None:
        """Telnyx's transcription; the ``client_state`` names the turn, so its transcripts
        carry ``turn_token``."""
        await self._command(provider_call_id, "transcription_start", {
            "language": self.language.split("-")[0] or "en",
            "client_state": encode_client_state(call_id, turn_token)})

    async def stop_listening(self, call_id: str, provider_call_id: str) -> None:
        try:
            await self._command(provider_call_id, "transcription_stop", {
                "client_state": encode_client_state(call_id)})
        except ProviderError as exc:
            logger.info("telnyx: stopping transcription of call %s: %s", call_id, exc)

    async def send_dtmf(self, call_id: str, provider_call_id: str, digits: str) -> None:
        """``actions/send_dtmf`` (``w``/``W`` are Telnyx's own pauses); keys the caller
        presses arrive as ``call.dtmf.received`` whatever we asked for, so a listening turn
        needs nothing more to accept them."""
        await self._command(provider_call_id, "send_dtmf", {
            "digits": digits, "duration_millis": DTMF_DURATION_MS})

    async def answer(self, call_id: str, provider_call_id: str) -> None:
        """Answer with the media stream attached; when every inbound stream slot is taken (or
        others already wait), answer without one, tell the caller to hold and keep them in
        line for :meth:`connect_held`."""
        held = bool(self.endpoints.stream_url) and (
            self.state.queue_ahead() or not self.streams.admits_inbound())
        stream = {} if held else self._stream_fields(call_id, inbound=True)
        if held:
            self.state.hold(provider_call_id, call_id)
        try:
            await self._command(provider_call_id, "answer", {
                "command_id": f"voicecall-answer-{call_id}",
                "client_state": encode_client_state(call_id), **stream})
        except BaseException:
            self.state.forget(provider_call_id)
            self.streams.release(call_id)  # no stream comes: the slot it took is free
            raise
        if held:
            await self._command(provider_call_id, "speak", {
                "payload": HOLD_PROMPT, "payload_type": "text", "voice": self.voice,
                "language": self.language})

    async def start_recording(self, call_id: str, provider_call_id: str) -> None:
        """``record_start``: mp3, both parties in two channels; Telnyx reports the saved file
        as ``call.recording.saved`` after the hang-up (see :mod:`.webhooks`)."""
        await self._command(provider_call_id, "record_start", {
            "format": "mp3", "channels": "dual",
            "client_state": encode_client_state(call_id)})

    def held_calls(self) -> list[str]:
        return self.state.held()

    async def connect_held(self, call_id: str, provider_call_id: str) -> bool:
        """Attach the media stream to the held call (``streaming_start``). A call Telnyx says
        is over is dropped and False returned; any other failure puts the caller back first
        in line and raises."""
        self.state.start_connecting(provider_call_id)
        try:
            await self._command(provider_call_id, "streaming_start",
                                self._stream_fields(call_id, inbound=True))
        except ApiError as exc:
            self.streams.release(call_id)  # no stream comes: the slot it took is free
            if _already_ended(exc) or (await self.get_call_status(provider_call_id)
                                       ).is_terminal:
                self.state.forget(provider_call_id)
                return False
            self.state.hold_first(provider_call_id, call_id)
            raise ProviderError(f"could not take call {call_id} off hold: {exc}") from None
        except BaseException:
            self.state.hold_first(provider_call_id, call_id)
            self.streams.release(call_id)
            raise
        self.state.connected(provider_call_id)
        return True

    async def get_call_status(self, provider_call_id: str) -> ProviderCallStatus:
        """Reference 3.2: 404 is an ended call; ``is_alive`` says live or ended; a failure or
        an answer without ``is_alive`` is unknown."""
        try:
            answer = await self._api.request("GET", _call_path(provider_call_id))
        except ApiError as exc:
            if exc.status == 404:
                return ProviderCallStatus("ended", "completed", raw="not-found")
            logger.warning("telnyx: status of call %s unknown: %s", provider_call_id, exc)
            return ProviderCallStatus("unknown", raw="error")
        data = answer.get("data") if isinstance(answer, dict) else None
        alive = data.get("is_alive") if isinstance(data, dict) else None
        raw = str(data.get("state") or "") if isinstance(data, dict) else ""
        if not isinstance(alive, bool):
            return ProviderCallStatus("unknown", raw=raw or "unknown")
        if alive:
            return ProviderCallStatus("live", raw=raw or "alive")
        return ProviderCallStatus("ended", "completed", raw=raw or "not-alive")

    # -- helpers --------------------------------------------------------------------------------

    def _stream_fields(self, call_id: str, *, inbound: bool = False) -> dict[str, Any]:
        """The stream part of a dial/answer/streaming_start; ``inbound``: an inbound caller's
        slot is taken now (see :meth:`Streams.token`), not when Telnyx starts the stream."""
        stream_url = self.endpoints.stream_url
        if not stream_url:
            return {}
        return {"stream_url": stream_url, "stream_track": "inbound_track",
                "stream_codec": "PCMU", "stream_bidirectional_mode": "rtp",
                "stream_bidirectional_codec": "PCMU",
                "stream_bidirectional_sampling_rate": 8000,
                "stream_bidirectional_target_legs": "self",
                "stream_auth_token": self.streams.token(call_id, inbound=inbound)}

    async def _command(self, provider_call_id: str, action: str, body: dict[str, Any]) -> Any:
        """``POST .../actions/<action>`` with a ``command_id`` (``body``'s, else a new one),
        retried with the same id when no answer came back or the server failed."""
        body = {"command_id": str(uuid.uuid4()), **body}
        path = f"{_call_path(provider_call_id)}/actions/{action}"
        for attempt in range(RETRIES + 1):
            try:
                return await self._api.request("POST", path, json=body)
            except ApiError as exc:
                retryable = not exc.answered or (exc.status or 0) >= 500
                if not retryable or attempt == RETRIES:
                    raise
                logger.info("telnyx: %s for call %s failed (%s); retrying with the same "
                            "command_id", action, provider_call_id, exc)
        raise AssertionError("unreachable")


def _call_path(provider_call_id: str) -> str:
    return f"/v2/calls/{quote(provider_call_id, safe='')}"


def _already_ended(exc: ApiError) -> bool:
    return exc.status == 404 or (exc.status == 422 and ALREADY_ENDED in exc.codes)


@asynccontextmanager
async def open_telnyx_client(*, api_key: str, connection_id: str, api_base_url: str,
                             state: TelnyxState, endpoints: Endpoints, streams: Streams,
                             voice: str = "female", language: str = "en-US",
                             ring_timeout_s: int = 30, request_timeout_s: float = 15.0,
                             ) -> AsyncIterator[TelnyxClient]:
    """Open a :class:`TelnyxClient` for ``api_base_url`` (``https://api.telnyx.com``, or a
    simulator's ``base_url`` in tests). The HTTP client is closed on exit; proxy settings from
    the environment apply except for a loopback ``api_base_url``."""
    base_url = api_base_url.rstrip("/")
    if base_url.endswith("/v2"):
        base_url = base_url[:-3]  # the paths carry the version
    async with httpx.AsyncClient(
            base_url=base_url, timeout=request_timeout_s,
            trust_env=not is_loopback_url(base_url),
            headers={"authorization": f"Bearer {api_key}", "accept": "application/json"},
    ) as http:
        api = RestApi(http, label="Telnyx", secrets=(api_key,), timeout_s=request_timeout_s)
        yield TelnyxClient(api=api, connection_id=connection_id, state=state,
                           endpoints=endpoints, streams=streams, voice=voice,
                           language=language, ring_timeout_s=ring_timeout_s)
