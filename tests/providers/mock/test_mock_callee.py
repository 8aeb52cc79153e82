"""The simulated callee's pure script: settings, placement, replies, status."""

import pytest

from voicecall_cli.core.events import EventType
from voicecall_cli.providers.mock.callee import (
    CalleeState,
    CalleeStep,
    MockSettings,
    call_id_from_provider_id,
    placement_script,
)


def test_settings_defaults_and_camel_case_keys():
    assert MockSettings.from_config({}) == MockSettings()
    settings = MockSettings.from_config({
        "ringDelayMs": 1, "answerDelayMs": 2, "outcome": "busy", "replies": ["a", "b"],
        "replyDelayMs": 3, "hangupAfterReplies": 2, "hangupAfterMs": 4})
    assert settings == MockSettings(1, 2, "busy", ("a", "b"), 3, 2, 4)
    assert MockSettings().ring_delay_ms == 200
    assert MockSettings().answer_delay_ms == 400
    assert MockSettings().reply_delay_ms == 300


@pytest.mark.parametrize(("block", "key"), [
    ({"outcome": "maybe"}, "mock.outcome"),
    ({"ringDelayMs": -1}, "mock.ringDelayMs"),
    ({"answerDelayMs": "fast"}, "mock.answerDelayMs"),
    ({"replies": "hello"}, "mock.replies"),
    ({"replies": [1]}, "mock.replies"),
    ({"hangupAfterReplies": 0}, "mock.hangupAfterReplies"),
    ({"hangupAfterMs": True}, "mock.hangupAfterMs"),
])
def test_bad_settings_name_the_key(block, key):
    with pytest.raises(ValueError, match=key):
        MockSettings.from_config(block)


def test_answering_callee_rings_then_answers():
    assert placement_script(MockSettings(ring_delay_ms=10, answer_delay_ms=20)) == [
        CalleeStep(10, EventType.RINGING), CalleeStep(20, EventType.ANSWERED)]


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
def test_other_outcomes_ring_then_end_with_that_reason(outcome):
    steps = placement_script(MockSettings(outcome=outcome))
    assert steps == [CalleeStep(200, EventType.RINGING),
                     CalleeStep(400, EventType.ENDED, outcome)]


def test_replies_cycle_round_robin():
    settings = MockSettings(replies=("one", "two"))
    state = CalleeState("c1", "mock-c1")
    texts = [state.take_reply(settings).text for _ in range(5)]
    assert texts == ["one", "two", "one", "two", "one"]
    assert state.replies_given == 5


def test_last_reply_before_hangup_is_marked_and_then_silence():
    settings = MockSettings(replies=("one", "two"), hangup_after_replies=2)
    state = CalleeState("c1", "mock-c1")
    first, second = state.take_reply(settings), state.take_reply(settings)
    assert (first.text, first.hang_up_after) == ("one", False)
    assert (second.text, second.hang_up_after) == ("two", True)
    assert state.take_reply(settings) is None


def test_no_replies_when_ended_or_none_configured():
    assert CalleeState("c1", "mock-c1").take_reply(MockSettings(replies=())) is None
    ended = CalleeState("c1", "mock-c1", ended_reason="hangup-bot")
    assert ended.take_reply(MockSettings()) is None


@pytest.mark.parametrize("provider_call_id", ["mock-STALE-1", "ended-x", "Completed"])
def test_ids_that_look_finished_are_terminal_completed(provider_call_id):
    status = CalleeState("c", provider_call_id).status()
    assert (status.state, status.end_reason) == ("ended", "completed")


def test_status_follows_how_the_call_ended():
    state = CalleeState("c1", "mock-c1")
    assert (state.status().state, state.status().end_reason) == ("live", None)
    state.ended_reason = "busy"
    assert (state.status().state, state.status().end_reason) == ("ended", "busy")
    state.ended_reason = "hangup-user"
    assert (state.status().state, state.status().end_reason) == ("ended", "completed")


def test_call_id_from_provider_id():
    assert call_id_from_provider_id("mock-abc") == "abc"
    assert call_id_from_provider_id("other") == "other"
