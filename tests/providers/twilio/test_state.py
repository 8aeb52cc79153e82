"""TwilioState: per-call memory shared by the webhook codec and the REST client.

Media streams (tokens, the registry, the inbound limit) are the daemon's now
(``daemon/media/registry.py``) and are tested there.
"""

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


def test_forget_drops_the_listening_turn():
    state = TwilioState()
    state.remember_call("c1", SID, URL)
    state.set_pending_gather(SID, "turn-1")
    state.set_pending_gather(OTHER, "turn-2")
    state.forget(SID)
    assert state.pending_gather(SID) == (False, None)
    assert state.pending_gather(OTHER) == (True, "turn-2")


def test_a_say_finishes_once():
    state = TwilioState()
    done: list[str] = []
    state.expect_say(SID, "t1", lambda: done.append("t1"))
    state.say_finished("unknown-token")  # ignored
    assert done == []
    state.say_finished("t1")
    state.say_finished("t1")
    assert done == ["t1"]


def test_forget_releases_only_that_calls_say_waiters():
    state = TwilioState()
    done: list[str] = []
    state.expect_say(SID, "t1", lambda: done.append("t1"))
    state.expect_say(SID, "t2", lambda: done.append("t2"))
    state.expect_say(OTHER, "t3", lambda: done.append("t3"))
    state.forget(SID)
    assert sorted(done) == ["t1", "t2"]
    state.say_finished("t1")  # already released
    assert sorted(done) == ["t1", "t2"]
    state.say_finished("t3")
    assert sorted(done) == ["t1", "t2", "t3"]


def test_forgetting_an_unknown_call_is_harmless():
    state = TwilioState()
    state.store_notify_twiml("c1", "<Response/>")
    state.forget(SID)
    assert state.is_notify("c1")
    assert state.take_notify_twiml("c1") == "<Response/>"
