"""The fake Telnyx's call recordings (the ``record_start`` command and its webhook).

``POST /v2/calls/<call_control_id>/actions/record_start`` with ``format`` (``mp3`` or ``wav``)
and ``channels`` (``single`` or ``dual``), both required, starts recording an answered call.
The recording stops when the call hangs up; after the call's ``call.hangup`` went out, a
``call.recording.saved`` webhook follows (signed like every webhook), its payload as Telnyx
documents it: ``call_control_id``, ``call_leg_id``, ``call_session_id``, ``client_state``,
``connection_id``, ``channels``, ``recording_started_at``, ``recording_ended_at`` (ISO 8601)
and ``recording_urls`` / ``public_recording_urls`` (``{format: url}``).

Resource handling: the webhook tasks run in the simulator's nursery and die with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voicecall_cli.simulator.recordings import RecorderBase, RecordingSpan
from voicecall_cli.simulator.telnyx import api
from voicecall_cli.simulator.telnyx.call import SimCall
from voicecall_cli.simulator.telnyx.webhooks import iso8601

FORMATS = ("mp3", "wav")
CHANNELS = ("single", "dual")


@dataclass(slots=True)
class SimRecording(RecordingSpan):
    """One recording the fake Telnyx made (``TelnyxSimulator.recordings``, by call id)."""

    recording_id: str
    call_control_id: str
    format: str
    channels: str
    started_ms: int
    url: str
    ended_ms: int | None = None


class Recorder(RecorderBase):
    """Checks ``record_start`` and reports each recording once its call ended."""

    def check(self, call: SimCall, body: dict[str, Any]) -> Callable[[], None]:
        """Validate a ``record_start`` (raise ``ApiFailure``); return what starts it."""
        values = {}
        for name, allowed in (("format", FORMATS), ("channels", CHANNELS)):
            value = body.get(name)
            if value is None:
                raise api.invalid(f"The '{name}' parameter is required.", f"/{name}", "10004",
                                  "Missing required parameter")
            if value not in allowed:
                raise api.invalid(f"{name} must be one of {', '.join(allowed)}.", f"/{name}")
            values[name] = value
        return lambda: self._start(call, values["format"], values["channels"])

    def _start(self, call: SimCall, file_format: str, channels: str) -> None:
        recording_id = str(uuid.uuid4())
        recording = SimRecording(
            recording_id=recording_id, call_control_id=call.call_control_id,
            format=file_format, channels=channels, started_ms=self._clock_ms(),
            url=f"{self._base_url()}/recordings/{recording_id}.{file_format}")
        self._keep(call.call_control_id, call, recording, self._saved_after_end)

    async def _saved_after_end(self, call: SimCall, recording: SimRecording) -> None:
        await self._wait_ended(call.call_control_id)
        recording.ended_ms = call.ended_ms or self._clock_ms()
        urls = {recording.format: recording.url}
        payload = {
            "call_control_id": call.call_control_id, "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id, "client_state": call.client_state,
            "connection_id": call.connection_id, "channels": recording.channels,
            "recording_started_at": iso8601(recording.started_ms),
            "recording_ended_at": iso8601(recording.ended_ms),
            "recording_urls": urls, "public_recording_urls": dict(urls)}
        delivery = await self._sender.deliver(
            call.webhook_url, event_type="call.recording.saved", event_id=str(uuid.uuid4()),
            occurred_at=iso8601(self._clock_ms()), payload=payload)
        call.webhooks.append(delivery)
        self._on_change()
