"""TwiML builders against golden documents, turn-token URLs and the <Say> voice mapping."""

import xml.etree.ElementTree as ET

import pytest

from tests.providers.twilio.util import CALL_URL, STREAM_URL, golden
from voicecall_cli.providers.twilio import polly_voice, twiml

TOKEN_URL = CALL_URL + "&turnToken=turn-7"


@pytest.mark.parametrize(("name", "document"), [
    ("empty", twiml.empty()),
    ("notify", twiml.notify(
        'Your table for 2 is booked: "Luigi\'s" at 7 <tonight> & parking is free. Goodbye.',
        "Polly.Joanna")),
    ("say", twiml.say("One moment while I check that.", "Polly.Amy", "en-GB",
                      redirect_url=CALL_URL)),
    ("gather_prompt", twiml.gather(TOKEN_URL, prompt="Does Tuesday at 3 work for you?",
                                   voice="Polly.Joanna", redirect_url=CALL_URL)),
    ("gather_no_prompt", twiml.gather(TOKEN_URL, prompt=None, voice="Polly.Joanna",
                                      redirect_url=CALL_URL)),
    ("idle", twiml.idle(CALL_URL)),
    ("stream", twiml.stream(STREAM_URL, "q9s1Gk2zX0aTf3vR7bW8nA")),
    ("queue", twiml.queue()),
    ("hold_music", twiml.hold_music()),
])
def test_documents_match_the_golden_files(name, document):
    assert document == golden(name)
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?><Response')


def test_text_is_escaped_and_round_trips():
    text = 'Tom & Jerry say "hi" <loudly>'
    root = ET.fromstring(twiml.notify(text, "Polly.Brian").encode())
    assert root.find("Say").text == text
    assert root.find("Hangup") is not None


def test_gather_speaks_the_prompt_inside_so_the_caller_can_talk_over_it():
    root = ET.fromstring(twiml.gather(TOKEN_URL, prompt="Hello?", voice="Polly.Salli",
                                      language="de-DE", timeout_s=45,
                                      redirect_url=CALL_URL).encode())
    gather, redirect = list(root)
    assert gather.tag == "Gather"
    assert gather.attrib == {"input": "speech", "speechTimeout": "auto", "language": "de-DE",
                             "action": TOKEN_URL, "method": "POST", "timeout": "45"}
    assert gather.find("Say").attrib == {"voice": "Polly.Salli", "language": "de-DE"}
    assert (redirect.tag, redirect.text, redirect.get("method")) == ("Redirect", CALL_URL, "POST")


def test_idle_pause_length_is_configurable():
    root = ET.fromstring(twiml.idle(CALL_URL, pause_s=5).encode())
    assert root.find("Pause").get("length") == "5"


def test_with_turn_token_adds_or_replaces_and_keeps_other_parameters():
    assert twiml.with_turn_token(CALL_URL, "t1") == CALL_URL + "&turnToken=t1"
    assert twiml.with_turn_token(CALL_URL + "&turnToken=old", "t2") == CALL_URL + "&turnToken=t2"
    assert (twiml.with_turn_token("https://h/voice/webhook", "a b")
            == "https://h/voice/webhook?turnToken=a+b")


@pytest.mark.parametrize(("configured", "voice"), [
    ("alloy", "Polly.Joanna"), ("echo", "Polly.Matthew"), ("fable", "Polly.Amy"),
    ("onyx", "Polly.Brian"), ("nova", "Polly.Salli"), ("shimmer", "Polly.Kimberly"),
    ("ONYX", "Polly.Brian"), ("Polly.Hans", "Polly.Hans"), ("Google.en-US-Neural2-F",
                                                             "Google.en-US-Neural2-F"),
    ("coral", "Polly.Joanna"), ("", "Polly.Joanna"), (None, "Polly.Joanna"),
])
def test_polly_voice_maps_openai_voices(configured, voice):
    assert polly_voice(configured) == voice
