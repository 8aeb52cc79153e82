"""Plivo's XML rules (:mod:`voicecall_cli.simulator.plivo.xml`), checked on strings, and what a
call does with a document that breaks them: the rule is recorded on the call and the call is
hung up as Plivo hangs it up."""

from __future__ import annotations

import pytest
import trio
from plivo import plivoxml

from tests.simulator.plivo_fakes import answered_call, fake_plivo
from voicecall_cli.simulator.plivo.xml import (
    PlivoXmlError,
    parse_document,
    validate_document,
)

ACTION = 'action="https://example.com/input"'


def doc(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


@pytest.mark.parametrize(("document", "error"), [
    (doc(f'<GetInput {ACTION} inputType="speech" speechEndTimeout="1"/>'),
     '<GetInput> speechEndTimeout="1": must be 2 to 10, or auto'),
    (doc(f'<GetInput {ACTION} executionTimeout="61"/>'),
     '<GetInput> executionTimeout="61": must be an integer from 5 to 60'),
    (doc(f'<GetInput {ACTION} executionTimeout="4"/>'),
     '<GetInput> executionTimeout="4": must be an integer from 5 to 60'),
    (doc(f'<GetInput {ACTION} digitEndTimeout="11"/>'),
     '<GetInput> digitEndTimeout="11": must be 2 to 10, or auto'),
    (doc('<GetInput inputType="speech"/>'),
     "<GetInput> needs action, an absolute http(s) URL"),
    (doc('<GetInput action="/relative"/>'),
     '<GetInput> action="/relative": must be an absolute http(s) URL'),
    (doc(f'<GetInput {ACTION} inputType="voice"/>'),
     '<GetInput> inputType="voice": must be one of dtmf, speech, dtmf speech'),
    (doc(f'<GetInput {ACTION} method="post"/>'),
     '<GetInput> method="post": must be one of GET, POST'),
    (doc(f'<GetInput {ACTION} redirect="yes"/>'),
     '<GetInput> redirect="yes": must be true or false'),
    (doc(f'<GetInput {ACTION} finishOnKey="##"/>'),
     '<GetInput> finishOnKey="##": must be one of 0-9, *, # or empty or none'),
    (doc(f'<GetInput {ACTION} input_type="speech"/>'),
     '<GetInput> has no attribute "input_type"'),
    (doc(f'<GetInput {ACTION}><Stream>ws://h/s</Stream></GetInput>'),
     "<GetInput> cannot contain <Stream> (only Speak, Play and Wait)"),
    (doc('<Stream url="wss://example.com/media"/>'),
     '<Stream> has no attribute "url" (the WebSocket URL is the element\'s text)'),
    (doc('<Stream url="wss://example.com/media"/>'),
     "<Stream> needs the WebSocket URL as its text"),
    (doc('<Stream>https://example.com/media</Stream>'),
     "<Stream> URL 'https://example.com/media' must be a ws:// or wss:// URL"),
    (doc('<Stream bidirectional="true" audioTrack="both">wss://h/s</Stream>'),
     '<Stream> audioTrack="both": must be inbound when bidirectional="true"'),
    (doc('<Stream bidirectional="true" audioTrack="outbound">wss://h/s</Stream>'),
     '<Stream> audioTrack="outbound": must be inbound when bidirectional="true"'),
    (doc('<Stream extraHeaders="call-id=7">wss://h/s</Stream>'),
     "<Stream> extraHeaders=\"call-id=7\": 'call-id=7' is not key=value with alphanumeric "
     "key and value"),
    (doc(f'<Stream extraHeaders="{",".join(f"k{n}=v{n:03d}" for n in range(70))}">'
         'wss://h/s</Stream>'),
     "bytes; at most 512"),
    (doc('<Stream contentType="audio/x-mulaw">wss://h/s</Stream>'),
     '<Stream> contentType="audio/x-mulaw": must be one of audio/x-l16;rate=8000, '
     'audio/x-l16;rate=16000, audio/x-mulaw;rate=8000'),
    (doc('<Stream streamTimeout="0">wss://h/s</Stream>'),
     '<Stream> streamTimeout="0": must be an integer of at least 1'),
    (doc('<Stream noiseCancellationLevel="50">wss://h/s</Stream>'),
     '<Stream> noiseCancellationLevel="50": must be an integer from 60 to 100'),
    (doc('<Stream keepCallAlive="True">wss://h/s</Stream>'),
     '<Stream> keepCallAlive="True": must be true or false'),
    (doc("<Speak></Speak>"), "<Speak> needs the text to say"),
    (doc('<Speak voice="Alice">Hi</Speak>'),
     '<Speak> voice="Alice": must be WOMAN, MAN or a Polly.<Name> voice'),
    (doc('<Speak language="English">Hi</Speak>'),
     '<Speak> language="English": must be a language code like en-US'),
    (doc('<Speak>Hi <Play>https://h/a.mp3</Play></Speak>'),
     "<Speak> cannot contain <Play> (only SSML tags)"),
    (doc('<Wait length="0"/>'), '<Wait> length="0": must be an integer of at least 1'),
    (doc('<Wait length="2.5"/>'), '<Wait> length="2.5": must be an integer of at least 1'),
    (doc('<Wait Length="2"/>'), '<Wait> has no attribute "Length"'),
    (doc('<Hangup reason="voicemail"/>'),
     '<Hangup> reason="voicemail": must be one of rejected, busy'),
    (doc("<Redirect>next.xml</Redirect>"),
     "<Redirect> needs an absolute http(s) URL as its text"),
    (doc("<Play/>"), "<Play> needs an absolute http(s) URL as its text"),
    (doc("<Say>Hello</Say>"), "unknown element <Say>"),
    (doc("<Gather/>"), "unknown element <Gather>"),
    ('<Reponse><Speak>Hi</Speak></Reponse>', "the root element is <Reponse>, not <Response>"),
    ("<Response><Speak>Hi</Response>", "not well-formed XML: mismatched tag"),
    ("", "not well-formed XML: no element found"),
    ('<Response version="2"/>', '<Response> takes no attributes, got version="2"'),
    ("<Response><Speak>" + "x" * 110_000 + "</Speak></Response>", "Plivo takes at most 102400"),
])
def test_a_broken_rule_is_named(document: str, error: str) -> None:
    errors = validate_document(document)
    assert any(e.startswith(error) or error in e for e in errors), errors
    with pytest.raises(PlivoXmlError) as caught:
        parse_document(document)
    assert caught.value.errors == errors


def test_every_broken_rule_is_reported_at_once() -> None:
    errors = validate_document(doc(
        f'<GetInput {ACTION} speechEndTimeout="1" executionTimeout="61"/><Foo/>'
        '<Stream url="ws://h">ws://h/s</Stream>'))
    assert len(errors) == 4


def test_what_the_official_builder_writes_is_valid() -> None:
    response = plivoxml.ResponseElement()
    get_input = plivoxml.GetInputElement(
        action="https://example.com/input?call=1", method="POST", input_type="speech",
        execution_timeout=30, speech_end_timeout=2, digit_end_timeout=5, redirect=False,
        language="en-US", finish_on_key="#", num_digits=4, speech_model="phone_call",
        hints="yes,no", profanity_filter=True, log=True)
    get_input.add(plivoxml.SpeakElement("How can I help?", voice="Polly.Joanna",
                                        language="en-US", loop=1))
    get_input.add(plivoxml.PlayElement("https://example.com/beep.mp3"))
    response.add(get_input)
    response.add(plivoxml.StreamElement(
        "wss://example.com/media?token=a&b=c", bidirectional=True, audioTrack="inbound",
        streamTimeout=3600, statusCallbackUrl="https://example.com/status",
        statusCallbackMethod="POST", contentType="audio/x-mulaw;rate=8000",
        extraHeaders="callId=abc123;turn=7", keepCallAlive=True))
    response.add(plivoxml.WaitElement(length=300, silence=False, min_silence=2000, beep=False))
    response.add(plivoxml.RedirectElement("https://example.com/next", method="GET"))
    response.add(plivoxml.HangupElement(reason="rejected", schedule=60))
    response.add(plivoxml.DialElement().add(plivoxml.NumberElement("14155550100")))
    assert validate_document(response.to_string()) == []


def test_settings_carry_plivos_defaults() -> None:
    get_input, stream, wait, speak = parse_document(doc(
        f"<GetInput {ACTION}/><Stream>wss://h/s</Stream><Wait/>"
        "<Speak>Hello <break time='1s'/> <emphasis>there</emphasis></Speak>"))
    assert (get_input.settings["method"], get_input.settings["input_types"],
            get_input.settings["execution_timeout"], get_input.settings["speech_end_timeout"],
            get_input.settings["redirect"], get_input.settings["finish_on_key"]) == (
        "POST", frozenset({"dtmf"}), 15, "auto", True, "#")
    assert (stream.text, stream.settings["bidirectional"], stream.settings["audio_track"],
            stream.settings["content_type"], stream.settings["stream_timeout"],
            stream.settings["keep_call_alive"], stream.settings["status_callback_method"]) == (
        "wss://h/s", False, "inbound", "audio/x-l16;rate=8000", 86400, False, "POST")
    assert wait.settings["length"] == 1
    assert speak.text == "Hello there" and speak.settings["voice"] == "WOMAN"
    assert [e.simulated for e in parse_document(doc("<PreAnswer/><Speak>x</Speak>"))] == [
        False, True]


@pytest.mark.parametrize(("where", "cause", "code"), [
    ("answer", "Invalid Answer XML", "8011"), ("action", "Invalid Action XML", "8012")])
async def test_a_call_given_broken_xml_records_the_rule_and_hangs_up(where: str, cause: str,
                                                                     code: str) -> None:
    broken = doc(f'<GetInput {ACTION} inputType="speech" speechEndTimeout="1"/>')
    with trio.fail_after(5):
        async with fake_plivo() as (sim, app, api):
            if where == "answer":
                app.routes["/answer"] = broken
            else:
                app.routes["/answer"] = doc(f'<GetInput action="{app.url("/action")}" '
                                            'inputType="speech"><Speak>Yes?</Speak></GetInput>')
                app.routes["/action"] = broken
            call = await sim.wait_ended(await answered_call(sim, api, app))

    assert call.xml_errors == ['<GetInput> speechEndTimeout="1": must be 2 to 10, or auto']
    assert call.documents[-1] == broken and call.get_inputs == ([] if where == "answer"
                                                                else [app.url("/action")])
    hangup = app.on("/hangup")[0].params
    assert (hangup["CallStatus"], hangup["HangupCauseName"], hangup["HangupCauseCode"],
            hangup["HangupSource"]) == ("completed", cause, code, "Error")
    assert any(cause.split()[1].lower() in e and "XML" in e for e in call.errors)


async def test_elements_plivo_knows_but_the_simulator_does_not_run_are_skipped() -> None:
    with trio.fail_after(5):
        async with fake_plivo() as (sim, app, api):
            app.routes["/answer"] = doc('<PreAnswer><Speak>Early</Speak></PreAnswer>'
                                        '<Dial><Number>14155550100</Number></Dial>'
                                        '<Speak>After the dial.</Speak>')
            call = await sim.wait_ended(await answered_call(sim, api, app))
    assert call.unsupported_elements == ["PreAnswer", "Dial"]
    assert call.spoken == ["After the dial."] and call.xml_errors == []
