"""The Plivo XML builders: each document parses, stays inside the ranges Plivo accepts, and
carries any text, however hostile, as text."""

from __future__ import annotations

import re

import pytest

from tests.providers.plivo.util import CALL_ID, STREAM_SECRET, STREAM_URL, call_url, document, shape
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.providers.plivo import xml
from voicecall_cli.providers.plivo.media import token_for_xml
from voicecall_cli.simulator.plivo.xml import validate_document

REDIRECT = call_url({"callId": CALL_ID, "flow": "redirect"})
ACTION = call_url({"callId": CALL_ID, "flow": "getinput", "turnToken": "turn-1"})
STATUS = call_url({"callId": CALL_ID, "flow": "stream-status"})
HOLD = call_url({"callId": CALL_ID, "flow": "hold"})


def redirect_to(url: str) -> tuple:
    return ("Redirect", {"method": "POST"}, url, [])


def speak(text: str, voice: str = "WOMAN", language: str = "en-US") -> tuple:
    return ("Speak", {"voice": voice, "language": language}, text, [])


def test_empty() -> None:
    assert shape(document(xml.empty())) == ("Response", {}, None, [])


def test_keep_alive_waits_then_asks_again() -> None:
    assert shape(document(xml.keep_alive(REDIRECT))) == ("Response", {}, None, [
        ("Wait", {"length": "30"}, None, []), redirect_to(REDIRECT)])
    assert document(xml.keep_alive(REDIRECT, 7))[0].get("length") == "7"


def test_notify_says_the_text_and_hangs_up() -> None:
    assert shape(document(xml.notify("Your parcel arrives at noon.", voice="MAN",
                                     language="en-GB"))) == ("Response", {}, None, [
        speak("Your parcel arrives at noon.", "MAN", "en-GB"), ("Hangup", {}, None, [])])


def test_speak_then_comes_back() -> None:
    assert shape(document(xml.speak("One moment.", REDIRECT))) == ("Response", {}, None, [
        speak("One moment."), redirect_to(REDIRECT)])


def get_input(document_text: str):
    root = document(document_text)
    [element] = root.findall("GetInput")
    return root, element


def test_listen_with_a_prompt() -> None:
    root, _ = get_input(xml.listen(ACTION, REDIRECT, prompt="Does Tuesday work?",
                                   language="de-DE", voice="MAN"))
    assert shape(root) == ("Response", {}, None, [
        ("GetInput", {"action": ACTION, "method": "POST", "inputType": "speech",
                      "executionTimeout": "30", "language": "de-DE", "redirect": "true"}, None,
         [speak("Does Tuesday work?", "MAN", "de-DE")]),
        redirect_to(REDIRECT)])


def test_listen_without_a_prompt_says_nothing() -> None:
    _, element = get_input(xml.listen(ACTION, REDIRECT))
    assert list(element) == []


@pytest.mark.parametrize("timeout_s", [None, 5, 30, 60])
def test_speech_end_timeout_is_left_to_plivo(timeout_s: int | None) -> None:
    """``speechEndTimeout`` absent means Plivo's ``auto``; the reference's ``1`` is refused
    by Plivo (2-10 or auto)."""
    kwargs = {} if timeout_s is None else {"timeout_s": timeout_s}
    _, element = get_input(xml.listen(ACTION, REDIRECT, prompt="Hi", **kwargs))
    assert "speechEndTimeout" not in element.attrib
    assert "digitEndTimeout" not in element.attrib


@pytest.mark.parametrize("timeout_s", [None, 1, 5, 60, 300])
def test_execution_timeout_stays_within_plivos_range(timeout_s: int | None) -> None:
    """Plivo accepts executionTimeout 5-60; the module promises attribute values inside
    Plivo's ranges, whatever the caller asks."""
    kwargs = {} if timeout_s is None else {"timeout_s": timeout_s}
    _, element = get_input(xml.listen(ACTION, REDIRECT, **kwargs))
    assert 5 <= int(element.get("executionTimeout")) <= 60


def registry_token() -> str:
    return StreamRegistry(secret=STREAM_SECRET).token("d2a4b6c8-1e3f-4a5b-8c7d-9e0f1a2b3c4d")


