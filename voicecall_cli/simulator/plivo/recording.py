"""The fake Plivo's call recordings (the Record API).

``POST /v1/Account/<auth_id>/Call/<call_uuid>/Record/`` starts recording an answered call
(202 ``{"api_id", "message": "call recording started", "recording_id", "url"}``). Optional
parameters as Plivo takes them: ``time_limit`` (seconds, default 60: the recording stops
then), ``file_format`` (``mp3`` default, or ``wav``), ``callback_url`` and
``callback_method`` (POST default, or GET). When the recording ends (at the hang-up, or at
its time limit) the callback, signed like every request Plivo makes, carries ``api_id``,
``record_url``, ``call_uuid``, ``recording_id``, ``recording_duration`` (seconds),
``recording_duration_ms``, ``recording_start_ms`` and ``recording_end_ms`` (epoch ms). Here
it is made once the call ended (its hangup request first).

Resource handling: the callback tasks run in the simulator's nursery and die with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from voicecall_cli.simulator.plivo import api
from voicecall_cli.simulator.plivo.api import ApiFailure
from voicecall_cli.simulator.plivo.call import SimCall, WebhookDelivery
from voicecall_cli.simulator.recordings import RecorderBase, RecordingSpan

DEFAULT_TIME_LIMIT_S = 60
FORMATS = ("mp3", "wav")


@dataclass(slots=True)
class SimRecording(RecordingSpan):
    """One recording the fake Plivo made (``PlivoSimulator.recordings``, by CallUUID)."""

    recording_id: str
    api_id: str
    call_uuid: str
    url: str
    time_limit_s: int
    callback_url: str | None
    callback_method: str
    started_ms: int
    ended_ms: int | None = None
    callbacks: list[WebhookDelivery] = field(default_factory=list)


class Recorder(RecorderBase):
    """Starts recordings and reports each one once its call ended."""

    def start(self, call: SimCall, body: dict[str, Any]) -> dict[str, Any]:
        if not call.answered:
            raise ApiFailure(400, "call is not answered")
        time_limit = api.seconds(body, "time_limit", DEFAULT_TIME_LIMIT_S)
        assert time_limit is not None
        file_format = api.text(body, "file_format") or "mp3"
        if file_format not in FORMATS:
            raise ApiFailure(400, "file_format must be mp3 or wav")
        recording_id = str(uuid.uuid4())
        recording = SimRecording(
            recording_id=recording_id, api_id=api.api_id(), call_uuid=call.call_uuid,
            url=f"{self._base_url()}/recordings/{recording_id}.{file_format}",
            time_limit_s=time_limit, callback_url=api.url(body, "callback_url"),
            callback_method=api.method(body, "callback_method"), started_ms=self._clock_ms())
        self._keep(call.call_uuid, call, recording, self._report_after_end)
        self._on_change()
        return {"api_id": recording.api_id, "message": "call recording started",
                "recording_id": recording_id, "url": recording.url}

    async def _report_after_end(self, call: SimCall, recording: SimRecording) -> None:
        await self._wait_ended(call.call_uuid)
        end = call.ended_ms or self._clock_ms()
        recording.ended_ms = min(end, recording.started_ms + recording.time_limit_s * 1000)
        self._on_change()
        if recording.callback_url is None:
            return
        params = {
            "api_id": recording.api_id, "record_url": recording.url,
            "call_uuid": recording.call_uuid, "recording_id": recording.recording_id,
            "recording_duration": str(recording.duration_s),
            "recording_duration_ms": str(recording.duration_ms),
            "recording_start_ms": str(recording.started_ms),
            "recording_end_ms": str(recording.ended_ms)}
        delivery = await self._sender.deliver("recording", recording.callback_url,
                                              recording.callback_method, params)
        recording.callbacks.append(delivery)
        call.webhooks.append(delivery)
        self._on_change()
