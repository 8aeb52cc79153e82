"""The latency report's arithmetic (``voicecall.latency``): the reference's percentile rule,
each stage's figures, and rows built from stored events. Pure; the request's bounds too."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicecall_cli.protocol import ApiError, InitiateRequest, LatencyRequest
from voicecall_cli.protocol.latency import STAGES, latency_result, percentile, stats

ZEROS = {"count": 0, "minMs": 0, "maxMs": 0, "avgMs": 0, "p50Ms": 0, "p95Ms": 0}


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([], 50, 0),
    ([7], 50, 7), ([7], 95, 7),
    ([300, 100], 50, 100), ([300, 100], 95, 300),  # ceil(1.0)-1 = 0; ceil(1.9)-1 = 1
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5),  # ceil(5.0)-1 = 4: the 5th, not 5.5
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95, 10),  # ceil(9.5)-1 = 9
    ([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], 90, 9),  # ceil(9.0)-1 = 8
    (list(range(1, 21)), 95, 19),  # ceil(19.0)-1 = 18: the 19th of 20
    (list(range(1, 22)), 95, 20),  # ceil(19.95)-1 = 19
    ([5, 5, 1], 100, 5),
])
def test_percentile_is_the_references_nearest_rank(values, p, expected) -> None:
    assert percentile(values, p) == expected


@settings(deadline=None, derandomize=True, max_examples=200)
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=300),
       st.integers(min_value=1, max_value=100))
def test_percentile_is_a_value_with_at_least_p_percent_at_or_below_it(values, p) -> None:
    chosen = percentile(values, p)
    assert chosen in values
    at_or_below = sum(v <= chosen for v in values)
    assert at_or_below >= math.ceil(p / 100 * len(values))
    below = sum(v < chosen for v in values)
    assert below < math.ceil(p / 100 * len(values))  # the smallest such value


def test_percentile_refuses_a_p_outside_0_to_100() -> None:
    for p in (0, -5, 100.5):
        with pytest.raises(ValueError):
            percentile([1], p)


def test_stats_of_nothing_are_zeros_and_of_values_the_figures() -> None:
    assert stats([]) == ZEROS
    assert stats([40, 10, 30, 21]) == {"count": 4, "minMs": 10, "maxMs": 40, "avgMs": 25,
                                       "p50Ms": 21, "p95Ms": 40}


def event(cursor: int, call_id: str, kind: str, data: object) -> dict:
    return {"cursor": cursor, "ts": 1_000 + cursor, "callId": call_id, "type": kind,
            "data": data}


def test_rows_and_summary_from_stored_events() -> None:
    events = [
        event(3, "a", "call.latency", {"endOfSpeechMs": 0, "transcriptMs": 300,
                                       "firstTokenMs": 700, "replyMs": 900,
                                       "firstTtsByteMs": 1100, "audioMs": 1180}),
        event(4, "a", "call.state", {"state": "speaking"}),  # not a turn
        event(7, "b", "call.latency", {"transcriptMs": 0, "firstTokenMs": 400, "replyMs": 600,
                                       "firstTtsByteMs": 800, "audioMs": 850}),
        event(9, "a", "call.turn", {"turn": 1, "latencyMs": 4200, "listenWaitMs": 2500}),
        event(11, "b", "call.latency", {"transcriptMs": 0, "audioMs": True, "replyMs": -1,
                                        "firstTokenMs": "x"}),  # nothing usable but the start
    ]
    result = latency_result(events)
    assert result["turns"] == [
        {"cursor": 3, "ts": 1003, "callId": "a", "endOfSpeechMs": 0, "transcriptMs": 300,
         "firstTokenMs": 700, "replyMs": 900, "firstTtsByteMs": 1100, "audioMs": 1180},
        {"cursor": 7, "ts": 1007, "callId": "b", "transcriptMs": 0, "firstTokenMs": 400,
         "replyMs": 600, "firstTtsByteMs": 800, "audioMs": 850},
        {"cursor": 11, "ts": 1011, "callId": "b", "transcriptMs": 0},
    ]
    summary = result["summary"]
    assert (summary["turns"], summary["calls"]) == (3, 2)
    assert list(summary["stages"]) == list(STAGES)
    assert summary["stages"]["endOfSpeechMs"] == {**ZEROS, "count": 1}
    assert summary["stages"]["transcriptMs"] == {"count": 3, "minMs": 0, "maxMs": 300,
                                                 "avgMs": 100, "p50Ms": 0, "p95Ms": 300}
    assert summary["stages"]["audioMs"] == {"count": 2, "minMs": 850, "maxMs": 1180,
                                            "avgMs": 1015, "p50Ms": 850, "p95Ms": 1180}
    assert result["agentTurns"] == [{"cursor": 9, "ts": 1009, "callId": "a", "turn": 1,
                                     "latencyMs": 4200, "listenWaitMs": 2500}]
    assert result["agentSummary"]["latencyMs"]["p95Ms"] == 4200


def test_no_events_give_zeros_everywhere() -> None:
    result = latency_result([])
    assert result["turns"] == [] and result["agentTurns"] == []
    assert (result["summary"]["turns"], result["summary"]["calls"]) == (0, 0)
    assert all(figures == ZEROS for figures in result["summary"]["stages"].values())
    assert result["agentSummary"] == {"turns": 0, "latencyMs": ZEROS, "listenWaitMs": ZEROS}


@pytest.mark.parametrize(("body", "message"), [
    ({"last": 0}, "last must be between 1 and 1000"),
    ({"last": 1001}, "last must be between 1 and 1000"),
    ({"last": "5"}, "last must be an integer"),
    ({"callId": 5}, "callId must be a string"),
    ({"since": 1}, "unknown field 'since'"),
])
def test_latency_request_bounds(body, message) -> None:
    with pytest.raises(ApiError, match=message):
        LatencyRequest.parse(body)


def test_latency_request_defaults() -> None:
    assert LatencyRequest.parse(None) == LatencyRequest(callId=None, last=None)
    assert LatencyRequest.parse({"callId": " 3f2a9c1d ", "last": 1000}) == LatencyRequest(
        callId="3f2a9c1d", last=1000)


def test_an_objective_is_trimmed_and_bounded() -> None:
    req = InitiateRequest.parse({"message": "hi", "objective": "  Ask about parking.  "})
    assert req.objective == "Ask about parking."
    assert InitiateRequest.parse({"message": "hi", "objective": "x" * 2000}).objective
    with pytest.raises(ApiError, match=r"at most 2000 characters \(it has 2001\)"):
        InitiateRequest.parse({"message": "hi", "objective": "x" * 2001})
    with pytest.raises(ApiError, match="objective must not be blank"):
        InitiateRequest.parse({"message": "hi", "objective": " \n "})
    with pytest.raises(ApiError, match="objective must be a string"):
        InitiateRequest.parse({"message": "hi", "objective": ["x"]})