def test_stream_url_is_the_element_text_with_the_attributes_plivo_needs() -> None:
    token = token_for_xml(registry_token())
    root = document(xml.stream(STREAM_URL, token, status_url=STATUS, redirect_url=REDIRECT))
    assert shape(root) == ("Response", {}, None, [
        ("Stream", {"bidirectional": "true", "audioTrack": "inbound",
                    "contentType": "audio/x-mulaw;rate=8000", "keepCallAlive": "true",
                    "extraHeaders": f"token={token}", "statusCallbackUrl": STATUS,
                    "statusCallbackMethod": "POST"}, STREAM_URL, []),
        redirect_to(REDIRECT)])
    assert "url" not in root[0].attrib


def test_the_stream_token_is_an_alphanumeric_extra_header_within_512_bytes() -> None:
    token = token_for_xml(registry_token())
    extra = document(xml.stream(STREAM_URL, token, status_url=STATUS,
                                redirect_url=REDIRECT))[0].get("extraHeaders")
    name, value = extra.split("=")
    assert (name, value) == ("token", token)
    assert re.fullmatch(r"[A-Za-z0-9]+", value)
    assert len(extra.encode()) <= 512


def test_hold_explains_once_then_only_waits() -> None:
    assert shape(document(xml.hold(HOLD, first=True))) == ("Response", {}, None, [
        speak(xml.HOLD_PROMPT), ("Wait", {"length": "5"}, None, []), redirect_to(HOLD)])
    assert shape(document(xml.hold(HOLD, first=False))) == ("Response", {}, None, [
        ("Wait", {"length": "5"}, None, []), redirect_to(HOLD)])


HOSTILE = [
    ('Tom & Jerry say "hi" <loudly> it\'s 5 > 4', 'Tom & Jerry say "hi" <loudly> it\'s 5 > 4'),
    ("</Speak><Hangup/><Speak>", "</Speak><Hangup/><Speak>"),
    ("<cont>continued</cont> ]]> &amp;", "<cont>continued</cont> ]]> &amp;"),
    ("page\x0cbreak\x0bvertical\x00nul", "page break vertical nul"),
    ("lone \ud800 surrogate \udfff", "lone   surrogate  "),
    ("bell\x07 and \x1b escape \ufffe", "bell  and   escape  "),
    ("tab\tnew\nline and émoji 😀", "tab\tnew\nline and émoji 😀"),
]


@pytest.mark.parametrize(("text", "said"), HOSTILE)
def test_text_is_escaped_or_cleaned_so_every_document_parses(text: str, said: str) -> None:
    documents = [
        xml.notify(text),
        xml.speak(text, REDIRECT),
        xml.listen(ACTION, REDIRECT, prompt=text),
    ]
    for produced in documents:
        produced.encode("utf-8")  # servable
        speech = document(produced).iter("Speak")
        [element] = list(speech)
        assert element.text == said
        assert len(list(element)) == 0  # text, never markup


HOSTILE = "Tom & Jerry <say> \"hi\"\x0c\x0b\x00 \ud800 ok"


@pytest.mark.parametrize("name", ["empty", "keep_alive", "notify", "speak", "listen",
                                  "listen_with_prompt", "stream", "hold", "hold_again"])
def test_every_document_keeps_plivos_element_rules(name: str) -> None:
    """What the daemon serves passes the Plivo simulator's rule check (attribute ranges,
    the stream URL as element text, extraHeaders alphanumeric), hostile text included."""
    token = token_for_xml(StreamRegistry(secret=STREAM_SECRET).token(CALL_ID))
    documents = {
        "empty": lambda: xml.empty(),
        "keep_alive": lambda: xml.keep_alive(REDIRECT),
        "notify": lambda: xml.notify(HOSTILE),
        "speak": lambda: xml.speak(HOSTILE, REDIRECT),
        "listen": lambda: xml.listen(ACTION, REDIRECT),
        "listen_with_prompt": lambda: xml.listen(ACTION, REDIRECT, prompt=HOSTILE),
        "stream": lambda: xml.stream(STREAM_URL, token, status_url=STATUS,
                                     redirect_url=REDIRECT),
        "hold": lambda: xml.hold(HOLD, first=True),
        "hold_again": lambda: xml.hold(HOLD, first=False),
    }
    assert validate_document(documents[name]()) == []
