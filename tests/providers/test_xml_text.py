"""Every TwiML and Plivo XML builder stays well-formed XML whatever text it gets: each character
XML 1.0 cannot carry (form feed, vertical tab, the other C0 controls, lone surrogates, U+FFFE,
U+FFFF), in each text argument, parsed back with an XML parser (issue #14 item 6)."""

from __future__ import annotations

import inspect
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from voicecall_cli.providers.plivo import xml as plivo_xml
from voicecall_cli.providers.twilio import twiml

ILLEGAL = [*map(chr, [c for c in range(0x20) if c not in (0x9, 0xA, 0xD)]),
           "\ud800", "\udce9", "\udfff", "\ufffe", "\uffff"]
URL = "https://example.test/voice/webhook?callId=c1"

# Each builder with a valid value for each of its parameters (text, voice, URLs, tokens...).
BUILDERS: dict[str, tuple[Callable[..., str], dict[str, object]]] = {
    "twiml.empty": (twiml.empty, {}),
    "twiml.notify": (twiml.notify, {"text": "Hello there", "voice": "alice",
                                    "language": "en-US"}),
    "twiml.say": (twiml.say, {"text": "Hello there", "voice": "alice", "language": "en-US",
                              "redirect_url": URL}),
    "twiml.gather": (twiml.gather, {"action_url": URL, "prompt": "Say something",
                                    "voice": "alice", "language": "en-US", "timeout_s": 30,
                                    "redirect_url": URL, "accept": "both"}),
    "twiml.play_digits": (twiml.play_digits, {"digits": "ww12W#", "redirect_url": URL}),
    "twiml.idle": (twiml.idle, {"redirect_url": URL, "pause_s": 30}),
    "twiml.stream": (twiml.stream, {"stream_url": "wss://example.test/voice/stream",
                                    "token": "tok123"}),
    "twiml.queue": (twiml.queue, {"hold_music_path": "/voice/hold-music",
                                  "action_url": "https://voice.example.test/voice/queue"}),
    "twiml.hold_music": (twiml.hold_music, {}),
    "plivo.empty": (plivo_xml.empty, {}),
    "plivo.keep_alive": (plivo_xml.keep_alive, {"redirect_url": URL, "wait_s": 30}),
    "plivo.notify": (plivo_xml.notify, {"text": "Hello there", "voice": "WOMAN",
                                        "language": "en-US"}),
    "plivo.speak": (plivo_xml.speak, {"text": "Hello there", "redirect_url": URL,
                                      "voice": "WOMAN", "language": "en-US"}),
    "plivo.listen": (plivo_xml.listen, {"action_url": URL, "redirect_url": URL,
                                        "prompt": "Say something", "voice": "WOMAN",
                                        "language": "en-US", "timeout_s": 30,
                                        "accept": "dtmf"}),
    "plivo.stream": (plivo_xml.stream, {"stream_url": "wss://example.test/voice/stream",
                                        "token": "tok123", "status_url": URL,
                                        "redirect_url": URL}),
    "plivo.hold": (plivo_xml.hold, {"redirect_url": URL, "first": True, "voice": "WOMAN",
                                    "language": "en-US"}),
}
PUBLIC_BUILDERS = {f"twiml.{n}" for n in ("empty", "notify", "say", "gather", "idle", "stream",
                                          "queue", "hold_music", "play_digits")} | {
    f"plivo.{n}" for n in ("empty", "keep_alive", "notify", "speak", "listen", "stream",
                           "hold")}
CASES = [(name, param) for name, (_, kwargs) in BUILDERS.items()
         for param, value in kwargs.items() if isinstance(value, str)]


def parse(document: str) -> ET.Element:
    """What Twilio or Plivo does first with our document (surrogatepass: a lone surrogate
    would otherwise fail here, before the parser could refuse it)."""
    return ET.fromstring(document.encode("utf-8", "surrogatepass"))


def test_every_builder_is_covered_with_every_parameter() -> None:
    assert set(BUILDERS) == PUBLIC_BUILDERS
    for func, kwargs in BUILDERS.values():
        assert set(kwargs) == set(inspect.signature(func).parameters)
        parse(func(**kwargs))


@pytest.mark.parametrize(("name", "param"), CASES)
def test_every_illegal_character_in_every_text_argument_leaves_the_document_well_formed(
        name: str, param: str) -> None:
    func, kwargs = BUILDERS[name]
    for char in ILLEGAL:
        document = func(**{**kwargs, param: f"{kwargs[param]}{char}x"})
        parse(document)  # raises ET.ParseError on a document Twilio/Plivo would drop
        document.encode("utf-8")  # and it can be sent at all


@pytest.mark.parametrize("builder", ["twiml.notify", "twiml.say", "plivo.notify",
                                     "plivo.speak"])
def test_the_spoken_text_keeps_its_words_with_a_space_for_each_illegal_character(builder):
    func, kwargs = BUILDERS[builder]
    root = parse(func(**{**kwargs, "text": "Line one\fline\vtwo\x00end\udce9."}))
    spoken = next(el.text for el in root.iter() if el.tag in ("Say", "Speak"))
    assert spoken == "Line one line two end ."
