"""Plivo XML as Plivo checks it: :func:`parse_document` turns a document into
:class:`Element` values with their settings (defaults applied), or raises
:class:`PlivoXmlError` listing every rule the document breaks; :func:`validate_document`
returns that list (empty: valid). Pure functions of the text: no I/O, no clock.

Plivo checks the whole document before it runs any of it; one broken rule and the call is
hung up ("Invalid Answer XML" and its kin), so the simulator runs a document only when this
module found nothing wrong. The rules:

* a well-formed document of at most 100 KB whose root is ``<Response>`` (no attributes);
* known elements only. Simulated: ``Speak``, ``Play``, ``Wait``, ``GetInput`` (which nests
  ``Speak``/``Play``/``Wait``), ``Stream``, ``Redirect``, ``Hangup``. Valid but not simulated
  (the call records and skips them): ``Dial``, ``Conference``, ``MultiPartyCall``, ``Record``,
  ``PreAnswer``, ``GetDigits``, ``DTMF``, ``Message`` (their contents are not checked);
* attribute names are case-sensitive camelCase, exactly those Plivo documents for the element
  (the ones the official ``plivoxml`` builder writes, plus Stream's noise cancellation);
  booleans are ``true``/``false``, methods ``GET``/``POST``, URLs absolute http(s) (the
  Stream URL ws(s)), and numbers within Plivo's documented ranges.

Every message names the element and, where one is at fault, the attribute:
``<GetInput> speechEndTimeout="1": must be 2 to 10, or auto``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MAX_DOCUMENT_BYTES = 100 * 1024
SIMULATED = frozenset({"Speak", "Play", "Wait", "GetInput", "Stream", "Redirect", "Hangup"})
NOT_SIMULATED = frozenset({"Dial", "Conference", "MultiPartyCall", "Record", "PreAnswer",
                           "GetDigits", "DTMF", "Message"})
GETINPUT_CHILDREN = frozenset({"Speak", "Play", "Wait"})
SSML_TAGS = frozenset({"break", "cont", "emphasis", "lang", "p", "phoneme", "prosody", "s",
                       "say-as", "sub", "w"})
CONTENT_TYPES = ("audio/x-l16;rate=8000", "audio/x-l16;rate=16000", "audio/x-mulaw;rate=8000")
INPUT_TYPES = ("dtmf", "speech", "dtmf speech")
SPEECH_MODELS = ("default", "command_and_search", "phone_call")
MAX_EXTRA_HEADERS_BYTES = 512

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
_VOICE = re.compile(r"^(WOMAN|MAN|Polly\.[A-Za-z][A-Za-z-]*)$")
_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_FINISH_KEYS = frozenset("0123456789*#") | {"", "none"}


class PlivoXmlError(ValueError):
    """A document Plivo would reject; ``errors`` lists every rule it breaks."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Element:
    """One element as Plivo would run it: ``attrs`` as written, ``text`` trimmed (for
    ``Speak`` all its text, SSML included), ``children`` the nested elements (GetInput's
    prompt) and ``settings``, the checked attribute values with Plivo's defaults applied
    (``simulated`` False for an element the simulator records and skips)."""

    tag: str
    attrs: Mapping[str, str]
    text: str
    children: tuple[Element, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        return self.tag in SIMULATED


def validate_document(text: str | bytes) -> list[str]:
    """Every rule of Plivo's that ``text`` breaks, in document order (empty: valid)."""
    try:
        parse_document(text)
    except PlivoXmlError as exc:
        return exc.errors
    return []


def parse_document(text: str | bytes) -> list[Element]:
    """The elements of a ``<Response>`` document, in order; raises :class:`PlivoXmlError`."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise PlivoXmlError([f"the document is {len(raw)} bytes; Plivo takes at most "
                             f"{MAX_DOCUMENT_BYTES}"])
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise PlivoXmlError([f"not well-formed XML: {exc}"]) from None
    if root.tag != "Response":
        raise PlivoXmlError([f"the root element is <{root.tag}>, not <Response>"])
    errors = [f'<Response> takes no attributes, got {name}="{value}"'
              for name, value in root.attrib.items()]
    elements = [_element(child, errors) for child in root]
    if errors:
        raise PlivoXmlError(errors)
    return elements


# -- one element -------------------------------------------------------------------------------

def _element(node: ET.Element, errors: list[str], parent: str | None = None) -> Element:
    tag = node.tag
    if parent is not None and tag not in GETINPUT_CHILDREN:
        errors.append(f"<{parent}> cannot contain <{tag}> (only Speak, Play and Wait)")
        return Element(tag, dict(node.attrib), "")
    if tag in NOT_SIMULATED:
        return Element(tag, dict(node.attrib), (node.text or "").strip())
    rules = _RULES.get(tag)
    if rules is None:
        errors.append(f"unknown element <{tag}>")
        return Element(tag, dict(node.attrib), "")
    check = _Checker(tag, node.attrib, errors)
    children: tuple[Element, ...] = ()
    if tag == "Speak":
        text = _speak_text(node, errors)
    else:
        text = (node.text or "").strip()
        nested = list(node)
        if tag == "GetInput":
            children = tuple(_element(child, errors, parent=tag) for child in nested)
        elif nested:
            errors.append(f"<{tag}> cannot contain <{nested[0].tag}>")
    settings = rules(check, text)
    check.unknown_attributes()
    return Element(tag, dict(node.attrib), text, children, settings)


def _speak_text(node: ET.Element, errors: list[str]) -> str:
    for child in node.iter():
        if child is not node and child.tag not in SSML_TAGS:
            errors.append(f"<Speak> cannot contain <{child.tag}> (only SSML tags)")
    text = " ".join("".join(node.itertext()).split())
    if not text:
        errors.append("<Speak> needs the text to say")
    return text


class _Checker:
    """Reads one element's attributes, recording each broken rule; remembers which attributes
    it read so the rest can be reported as unknown."""

    def __init__(self, tag: str, attrs: Mapping[str, str], errors: list[str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.errors = errors
        self.known: set[str] = set()

    def fail(self, name: str, problem: str) -> None:
        self.errors.append(f'<{self.tag}> {name}="{self.attrs[name]}": {problem}')

    def raw(self, name: str) -> str | None:
        self.known.add(name)
        return self.attrs.get(name)

    def value(self, name: str, default: Any, parse: Callable[[str], Any], problem: str) -> Any:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            self.fail(name, problem)
            return default

    def boolean(self, name: str, default: bool) -> bool:
        return self.value(name, default, _boolean, "must be true or false")

    def integer(self, name: str, default: int | None, low: int, high: int | None = None) -> Any:
        problem = (f"must be an integer from {low} to {high}" if high is not None
                   else f"must be an integer of at least {low}")
        return self.value(name, default, lambda raw: _integer(raw, low, high), problem)

    def choice(self, name: str, default: str | None, allowed: tuple[str, ...]) -> Any:
        return self.value(name, default, lambda raw: _choice(raw, allowed),
                          "must be one of " + ", ".join(allowed))

    def method(self, name: str = "method") -> str:
        return self.choice(name, "POST", ("GET", "POST"))

    def url(self, name: str, *, required: bool = False) -> str | None:
        if required and self.attrs.get(name) is None:
            self.known.add(name)
            self.errors.append(f"<{self.tag}> needs {name}, an absolute http(s) URL")
            return None
        return self.value(name, None, _http_url, "must be an absolute http(s) URL")

    def timeout(self, name: str, default: str) -> str:
        return self.value(name, default, lambda raw: raw if raw == "auto" else str(
            _integer(raw, 2, 10)), "must be 2 to 10, or auto")

    def language(self) -> str | None:
        return self.value("language", None, lambda raw: _matching(raw, _LANGUAGE),
                          "must be a language code like en-US")

    def text(self, name: str) -> str | None:
        return self.raw(name)

    def unknown_attributes(self) -> None:
        for name in self.attrs:
            if name not in self.known:
                hint = (" (the WebSocket URL is the element's text)"
                        if self.tag == "Stream" and name.lower() == "url" else "")
                self.errors.append(f'<{self.tag}> has no attribute "{name}"{hint}')


# -- value parsers (raise ValueError) ----------------------------------------------------------

def _boolean(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError(raw)
    return raw == "true"


def _integer(raw: str, low: int, high: int | None) -> int:
    if not re.fullmatch(r"\d+", raw.strip()):
        raise ValueError(raw)
    number = int(raw)
    if number < low or (high is not None and number > high):
        raise ValueError(raw)
    return number


def _choice(raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ValueError(raw)
    return raw


def _matching(raw: str, pattern: re.Pattern[str]) -> str:
    if not pattern.match(raw):
        raise ValueError(raw)
    return raw


def _http_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(raw)
    return raw.strip()


def extra_headers_problem(raw: str) -> str | None:
    """Why a Stream ``extraHeaders`` value is refused (None: it is fine)."""
    if len(raw.encode()) > MAX_EXTRA_HEADERS_BYTES:
        return f"is {len(raw.encode())} bytes; at most {MAX_EXTRA_HEADERS_BYTES}"
    for pair in re.split(r"[,;]", raw):
        key, sep, value = pair.partition("=")
        if not sep or not _ALNUM.match(key.strip()) or not _ALNUM.match(value.strip()):
            return f"{pair!r} is not key=value with alphanumeric key and value"
    return None


# -- the elements' rules: check the attributes, return the settings ----------------------------

def _speak(check: _Checker, text: str) -> dict[str, Any]:
    return {"voice": check.value("voice", "WOMAN", lambda raw: _matching(raw, _VOICE),
                                 "must be WOMAN, MAN or a Polly.<Name> voice"),
            "language": check.language() or "en-US",
            "loop": check.integer("loop", 1, 0)}


def _play(check: _Checker, text: str) -> dict[str, Any]:
    try:
        url = _http_url(text)
    except ValueError:
        url = None
        check.errors.append("<Play> needs an absolute http(s) URL as its text")
    return {"url": url, "loop": check.integer("loop", 1, 0)}


def _wait(check: _Checker, text: str) -> dict[str, Any]:
    return {"length": check.integer("length", 1, 1),
            "silence": check.boolean("silence", False),
            "min_silence_ms": check.integer("minSilence", 2000, 0),
            "beep": check.boolean("beep", False)}


def _redirect(check: _Checker, text: str) -> dict[str, Any]:
    try:
        url = _http_url(text)
    except ValueError:
        url = None
        check.errors.append("<Redirect> needs an absolute http(s) URL as its text")
    return {"url": url, "method": check.method()}


def _hangup(check: _Checker, text: str) -> dict[str, Any]:
    return {"reason": check.choice("reason", None, ("rejected", "busy")),
            "schedule": check.integer("schedule", None, 1)}


def _get_input(check: _Checker, text: str) -> dict[str, Any]:
    finish = check.value("finishOnKey", "#", lambda raw: _choice(raw, tuple(_FINISH_KEYS)),
                         "must be one of 0-9, *, # or empty or none")
    settings = {
        "action": check.url("action", required=True),
        "method": check.method(),
        "input_type": check.choice("inputType", "dtmf", INPUT_TYPES),
        "execution_timeout": check.integer("executionTimeout", 15, 5, 60),
        "digit_end_timeout": check.timeout("digitEndTimeout", "auto"),
        "speech_end_timeout": check.timeout("speechEndTimeout", "auto"),
        "finish_on_key": "" if finish == "none" else finish,
        "num_digits": check.integer("numDigits", 32, 1, 32),
        "speech_model": check.choice("speechModel", "default", SPEECH_MODELS),
        "hints": check.text("hints"),
        "language": check.language() or "en-US",
        "interim_callback": check.url("interimSpeechResultsCallback"),
        "interim_callback_method": check.method("interimSpeechResultsCallbackMethod"),
        "log": check.boolean("log", True),
        "redirect": check.boolean("redirect", True),
        "profanity_filter": check.boolean("profanityFilter", False),
    }
    settings["input_types"] = frozenset(settings["input_type"].split())
    return settings


def _stream(check: _Checker, text: str) -> dict[str, Any]:
    parts = urlsplit(text)
    if not text:
        check.errors.append("<Stream> needs the WebSocket URL as its text")
    elif parts.scheme not in ("ws", "wss") or not parts.netloc:
        check.errors.append(f"<Stream> URL {text!r} must be a ws:// or wss:// URL")
    bidirectional = check.boolean("bidirectional", False)
    track = check.choice("audioTrack", "inbound", ("inbound", "outbound", "both"))
    if bidirectional and track != "inbound":
        check.fail("audioTrack", 'must be inbound when bidirectional="true"')
    headers = check.text("extraHeaders") or ""
    if headers and (problem := extra_headers_problem(headers)) is not None:
        check.fail("extraHeaders", problem)
    return {"url": text, "bidirectional": bidirectional, "audio_track": track,
            "stream_timeout": check.integer("streamTimeout", 86400, 1),
            "status_callback_url": check.url("statusCallbackUrl"),
            "status_callback_method": check.method("statusCallbackMethod"),
            "content_type": check.choice("contentType", CONTENT_TYPES[0], CONTENT_TYPES),
            "extra_headers": headers,
            "keep_call_alive": check.boolean("keepCallAlive", False),
            "noise_cancellation": check.boolean("noiseCancellation", False),
            "noise_cancellation_level": check.integer("noiseCancellationLevel", 85, 60, 100)}


_RULES: dict[str, Callable[[_Checker, str], dict[str, Any]]] = {
    "Speak": _speak, "Play": _play, "Wait": _wait, "Redirect": _redirect, "Hangup": _hangup,
    "GetInput": _get_input, "Stream": _stream,
}
