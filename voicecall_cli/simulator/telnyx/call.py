"""The fake Telnyx's records: the simulated person (:class:`CalleeScript`), one simulated call
(:class:`SimCall`), one command it received (:class:`Command`), one webhook delivery
(:class:`WebhookDelivery`) and one media stream request (:class:`StreamRequest`). Plain data,
no I/O.

A test reads these to check what Telnyx "saw": the state history, the spoken texts, every
command with its body, the commands that were duplicates of an earlier ``command_id``, REST
hang-ups, the webhooks with their exact bytes and HTTP results, the stream request. The
:class:`~voicecall_cli.simulator.telnyx.runner.CallRunner` and the simulator write them;
nothing else should.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from voicecall_cli.simulator.caller import ScriptedCallee

# hangup_cause -> sip_hangup_cause in call.hangup ("unspecified" where no SIP response ends it).
SIP_HANGUP_CAUSES: dict[str, str] = {
    "normal_clearing": "unspecified",
    "originator_cancel": "487",
    "call_rejected": "603",
    "user_busy": "486",
    "timeout": "480",
    "destination_out_of_order": "502",
}


@dataclass(slots=True)
class CalleeScript(ScriptedCallee):
    """What the simulated person on the other end does. Times are seconds (real clock).

    * ``answer``: ``True`` picks up after ``ring_delay_s + answer_delay_s`` (a pick-up later than
      the dial's ``timeout_secs`` ends the call with ``hangup_cause`` ``timeout`` at the
      timeout); ``"busy"`` (``user_busy``), ``"no-answer"`` (``timeout``) or ``"failed"``
      (``destination_out_of_order``) end it at that same moment instead. Inbound calls ignore
      it: the app answers them.
    * ``replies``: said in turn. Without a media stream, each ``transcription_start`` makes
      the callee say its next reply ``reply_delay_s`` after any speech in progress (``speak``)
      has ended, delivered as ``call.transcription`` webhooks (with ``partials``, first one
      ``is_final: false`` with the first half of the words) while transcription is on.
    * ``hangup_after_replies``: after that many replies the callee hangs up, ``reply_delay_s``
      after the last one was delivered.
    * ``say_seconds_per_char``: how long a ``speak`` takes, per character.
    * ``stream_audio``: on a media stream, be the caller: silence at real-time pace, and a tone
      of ``reply_seconds`` for each bot utterance but the first (the greeting),
      ``reply_delay_s`` after its mark came back. ``reorder_every``: swap two adjacent media
      frames every that many frames, as Telnyx does not guarantee frame order (None: never).
    """

    partials: bool = True
    reorder_every: int | None = 50

    def __post_init__(self) -> None:
        ScriptedCallee.__post_init__(self)
        if self.reorder_every is not None and self.reorder_every < 2:
            raise ValueError("reorder_every must be at least 2 (or None)")


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One signed webhook POST the simulator made and what came back.

    ``body`` is the exact bytes sent (and signed); ``headers`` the request headers.
    ``status_code`` is None when no HTTP response arrived; ``error`` then says why (connection
    refused, timeout, a URL the simulator refuses to call, no webhook URL).
    """

    url: str | None
    event_type: str
    event_id: str
    attempt: int
    body: bytes
    headers: dict[str, str]
    status_code: int | None
    response_body: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def data(self) -> dict[str, Any]:
        """The decoded ``data`` object (event_type, id, occurred_at, payload)."""
        return json.loads(self.body)["data"]

    @property
    def payload(self) -> dict[str, Any]:
        return self.data["payload"]


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """Where Telnyx would open the media websocket for a call, and how (from the ``stream_*``
    fields of dial, answer or streaming_start)."""

    url: str
    token: str | None = None
    track: str = "inbound_track"
    codec: str | None = None
    bidirectional_mode: str | None = None
    bidirectional_codec: str = "PCMU"
    bidirectional_sampling_rate: int = 8000
    bidirectional_target_legs: str | None = None

    @property
    def bidirectional(self) -> bool:
        """Whether audio sent back on the socket is played (RTP mode)."""
        return self.bidirectional_mode == "rtp"


@dataclass(frozen=True, slots=True)
class Command:
    """One call command received (``dial`` included): the action name and its JSON body."""

    action: str
    body: dict[str, Any]
    duplicate: bool = False  # a command_id executed before on this call: not run again
    error: str | None = None  # the Telnyx error code it was refused with (not executed)

    @property
    def command_id(self) -> str | None:
        value = self.body.get("command_id")
        return value if isinstance(value, str) else None


@dataclass(slots=True)
class SimCall:
    """One call as the fake Telnyx knows it (keyed by ``call_control_id``).

    ``state`` follows the webhooks' ``state``: ``bridging`` (outgoing) or ``parked``
    (incoming) at first, then ``answered``, then ``hangup``; ``status_history`` lists them.
    """

    call_control_id: str
    call_leg_id: str
    call_session_id: str
    direction: Literal["incoming", "outgoing"]
    from_: str
    to: str
    connection_id: str
    webhook_url: str | None  # read at each event: a test may re-point it (a moved daemon)
    timeout_s: int = 30
    client_state: str | None = None
    state: str = "bridging"
    status_history: list[str] = field(default_factory=list)
    hangup_cause: str | None = None
    hangup_source: str | None = None
    spoken: list[str] = field(default_factory=list)  # every speak payload executed, in order
    commands: list[Command] = field(default_factory=list)  # all, duplicates and refused too
    duplicate_commands: list[Command] = field(default_factory=list)
    command_ids: set[str] = field(default_factory=set)
    hangups: int = 0  # hangup commands executed
    replies: list[str] = field(default_factory=list)  # what the callee said, in order
    transcribing: bool = False
    stream: StreamRequest | None = None  # the latest stream request
    dtmf_sent: list[str] = field(default_factory=list)  # send_dtmf digits, in order
    ignored_params: dict[str, Any] = field(default_factory=dict)  # unknown dial keys
    answering_machine_detection: str | None = None  # the dial's: detect | detect_beep
    greeting_playing: bool = False  # a machine's greeting plays (before its beep)
    spoken_over_greeting: list[str] = field(default_factory=list)  # speak texts begun then
    webhooks: list[WebhookDelivery] = field(default_factory=list)  # every attempt, in order
    errors: list[str] = field(default_factory=list)
    created_ms: int = 0
    answered_ms: int | None = None
    ended_ms: int | None = None
    ended_on_carrier: bool = False  # ended by the test hook, no webhook sent

    @property
    def ended(self) -> bool:
        return self.state == "hangup"

    @property
    def answered(self) -> bool:
        return self.answered_ms is not None

    @property
    def event_types(self) -> list[str]:
        """The event type of every webhook delivery attempt, in order."""
        return [delivery.event_type for delivery in self.webhooks]

    def duration_s(self, now_ms: int) -> int:
        """Seconds from the call's start to its end (or ``now_ms`` while it lasts)."""
        end = self.ended_ms if self.ended_ms is not None else now_ms
        return max(0, round((end - self.created_ms) / 1000))
