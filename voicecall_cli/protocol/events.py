"""The event stream of ``GET /v1/events`` (NDJSON), shared by the daemon and ``voicecall tail``.

Every line is one JSON object with a ``type``. Stream control lines:

* ``{"type": "snapshot", "cursor": N, "calls": [call, ...]}`` first, once: the active calls and
  the newest cursor at the moment of subscription (nothing falls between it and the events).
* ``{"type": "heartbeat", "cursor": N, "ts": ms}`` once right after the replayed backlog
  (the reader has caught up), then while idle (every :data:`HEARTBEAT_S`).
* ``{"type": "lagged", "cursor": N}`` last, when the subscriber fell too far behind and was
  dropped; resume with ``since=N``.

Every other line is a stored event: ``{"cursor": N, "ts": ms, "callId": id|null, "type": T,
"data": {...}}`` with a strictly increasing ``cursor`` that ``tail --since`` resumes after.
"""

from __future__ import annotations

SNAPSHOT = "snapshot"
HEARTBEAT = "heartbeat"
LAGGED = "lagged"
STREAM_CONTROL_TYPES = frozenset({SNAPSHOT, HEARTBEAT, LAGGED})

HEARTBEAT_S = 15.0

# Stored event types (``data`` keys in brackets).
CALL_CREATED = "call.created"  # {direction, from, to, mode, provider}
CALL_DIALLED = "call.dialled"  # {providerCallId}: the carrier accepted the outbound call
CALL_STATE = "call.state"  # {state, previous}
CALL_TRANSCRIPT = "call.transcript"  # {speaker: bot|user, text, isFinal}
CALL_TURN = "call.turn"  # {turn, latencyMs, listenWaitMs}
CALL_LATENCY = "call.latency"  # {transcriptMs: 0, replyMs, audioMs}: an auto-reply's waterfall
CALL_DTMF = "call.dtmf"  # {digits, direction: in|out}: keys the caller pressed / we sent
CALL_ENDED = "call.ended"  # {reason}
CALL_ERROR = "call.error"  # {message}
# {url, durationSec}: the carrier's recording of the call (opt-in; usually after the end)
CALL_RECORDING = "call.recording"
# {answeredBy, greetingEnded?}: answering-machine detection's result (and a machine's beep)
CALL_ANSWERED_BY = "call.answered_by"
CALL_REJECTED = "call.rejected"  # {from, to, policy}: inbound caller refused, hung up once
# {rail, to, reason, origin} (callId null): an outbound call an outbound rail refused to dial
CALL_REFUSED = "call.refused"
CALL_RESTORED = "call.restored"  # {state}: kept after a daemon restart
CALL_STREAM = "call.stream"  # {event: started|stopped, streamSid}: the carrier's media stream
# {status: ok|failed|retrying, kind: command|url, attempt, error?}: the post-call hook's outcome
CALL_HOOK = "call.hook"
# {event: connected|reconnecting|resumed|interrupted|end_call|fallback|failed, ...}: a call's
# realtime speech-to-speech session (reason, model, playedMs: what the caller heard of an
# interrupted reply)
CALL_REALTIME = "call.realtime"
DAEMON_STARTED = "daemon.started"  # {pid, version, provider, webhookUrl}
DAEMON_STOPPING = "daemon.stopping"  # {}
# {applied: [keys], needsRestart: [keys]}: the config file was read again (daemon reload, SIGHUP)
DAEMON_RELOADED = "daemon.reloaded"
# {mode: funnel|serve|off|ngrok, tunnel, localUrl, publicUrl, webhookUrl, streamUrl}: where
# carriers reach the daemon now (at start with a tunnel, and after each ``expose``)
DAEMON_EXPOSED = "daemon.exposed"
DAEMON_TUNNEL_DOWN = "daemon.tunnel_down"  # {tunnel, error}: a running tunnel died

SINCE_ALL = "all"
