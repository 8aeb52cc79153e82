"""PlivoState: what the webhook codec and the REST client share about each live call."""

from __future__ import annotations

import pytest

from tests.providers.plivo.util import CALL_ID, CALL_UUID, INBOUND_UUID, REQUEST_UUID
from voicecall_cli.providers.plivo.state import PendingListen, PendingSpeech, PlivoState

OTHER_UUID = "0f0e0d0c-0b0a-4909-8807-060504030201"


def placed_and_bound() -> PlivoState:
    state = PlivoState()
    state.placed(CALL_ID, REQUEST_UUID)
    state.bind(REQUEST_UUID, CALL_UUID)
    return state


def test_a_placed_call_is_known_by_its_request_until_its_call_uuid_is_bound() -> None:
    state = PlivoState()
    state.placed(CALL_ID, REQUEST_UUID)
    assert state.call_uuid(REQUEST_UUID) is None  # not rung yet: nothing to steer
    assert state.call_id(REQUEST_UUID) == CALL_ID
    state.bind(REQUEST_UUID, CALL_UUID)
    assert state.call_uuid(REQUEST_UUID) == CALL_UUID
    assert state.call_uuid(CALL_UUID) == CALL_UUID
    assert state.call_id(CALL_UUID) == CALL_ID
    state.bind(REQUEST_UUID, CALL_UUID)  # every later webhook names it again
    assert state.call_uuid(REQUEST_UUID) == CALL_UUID


def test_only_requests_we_placed_are_bound() -> None:
    state = PlivoState()
    state.bind("someone-elses-request", CALL_UUID)
    assert state.call_uuid("someone-elses-request") == "someone-elses-request"
    assert state.call_id(CALL_UUID) is None


def test_an_inbound_or_resumed_call_is_known_by_its_call_uuid() -> None:
    state = PlivoState()
    state.remember_call(INBOUND_UUID, INBOUND_UUID)
    assert state.call_uuid(INBOUND_UUID) == INBOUND_UUID
    assert state.call_id(INBOUND_UUID) == INBOUND_UUID
    state.remember_call("other-id", INBOUND_UUID)  # the first id stays
    assert state.call_id(INBOUND_UUID) == INBOUND_UUID


def loaded(state: PlivoState, released: list[str]) -> None:
    """Everything a call can have kept: notify XML, a speech waiting, a turn, a hold."""
    state.store_notify_xml(CALL_ID, "<Response/>")
    state.set_speech(CALL_UUID, PendingSpeech("Hi.", "say-1"), lambda: released.append("say-1"))
    state.set_listen(CALL_UUID, PendingListen("turn-1", "Prompt?"))
    state.hold(CALL_UUID)


@pytest.mark.parametrize("by", [REQUEST_UUID, CALL_UUID])
def test_forget_under_either_id_drops_everything_and_releases_the_waiter(by: str) -> None:
    state = placed_and_bound()
    released: list[str] = []
    loaded(state, released)
    other_released: list[str] = []
    state.set_speech(OTHER_UUID, PendingSpeech("Other.", "say-2"),
                     lambda: other_released.append("say-2"))
    state.forget(by)
    assert released == ["say-1"]
    assert other_released == []  # another call keeps its speech
    assert state.call_id(CALL_UUID) is None and state.call_id(REQUEST_UUID) is None
    assert state.call_uuid(REQUEST_UUID) == REQUEST_UUID  # no longer a pending request
    assert state.take_notify_xml(CALL_ID) is None and not state.is_notify(CALL_ID)
    assert state.take_speech(CALL_UUID) is None
    assert state.listen(CALL_UUID) is None
    assert state.hold(CALL_UUID) is True  # on hold again would be a first time
    state.forget(by)  # idempotent
    assert released == ["say-1"]
    assert state.take_speech(OTHER_UUID) == PendingSpeech("Other.", "say-2")


def test_forget_before_the_call_rang() -> None:
    state = PlivoState()
    state.placed(CALL_ID, REQUEST_UUID)
    state.store_notify_xml(CALL_ID, "<Response/>")
    state.forget(REQUEST_UUID)
    assert state.call_id(REQUEST_UUID) is None
    assert not state.is_notify(CALL_ID)


def test_a_speech_waiter_is_released_once_and_an_unfetched_speech_is_dropped() -> None:
    state = placed_and_bound()
    released: list[str] = []
    state.set_speech(CALL_UUID, PendingSpeech("Hi.", "say-1"), lambda: released.append("1"))
    state.speech_heard("say-1")  # the waiter gave up before Plivo fetched it
    state.speech_heard("say-1")
    assert released == ["1"]
    assert state.take_speech(CALL_UUID) is None  # it will not be said late


def test_a_newer_speech_survives_the_older_ones_release() -> None:
    state = placed_and_bound()
    state.set_speech(CALL_UUID, PendingSpeech("First.", "say-1"), lambda: None)
    state.set_speech(CALL_UUID, PendingSpeech("Second.", "say-2"), lambda: None)
    state.speech_heard("say-1")
    assert state.take_speech(CALL_UUID) == PendingSpeech("Second.", "say-2")


def test_a_speech_replaces_a_listening_turn() -> None:
    state = placed_and_bound()
    state.set_listen(CALL_UUID, PendingListen("turn-1"))
    state.set_speech(CALL_UUID, PendingSpeech("Hi.", "say-1"), lambda: None)
    assert state.listen(CALL_UUID) is None


def test_the_listen_prompt_is_handed_out_once() -> None:
    state = PlivoState()
    state.set_listen(CALL_UUID, PendingListen("turn-1", "Does Tuesday work?"))
    assert state.listen(CALL_UUID) == PendingListen("turn-1", "Does Tuesday work?")
    assert state.listen(CALL_UUID) == PendingListen("turn-1", None)  # re-listen: no prompt
    assert state.listen(CALL_UUID) == PendingListen("turn-1", None)


def test_ending_a_turn_with_a_stale_turn_token_keeps_the_newer_turn() -> None:
    state = PlivoState()
    state.set_listen(CALL_UUID, PendingListen("turn-2"))
    assert state.end_turn(CALL_UUID, "turn-1") is False
    assert state.end_turn(CALL_UUID, None) is False  # a callback without a token is stale too
    assert state.listen(CALL_UUID) == PendingListen("turn-2")
    assert state.end_turn(CALL_UUID, "turn-2") is True
    assert state.listen(CALL_UUID) is None
    state.set_listen(CALL_UUID, PendingListen(None))
    assert state.end_turn(CALL_UUID, None) is True  # a turn without a token
    state.set_listen(CALL_UUID, PendingListen("turn-3"))
    state.stop_listening(CALL_UUID)  # giving up: whatever turn it is
    assert state.listen(CALL_UUID) is None
    state.stop_listening(CALL_UUID)  # nothing listens: no error


def test_notify_xml_is_served_once_and_the_call_stays_notify() -> None:
    state = PlivoState()
    assert not state.is_notify(CALL_ID)
    state.store_notify_xml(CALL_ID, "<Response><Speak>Hi</Speak></Response>")
    assert state.take_notify_xml(CALL_ID) == "<Response><Speak>Hi</Speak></Response>"
    assert state.take_notify_xml(CALL_ID) is None
    assert state.is_notify(CALL_ID)
    state.drop_notify(CALL_ID)
    assert not state.is_notify(CALL_ID)


def test_hold_tells_the_caller_why_once_until_unheld() -> None:
    state = PlivoState()
    assert state.hold(INBOUND_UUID) is True
    assert state.hold(INBOUND_UUID) is False
    state.unhold(INBOUND_UUID)
    assert state.hold(INBOUND_UUID) is True
