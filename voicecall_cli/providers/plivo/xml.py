"""The Plivo XML documents voicecall serves, built with the plivo SDK's ``plivoxml``.

Pure functions: text and URLs in, one ``<Response>`` document out, escaped by the SDK; every
builder is wrapped in ``xml_safe_args`` (characters XML 1.0 cannot carry become spaces). The
webhook codec (:mod:`.webhooks`) serves them; the REST client never sends XML itself (Plivo
fetches a document from us after a transfer).

A document that should keep the call up ends in a ``<Redirect method="POST">`` back to the
call's URL (``flow=redirect``): Plivo hangs up a call whose document runs out, so when a
``<Wait>`` ends, a ``<Speak>`` finishes or a ``<GetInput>`` hears nothing, Plivo asks us what
comes next. Attribute values stay inside Plivo's ranges (``executionTimeout`` 5-60;
``speechEndTimeout`` left at its default ``auto``: the reference sent 1, which Plivo refuses).
"""

from __future__ import annotations

from plivo import plivoxml

from voicecall_cli.protocol.text import xml_safe, xml_safe_args

STREAM_CONTENT_TYPE = "audio/x-mulaw;rate=8000"
KEEP_ALIVE_S = 30  # one <Wait> of an idle call, then Plivo asks again
LISTEN_TIMEOUT_S = 30  # GetInput executionTimeout
MIN_LISTEN_TIMEOUT_S, MAX_LISTEN_TIMEOUT_S = 5, 60  # what Plivo accepts
HOLD_WAIT_S = 5  # an inbound caller on hold asks again this often
BEEP_WAIT_S = 30  # the longest a voicemail greeting is waited for
HOLD_PROMPT = "Please hold while we connect you."
DEFAULT_VOICE = "WOMAN"
DEFAULT_LANGUAGE = "en-US"


def speakable(text: str) -> str:
    """``text`` with every character XML cannot carry replaced by a space (``xml_safe``)."""
    return xml_safe(text)


@xml_safe_args
def empty() -> str:
    """Nothing to run (hang-up and status callbacks: Plivo ignores the body)."""
    return _document()


@xml_safe_args
def keep_alive(redirect_url: str, wait_s: int = KEEP_ALIVE_S) -> str:
    """Keep the call up doing nothing: wait, then ask ``redirect_url`` again."""
    return _document(plivoxml.WaitElement(length=wait_s), _redirect(redirect_url))


@xml_safe_args
def await_beep(redirect_url: str, wait_s: int = BEEP_WAIT_S) -> str:
    """A machine answered: wait for its greeting's beep (at most ``wait_s``), then tell
    ``redirect_url`` (the voicemail may be left now)."""
    return _document(plivoxml.WaitElement(length=wait_s, beep=True), _redirect(redirect_url))


@xml_safe_args
def notify(text: str, *, voice: str = DEFAULT_VOICE, language: str = DEFAULT_LANGUAGE) -> str:
    """Say ``text`` once, then hang up: the whole of a notify-mode call."""
    return _document(_speak(text, voice, language), plivoxml.HangupElement())


@xml_safe_args
def speak(text: str, redirect_url: str, *, voice: str = DEFAULT_VOICE,
          language: str = DEFAULT_LANGUAGE) -> str:
    """Say ``text``, then come back to ``redirect_url`` (which says the speech is over)."""
    return _document(_speak(text, voice, language), _redirect(redirect_url))


# What a turn accepts -> GetInput's inputType. Keys end with finishOnKey "#" (not reported in
# Digits) or KEY_GAP_S after the last key (digitEndTimeout, 2 to 10).
INPUT_TYPES = {"speech": "speech", "dtmf": "dtmf", "both": "dtmf speech"}
KEY_GAP_S = 3


@xml_safe_args
def listen(action_url: str, redirect_url: str, *, prompt: str | None = None,
           voice: str = DEFAULT_VOICE, language: str = DEFAULT_LANGUAGE,
           timeout_s: int = LISTEN_TIMEOUT_S, accept: str = "speech") -> str:
    """Listen for one utterance and POST it (``Speech``) to ``action_url``.

    A ``prompt`` is said inside the ``<GetInput>``, so the caller may talk over it. When the
    caller says nothing for ``timeout_s`` seconds (kept within 5-60), Plivo goes on to the
    ``<Redirect>`` and asks ``redirect_url`` what next (listen again, while the turn lasts).
    ``accept`` ``dtmf``/``both``: keys answer too (``Digits``, until ``#`` or a
    :data:`KEY_GAP_S` pause).
    """
    timeout_s = min(MAX_LISTEN_TIMEOUT_S, max(MIN_LISTEN_TIMEOUT_S, timeout_s))
    keys = {"digit_end_timeout": KEY_GAP_S, "finish_on_key": "#"} if accept != "speech" else {}
    get_input = plivoxml.GetInputElement(
        action=action_url, method="POST", input_type=INPUT_TYPES.get(accept, "speech"),
        execution_timeout=timeout_s, language=language, redirect=True, **keys)
    if prompt:
        get_input.add(_speak(prompt, voice, language))
    return _document(get_input, _redirect(redirect_url))


@xml_safe_args
def stream(stream_url: str, token: str, *, status_url: str, redirect_url: str) -> str:
    """Connect the call's audio to our websocket at ``stream_url`` (the element's text).

    Bidirectional G.711 mu-law at 8 kHz, the caller's track only (Plivo's default content
    type is linear PCM, which would be heard as noise). ``token`` (alphanumeric) reaches the
    stream's ``start`` frame through ``extraHeaders``. With ``keepCallAlive`` the document
    waits while the stream lasts; should it drop, the ``<Redirect>`` asks us what next
    instead of Plivo hanging up.
    """
    element = plivoxml.StreamElement(
        stream_url, bidirectional=True, audioTrack="inbound",
        contentType=STREAM_CONTENT_TYPE, keepCallAlive=True, extraHeaders=f"token={token}",
        statusCallbackUrl=status_url, statusCallbackMethod="POST")
    return _document(element, _redirect(redirect_url))


@xml_safe_args
def hold(redirect_url: str, *, first: bool, voice: str = DEFAULT_VOICE,
         language: str = DEFAULT_LANGUAGE) -> str:
    """An inbound caller waits for a free stream slot: a word of explanation the first time,
    then short waits, asking ``redirect_url`` after each."""
    elements = [_speak(HOLD_PROMPT, voice, language)] if first else []
    return _document(*elements, plivoxml.WaitElement(length=HOLD_WAIT_S),
                     _redirect(redirect_url))


def _speak(text: str, voice: str, language: str) -> plivoxml.SpeakElement:
    return plivoxml.SpeakElement(speakable(text), voice=voice, language=language)


def _redirect(url: str) -> plivoxml.RedirectElement:
    return plivoxml.RedirectElement(url, method="POST")


def _document(*elements: object) -> str:
    response = plivoxml.ResponseElement()
    for element in elements:
        response.add(element)
    return '<?xml version="1.0" encoding="UTF-8"?>' + response.to_string(pretty=False)
