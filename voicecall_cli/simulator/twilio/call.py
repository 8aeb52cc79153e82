"""The fake Twilio's records: the simulated person (:class:`CalleeScript`), one simulated call
(:class:`SimCall`) and one webhook it sent (:class:`WebhookDelivery`). Plain data, no I/O.

A test reads these to check what Twilio "saw": the status history, the Say texts, every TwiML
document, the Gather action URLs, the media stream request, REST hang-ups and the status
callbacks with their HTTP results. :class:`~voicecall_cli.simulator.twilio.runner.CallRunner`
writes them; nothing else should.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicecall_cli.simulator.caller import ScriptedCallee

TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


@dataclass(slots=True)
class CalleeScript(ScriptedCallee):
    """What the simulated person on the other end does. Times are seconds (real clock).

    * ``answer``: ``True`` picks up after ``ring_delay_s + answer_delay_s`` (a pick-up later than
      the call's ring ``Timeout`` ends the call ``no-answer`` at the timeout); ``"busy"``,
      ``"no-answer"`` or ``"failed"`` end the call with that status at the same moment.
    * ``replies``: said in turn, one per ``<Gather input="speech">``, ``reply_delay_s`` after
      the Gather's prompt finished. Once they run out the callee stays silent (the Gather times
      out and the TwiML falls through to its next verb).
    * ``hangup_after_replies``: after that many replies the callee hangs up, ``reply_delay_s``
      after the last one was delivered.
    * ``say_seconds_per_char``: how long a ``<Say>`` takes to speak, per character.
    * ``stream_audio``: over a ``<Connect><Stream>``, connect as Twilio's media client, send
      silence at Twilio's pace, and answer each bot utterance but the first (the greeting)
      with a burst of speech (a tone of ``reply_seconds``) ``reply_delay_s`` after its mark
      came back.
    """



@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One signed webhook the simulator sent and what came back.

    ``status_code`` is None when no HTTP response arrived; ``error`` then says why (connection
    refused, timeout, a URL the simulator refuses to call).
    """

    url: str
    params: dict[str, str]
    status_code: int | None
    body: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """A ``<Connect><Stream>`` the call reached: where Twilio would open the media websocket."""

    url: str
    parameters: dict[str, str]

    @property
    def token(self) -> str | None:
        return self.parameters.get("token")


@dataclass(slots=True)
class SimCall:
    """One call as the fake Twilio knows it (keyed by ``sid`` in ``TwilioSimulator.calls``)."""

    sid: str
    direction: str  # "outbound-api" | "inbound"
    from_: str
    to: str
    url: str | None  # the voice URL: the outbound call's Url, the inbound call's webhook
    status_callback: str | None = None
    status_callback_events: tuple[str, ...] = ("completed",)
    timeout_s: int = 60
    status: str = "queued"
    status_history: list[str] = field(default_factory=list)
    spoken: list[str] = field(default_factory=list)  # every <Say> text, in order
    played: list[str] = field(default_factory=list)  # every <Play> URL
    twiml: list[str] = field(default_factory=list)  # every TwiML document received, in order
    gather_actions: list[str] = field(default_factory=list)  # absolute action URL per <Gather>
    replies: list[str] = field(default_factory=list)  # SpeechResults the callee gave
    digits_played: list[str] = field(default_factory=list)  # every <Play digits>, as written
    digits: list[str] = field(default_factory=list)  # Digits the callee gave a <Gather>
    listening_keys: bool = False  # a <Gather> with dtmf input is running (prompt included)
    stream: StreamRequest | None = None
    queue: str | None = None  # the <Enqueue> queue name once the call was queued
    queue_results: list[str] = field(default_factory=list)  # how it left: redirected, hangup
    unsupported_verbs: list[str] = field(default_factory=list)
    hangups: int = 0  # REST updates with Status=completed
    webhooks: list[WebhookDelivery] = field(default_factory=list)  # voice URL, Redirect, action
    callbacks: list[WebhookDelivery] = field(default_factory=list)  # status callbacks
    errors: list[str] = field(default_factory=list)  # what went wrong (bad TwiML, failed fetch)
    # answering-machine detection the dial asked for (MachineDetection, AsyncAmdStatusCallback)
    machine_detection: str | None = None
    amd_callback: str | None = None
    answered_by: str | None = None  # the AnsweredBy reported (the call resource's answered_by)
    amd_callbacks: list[WebhookDelivery] = field(default_factory=list)
    greeting_playing: bool = False  # a machine's greeting plays (before its beep)
    spoken_over_greeting: list[str] = field(default_factory=list)  # <Say> texts begun then
    created_ms: int = 0
    answered_ms: int | None = None
    ended_ms: int | None = None

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def answered(self) -> bool:
        return self.answered_ms is not None

    @property
    def duration_s(self) -> int:
        """Seconds from answer to end (0 when never answered), as Twilio's CallDuration."""
        if self.answered_ms is None or self.ended_ms is None:
            return 0
        return max(0, round((self.ended_ms - self.answered_ms) / 1000))

    @property
    def callback_statuses(self) -> list[str]:
        """CallStatus of each status callback sent, in order."""
        return [delivery.params.get("CallStatus", "") for delivery in self.callbacks]
