"""TwilioState: per-call memory shared by the codec, the REST client and the media streams."""

import base64

import pytest

from voicecall_cli.providers.twilio import TwilioState

SID = "CA8e2b4f7a1c9d3e5f60718293a4b5c6d7"
OTHER = "CA1f3e5d7c9b2a4f6e8d0c1b3a5f7e9d2c"
URL = "https://voice.example.com/voice/webhook?callId=c1"


def test_call_url_is_remembered_until_forgotten():
    state = TwilioState()
    assert state.call_url(SID) is None
    state.remember_call("c1", SID, URL)
    assert state.call_url(SID) == URL
    state.forget(SID)
    assert state.call_url(SID) is None


def test_notify_twiml_is_served_once_and_the_call_stays_notify():
    state = TwilioState()
    assert not state.is_notify("c1")
    state.store_notify_twiml("c1", "<Response/>")
    assert state.is_notify("c1")
    assert state.take_notify_twiml("c1") == "<Response/>"
    assert state.take_notify_twiml("c1") is None
    assert state.is_notify("c1")


def test_forget_clears_the_notify_flag_through_the_call_id():
    state = TwilioState()
    state.store_notify_twiml("c1", "<Response/>")
    state.remember_call("c1", SID, URL)
    state.forget(SID)
    assert not state.is_notify("c1")
    assert state.take_notify_twiml("c1") is None


def test_pending_gather_carries_the_turn_token():
    state = TwilioState()
    assert state.pending_gather(SID) == (False, None)
    state.set_pending_gather(SID, "turn-1")
    assert state.pending_gather(SID) == (True, "turn-1")
    state.set_pending_gather(SID, None)
    assert state.pending_gather(SID) == (True, None)
    state.clear_pending_gather(SID)
    assert state.pending_gather(SID) == (False, None)
    state.clear_pending_gather(SID)  # idempotent


def test_stream_token_is_minted_once_per_call_sid():
    state = TwilioState()
    token = state.stream_token(SID)
    assert state.stream_token(SID) == token
    assert state.stream_token(OTHER) != token
    assert len(base64.urlsafe_b64decode(token + "==")) == 16
    assert "=" not in token


def test_stream_token_check():
    state = TwilioState()
    assert not state.check_stream_token(SID, "anything")  # nothing minted yet
    token = state.stream_token(SID)
    assert state.check_stream_token(SID, token)
    assert not state.check_stream_token(SID, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not state.check_stream_token(SID, None)
    assert not state.check_stream_token(SID, "")
    assert not state.check_stream_token(SID, "non-ascii-é")
    assert not state.check_stream_token(OTHER, token)
    state.forget(SID)
    assert not state.check_stream_token(SID, token)


def test_stale_stream_sid_unregister_is_ignored():
    state = TwilioState()
    state.register_stream(SID, "MZ-old", inbound=False)
    state.register_stream(SID, "MZ-new", inbound=False)  # reconnected
    assert state.unregister_stream(SID, "MZ-old") is False
    assert state.stream_sid(SID) == "MZ-new"
    assert state.unregister_stream(SID, "MZ-new") is True
    assert state.stream_sid(SID) is None
    assert state.unregister_stream(SID) is False  # nothing left


def test_unregister_without_a_stream_sid_drops_the_current_stream():
    state = TwilioState()
    state.register_stream(SID, "MZ1", inbound=True)
    assert state.unregister_stream(SID) is True
    assert state.active_inbound_streams() == 0


def test_only_inbound_streams_count_toward_the_inbound_limit():
    state = TwilioState(max_inbound_streams=2)
    state.register_stream(SID, "MZ1", inbound=False)
    assert state.active_inbound_streams() == 0
    state.register_stream(OTHER, "MZ2", inbound=True)
    assert state.active_inbound_streams() == 1
    state.forget(OTHER)
    assert state.active_inbound_streams() == 0


def test_configuration():
    state = TwilioState(stream_url="wss://h/voice/stream", max_inbound_streams=3)
    assert (state.stream_url, state.max_inbound_streams) == ("wss://h/voice/stream", 3)
    assert (TwilioState().stream_url, TwilioState().max_inbound_streams) == (None, 1)
    with pytest.raises(ValueError):
        TwilioState(max_inbound_streams=0)
