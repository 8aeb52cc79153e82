"""The fake Twilio's call recordings (the Recordings resource of a call).

``POST /2010-04-01/Accounts/<AccountSid>/Calls/<CallSid>/Recordings.json`` starts recording an
in-progress call (anything else: 400, error 21220). Form fields as Twilio takes them:
``RecordingChannels`` (``mono`` default, or ``dual``), ``RecordingStatusCallback``,
``RecordingStatusCallbackEvent`` (space-separated ``in-progress completed absent``; default
``completed``), ``RecordingStatusCallbackMethod`` (POST only here). The answer is the
recording resource (201, status ``in-progress``).

When the call ends (after its own ``completed`` status callback), the recording completes and,
if ``completed`` was asked for, its status callback is POSTed signed like every webhook:
``AccountSid``, ``CallSid``, ``RecordingSid``, ``RecordingUrl``, ``RecordingStatus=completed``,
``RecordingDuration`` (seconds), ``RecordingChannels`` (1 or 2), ``RecordingStartTime``,
``RecordingSource=StartCallRecordingAPI``, ``RecordingTrack=both``.

Resource handling: the callback tasks run in the simulator's nursery and die with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import trio

from voicecall_cli.simulator.recordings import RecorderBase, RecordingSpan
from voicecall_cli.simulator.twilio.api import ApiFailure
from voicecall_cli.simulator.twilio.call import SimCall, WebhookDelivery
from voicecall_cli.simulator.twilio.webhooks import API_VERSION, WebhookSender, rfc2822

CHANNELS = {"mono": 1, "dual": 2}
CALLBACK_EVENTS = ("in-progress", "completed", "absent")


@dataclass(slots=True)
class SimRecording(RecordingSpan):
    """One recording the fake Twilio made (``TwilioSimulator.recordings``, by CallSid)."""

    sid: str
    call_sid: str
    channels: int
    status_callback: str | None
    status_callback_events: tuple[str, ...]
    started_ms: int
    url: str
    status: str = "in-progress"
    ended_ms: int | None = None
    callbacks: list[WebhookDelivery] = field(default_factory=list)


class Recorder(RecorderBase):
    """Starts recordings and reports them when their call ended (see the module docstring)."""

    def __init__(self, *, account_sid: str, sender: WebhookSender, nursery: trio.Nursery,
                 clock_ms: Callable[[], int], base_url: Callable[[], str],
                 wait_ended: Callable[[str], Awaitable[SimCall]],
                 on_change: Callable[[], None]) -> None:
        super().__init__(sender=sender, nursery=nursery, clock_ms=clock_ms, base_url=base_url,
                         wait_ended=wait_ended, on_change=on_change)
        self._account_sid = account_sid

    def start(self, call: SimCall, form: Mapping[str, list[str]]) -> dict[str, Any]:
        if call.status != "in-progress":
            raise ApiFailure(400, 21220, "Call is not in-progress. Cannot start recording.")
        channels = _first(form, "RecordingChannels") or "mono"
        if channels not in CHANNELS:
            raise ApiFailure(400, 21201, "RecordingChannels must be mono or dual")
        method = (_first(form, "RecordingStatusCallbackMethod") or "POST").upper()
        if method != "POST":
            raise ApiFailure(400, 21201, "only POST status callbacks are simulated")
        events = tuple(word for value in form.get("RecordingStatusCallbackEvent", [])
                       for word in value.split())
        if any(word not in CALLBACK_EVENTS for word in events):
            raise ApiFailure(400, 21201, "RecordingStatusCallbackEvent must be in-progress, "
                                         "completed or absent")
        sid = "RE" + uuid.uuid4().hex
        recording = SimRecording(
            sid=sid, call_sid=call.sid, channels=CHANNELS[channels],
            status_callback=_first(form, "RecordingStatusCallback"),
            status_callback_events=events or ("completed",), started_ms=self._clock_ms(),
            url=f"{self._base_url()}/{API_VERSION}/Accounts/{self._account_sid}/Recordings/"
                f"{sid}")
        self._keep(call.sid, call, recording, self._complete_after_end)
        self._on_change()
        return self.resource(recording)

    def resource(self, recording: SimRecording) -> dict[str, Any]:
        return {
            "account_sid": self._account_sid, "api_version": API_VERSION,
            "call_sid": recording.call_sid, "conference_sid": None, "sid": recording.sid,
            "date_created": rfc2822(recording.started_ms),
            "date_updated": rfc2822(recording.ended_ms or recording.started_ms),
            "start_time": rfc2822(recording.started_ms),
            "duration": str(recording.duration_s) if recording.ended_ms else None,
            "status": recording.status, "channels": recording.channels,
            "source": "StartCallRecordingAPI", "track": "both", "error_code": None,
            "price": None, "price_unit": "USD", "encryption_details": None,
            "uri": f"/{API_VERSION}/Accounts/{self._account_sid}/Calls/{recording.call_sid}/"
                   f"Recordings/{recording.sid}.json",
        }

    async def _complete_after_end(self, _call: SimCall, recording: SimRecording) -> None:
        call = await self._wait_ended(recording.call_sid)
        recording.ended_ms = call.ended_ms or self._clock_ms()
        recording.status = "completed"
        self._on_change()
        url = recording.status_callback
        if url is None or "completed" not in recording.status_callback_events:
            return
        params = {
            "AccountSid": self._account_sid, "CallSid": recording.call_sid,
            "RecordingSid": recording.sid, "RecordingUrl": recording.url,
            "RecordingStatus": "completed", "RecordingDuration": str(recording.duration_s),
            "RecordingChannels": str(recording.channels),
            "RecordingStartTime": rfc2822(recording.started_ms),
            "RecordingSource": "StartCallRecordingAPI", "RecordingTrack": "both",
        }
        recording.callbacks.append(await self._sender.post(url, params))
        self._on_change()


def _first(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None
