"""``voicecall.latency``'s answer, computed from stored events: pure functions, stdlib only.

Two kinds of turn are measured (both stored as events by the daemon):

* an auto-reply on a media stream, a ``call.latency`` event whose data are the turn's marks in
  ms from its start (:data:`STAGES`: the caller's end of speech when known, the final
  transcript, the model's first token, its first sentence, the first synthesised byte and the
  first audio handed to the stream; a realtime voice turn has the request to the model,
  ``requestMs``, and its first audio, ``modelAudioMs``, in place of the middle ones);
* an agent's ``continue`` turn, a ``call.turn`` event (``latencyMs``: from the request to the
  caller's answer; ``listenWaitMs``: from listening to the answer).

:func:`latency_result` turns the events (oldest first) into the rows and the summary: for each
stage, ``count``, ``minMs``, ``maxMs``, ``avgMs`` and the percentiles ``p50Ms``/``p95Ms`` by the
reference's rule, :func:`percentile`. With no events every figure is 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from voicecall_cli.protocol.events import CALL_LATENCY, CALL_TURN

STAGES = ("endOfSpeechMs", "transcriptMs", "requestMs", "firstTokenMs", "replyMs",
          "firstTtsByteMs", "modelAudioMs", "audioMs")
AGENT_MEASURES = ("latencyMs", "listenWaitMs")
PERCENTILES = (50, 95)


def percentile(values: Sequence[int | float], p: float) -> int | float:
    """The reference's percentile: ``sorted(values)[ceil(p / 100 * n) - 1]``; 0 for no values.

    ``p`` is in (0, 100]; the result is always one of ``values`` (no interpolation)."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {p!r}")
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def stats(values: Sequence[int | float]) -> dict[str, int | float]:
    """``{count, minMs, maxMs, avgMs, p50Ms, p95Ms}`` of ``values`` (all 0 when empty);
    ``avgMs`` is rounded to a whole millisecond."""
    if not values:
        return {"count": 0, "minMs": 0, "maxMs": 0, "avgMs": 0,
                **{f"p{p}Ms": 0 for p in PERCENTILES}}
    return {"count": len(values), "minMs": min(values), "maxMs": max(values),
            "avgMs": round(sum(values) / len(values)),
            **{f"p{p}Ms": percentile(values, p) for p in PERCENTILES}}


def _ms(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _row(event: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    data = event.get("data")
    if not isinstance(data, Mapping):
        data = {}
    row: dict[str, Any] = {"cursor": event.get("cursor"), "ts": event.get("ts"),
                           "callId": event.get("callId")}
    row.update({name: data[name] for name in names if _ms(data.get(name))})
    return row


def latency_result(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The answer to ``voicecall.latency`` from stored events, oldest first (others ignored):

    ``{"turns": [{cursor, ts, callId, <stage>: ms, ...}], "summary": {"turns", "calls",
    "stages": {<stage>: stats}}, "agentTurns": [{cursor, ts, callId, turn?, latencyMs,
    listenWaitMs}], "agentSummary": {"turns", "latencyMs": stats, "listenWaitMs": stats}}``.
    A stage a turn did not reach (no end of speech reported, say) is absent from its row and
    not counted in that stage's figures."""
    turns: list[dict[str, Any]] = []
    agent: list[dict[str, Any]] = []
    for event in events:
        if event.get("type") == CALL_LATENCY:
            turns.append(_row(event, STAGES))
        elif event.get("type") == CALL_TURN:
            row = _row(event, AGENT_MEASURES)
            data = event.get("data")
            if isinstance(data, Mapping) and isinstance(data.get("turn"), int):
                row["turn"] = data["turn"]
            agent.append(row)
    return {
        "turns": turns,
        "summary": {"turns": len(turns), "calls": len({t["callId"] for t in turns}),
                    "stages": {stage: stats([t[stage] for t in turns if stage in t])
                               for stage in STAGES}},
        "agentTurns": agent,
        "agentSummary": {"turns": len(agent),
                         **{m: stats([t[m] for t in agent if m in t]) for m in AGENT_MEASURES}},
    }
