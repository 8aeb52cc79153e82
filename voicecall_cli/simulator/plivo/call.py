"""The fake Plivo's records: the simulated person (:class:`CalleeScript`), one simulated call
(:class:`SimCall`), one webhook it sent (:class:`WebhookDelivery`), one ``<Stream>`` it reached
(:class:`StreamRequest`) and the hang-up causes it reports (:data:`CAUSES`). Plain data, no I/O.

A test reads these to check what Plivo "saw": the status history, the ``<Speak>`` texts, every
XML document and the rules it broke (``xml_errors``), the GetInput actions, transfers, REST
hang-ups, the stream requests, and every webhook with its exact bytes, signature headers and
HTTP result. The call runner and the simulator write them; nothing else should.

Numbers are kept as Plivo writes them in webhooks: digits without a leading ``+``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from voicecall_cli.simulator.caller import ScriptedCallee

TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "cancel", "timeout"})
LIVE_STATUSES = frozenset({"ringing", "in-progress"})


@dataclass(frozen=True, slots=True)
class Cause:
    """How a call ended, as Plivo reports it: ``HangupCause`` (the telephony cause),
    ``HangupCauseName`` and ``HangupCauseCode`` (Plivo's own table)."""

    cause: str
    name: str
    code: int


# Plivo's hang-up causes by a short key. Application errors (unreachable URLs, invalid XML)
# keep the telephony cause NORMAL_CLEARING; the name, the code and HangupSource "Error" say
# what went wrong.
CAUSES: dict[str, Cause] = {
    "normal": Cause("NORMAL_CLEARING", "Normal Hangup", 4000),
    "end_of_xml": Cause("NORMAL_CLEARING", "End Of XML Instructions", 4010),
    "canceled": Cause("ORIGINATOR_CANCEL", "Canceled", 1000),
    "out_of_service": Cause("DESTINATION_OUT_OF_ORDER", "Destination Out Of Service", 2010),
    "no_answer": Cause("NO_ANSWER", "No Answer", 3000),
    "busy": Cause("USER_BUSY", "Busy Line", 3010),
    "rejected": Cause("CALL_REJECTED", "Rejected", 3020),
    "scheduled": Cause("NORMAL_CLEARING", "Scheduled Hangup", 6000),
    "ring_timeout": Cause("NO_ANSWER", "Ring Timeout Reached", 6010),
    "answer_url": Cause("NORMAL_CLEARING", "Error Reaching Answer URL", 7011),
    "action_url": Cause("NORMAL_CLEARING", "Error Reaching Action URL", 7012),
    "transfer_url": Cause("NORMAL_CLEARING", "Error Reaching Transfer URL", 7013),
    "redirect_url": Cause("NORMAL_CLEARING", "Error Reaching Redirect URL", 7014),
    "answer_xml": Cause("NORMAL_CLEARING", "Invalid Answer XML", 8011),
    "action_xml": Cause("NORMAL_CLEARING", "Invalid Action XML", 8012),
    "transfer_xml": Cause("NORMAL_CLEARING", "Invalid Transfer XML", 8013),
    "redirect_xml": Cause("NORMAL_CLEARING", "Invalid Redirect XML", 8014),
}

# CallStatus -> the detail record's call_state.
CALL_STATES = {"completed": "ANSWER", "busy": "BUSY", "no-answer": "NO_ANSWER",
               "timeout": "NO_ANSWER", "cancel": "CANCEL", "failed": "FAILED"}


@dataclass(slots=True)
class CalleeScript(ScriptedCallee):
    """What the simulated person on the other end does. Times are seconds (real clock).

    * ``answer``: ``True`` picks up ``ring_delay_s`` (queued -> ringing) plus ``answer_delay_s``
      after the dial (a pick-up later than the call's ring timeout ends it ``timeout`` at the
      timeout); ``"busy"``, ``"no-answer"`` or ``"failed"`` end it at that moment instead.
      Inbound calls ignore it: the app's answer URL answers them.
    * ``replies``: said in turn, one per ``<GetInput>`` that listens for speech, reply_delay_s
      after its prompt finished (``barge_in``: after the GetInput began, cutting the prompt
      short). A reply later than the GetInput's ``executionTimeout`` is not heard (kept for the
      next one). On a media stream (``stream_audio``) the replies are bursts of audio instead.
    * ``hangup_after_replies``: after that many replies the callee hangs up, ``reply_delay_s``
      after the last one; ``hangup_after_s``: the callee hangs up that long after answering.
    * ``say_seconds_per_char``: how long ``<Speak>`` takes, per character (times ``loop``);
      ``play_seconds``: how long one ``<Play>`` takes.
    * ``stream_audio``: on a ``<Stream>``, be the caller: connect, send silence at real-time
      pace and a tone of ``reply_seconds`` for each bot utterance but the first (the
      greeting), ``reply_delay_s`` after its checkpoint came back as ``playedStream``.
    """

    confidence: float = 0.91
    play_seconds: float = 0.02
    hangup_after_s: float | None = None
    barge_in: bool = False


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One signed request the simulator made to the app, and what came back.

    ``kind`` says why (``ring``, ``answer``, ``fallback``, ``action``, ``transfer``,
    ``redirect``, ``hangup``, ``stream``); ``url`` is the URL the app gave (and the one
    signed); ``request_url`` the URL as requested (a GET carries the params in its query);
    ``body`` the exact form body sent (empty for GET); ``headers`` the request headers,
    signatures included. ``status_code`` is None when no HTTP response arrived; ``error`` then
    says why (connection refused, timeout, a URL the simulator refuses to call).
    """

    kind: str
    url: str
    request_url: str
    method: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status_code: int | None
    response_body: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def event(self) -> str | None:
        return self.params.get("Event")


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """A ``<Stream>`` the call reached: where Plivo opens the media websocket, and how (the
    element's settings, defaults applied). ``stream_id`` is the id Plivo gives it."""

    url: str
    stream_id: str
    bidirectional: bool = False
    audio_track: str = "inbound"
    stream_timeout_s: int = 86400
    status_callback_url: str | None = None
    status_callback_method: str = "POST"
    content_type: str = "audio/x-l16;rate=8000"
    extra_headers: str = ""
    keep_call_alive: bool = False
    noise_cancellation: bool = False
    noise_cancellation_level: int = 85


@dataclass(slots=True)
class SimCall:
    """One call as the fake Plivo knows it (keyed by ``call_uuid`` in the simulator's
    ``calls``).

    ``status`` follows Plivo's CallStatus: ``queued`` (outbound, known by its request uuid
    only), ``ringing``, ``in-progress``, then one of :data:`TERMINAL_STATUSES`;
    ``status_history`` lists them. The CallUUID is made at the dial but the app learns it (and
    the REST API finds the call by it) only once the call rings.
    """

    call_uuid: str
    request_uuid: str | None  # outbound calls only
    direction: Literal["outbound", "inbound"]
    from_: str
    to: str
    caller_name: str
    answer_url: str
    answer_method: str = "POST"
    ring_url: str | None = None
    ring_method: str = "POST"
    hangup_url: str | None = None
    hangup_method: str = "POST"
    fallback_url: str | None = None
    fallback_method: str = "POST"
    ring_timeout_s: int = 120
    time_limit_s: int | None = None
    status: str = "queued"
    status_history: list[str] = field(default_factory=list)
    cause: Cause | None = None
    hangup_source: str | None = None
    spoken: list[str] = field(default_factory=list)  # every <Speak> text run, in order
    # answering-machine detection the dial asked for (machine_detection, its URL and method)
    machine_detection: str | None = None
    machine_detection_url: str | None = None
    machine_detection_method: str = "POST"
    greeting_playing: bool = False  # a machine's greeting plays (before its beep)
    spoken_over_greeting: list[str] = field(default_factory=list)  # <Speak> texts begun then
    played: list[str] = field(default_factory=list)  # every <Play> URL run
    documents: list[str] = field(default_factory=list)  # every XML document received
    xml_errors: list[str] = field(default_factory=list)  # Plivo's XML rules the app broke
    unsupported_elements: list[str] = field(default_factory=list)  # valid, not simulated
    get_inputs: list[str] = field(default_factory=list)  # the action URL of each <GetInput>
    replies: list[str] = field(default_factory=list)  # what the callee said, in order
    digits: list[str] = field(default_factory=list)  # DTMF input delivered to GetInput actions
    dtmf_sent: list[str] = field(default_factory=list)  # keys the app sent (REST DTMF API)
    listening_keys: bool = False  # a <GetInput> with dtmf input is running (prompt included)
    transfers: list[str] = field(default_factory=list)  # aleg_url of each REST transfer
    redirects: list[str] = field(default_factory=list)  # each <Redirect> URL
    streams: list[StreamRequest] = field(default_factory=list)  # each <Stream> reached
    hangups: int = 0  # REST hang-ups (DELETE Call, DELETE Request) that ended or cancelled it
    webhooks: list[WebhookDelivery] = field(default_factory=list)  # every request, in order
    errors: list[str] = field(default_factory=list)  # what went wrong, in words
    created_ms: int = 0
    ringing_ms: int | None = None
    answered_ms: int | None = None
    ended_ms: int | None = None
    ended_on_carrier: bool = False  # ended by the test hook: no webhook sent

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def answered(self) -> bool:
        return self.answered_ms is not None

    @property
    def revealed(self) -> bool:
        """Whether the CallUUID is known outside (the call has rung)."""
        return self.ringing_ms is not None

    @property
    def stream(self) -> StreamRequest | None:
        """The latest ``<Stream>`` reached."""
        return self.streams[-1] if self.streams else None

    @property
    def events(self) -> list[str]:
        """The ``Event`` of every webhook, in order (``""`` where there is none)."""
        return [delivery.event or "" for delivery in self.webhooks]

    def deliveries(self, kind: str) -> list[WebhookDelivery]:
        return [delivery for delivery in self.webhooks if delivery.kind == kind]

    @property
    def duration_s(self) -> int:
        """Seconds from answer to end (0 when never answered), Plivo's ``Duration``."""
        if self.answered_ms is None or self.ended_ms is None:
            return 0
        return max(0, round((self.ended_ms - self.answered_ms) / 1000))

    @property
    def bill_duration_s(self) -> int:
        """``BillDuration``: the duration rounded up to whole minutes (60 s billing blocks)."""
        return -(-self.duration_s // 60) * 60
