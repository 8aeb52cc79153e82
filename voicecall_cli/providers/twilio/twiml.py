"""The TwiML documents voicecall sends Twilio, built with the twilio SDK's ``VoiceResponse``.

Pure functions: text and URLs in, one XML document out (``<?xml ...?><Response>...``), escaped
by the SDK. Every builder is wrapped in ``xml_safe_args``: characters XML 1.0 cannot carry (form
feed, vertical tab, other control characters, lone surrogates) become spaces, so the document
is well-formed whatever the text (Twilio drops a call whose TwiML does not parse). Webhook
replies (:mod:`.webhooks`) and REST call updates (``Twiml=`` in ``rest.py``) both use them, so
what Twilio runs is defined in this one place.

Every document that should keep the call up ends in a ``<Redirect method="POST">`` back to the
call's webhook URL: when Twilio reaches it (speech done, silence, pause over), it asks us again
and the webhook decides what comes next. Without it Twilio hangs up at the end of the document.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from voicecall_cli.protocol.text import xml_safe_args
from voicecall_cli.providers.urls import with_query

HOLD_MUSIC_PATH = "/voice/hold-music"
HOLD_QUEUE = "hold-queue"
# Twilio's own hosted hold music (a public, royalty-free classical piece).
HOLD_MUSIC_URL = "http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3"


@xml_safe_args
def _empty_document() -> str:
    return VoiceResponse().to_xml()


# Built once, by the SDK like every other document: the reply to most status callbacks.
_EMPTY = _empty_document()


def empty() -> str:
    """Nothing to do (status callbacks; Twilio ends the call if it was waiting for TwiML).
    The same document every time (it takes no text), built once at import."""
    return _EMPTY


@xml_safe_args
def notify(text: str, voice: str, language: str = "en-US") -> str:
    """Say ``text`` once, then hang up: the whole of a notify-mode call."""
    response = VoiceResponse()
    response.say(text, voice=voice, language=language)
    response.hangup()
    return response.to_xml()


@xml_safe_args
def say(text: str, voice: str, language: str, redirect_url: str) -> str:
    """Say ``text``, then come back to ``redirect_url`` for what follows."""
    response = VoiceResponse()
    response.say(text, voice=voice, language=language)
    response.redirect(redirect_url, method="POST")
    return response.to_xml()


# What a turn accepts -> the Gather's input. Keys end with finishOnKey "#" (not reported in
# Digits) or KEY_GAP_S after the last key (Gather's timeout also bounds the wait for the first).
GATHER_INPUTS = {"speech": "speech", "dtmf": "dtmf", "both": "dtmf speech"}
KEY_GAP_S = 3


@xml_safe_args
def gather(action_url: str, *, prompt: str | None, voice: str, language: str = "en-US",
           timeout_s: int = 120, redirect_url: str, accept: str = "speech") -> str:
    """Listen for one utterance and POST it (``SpeechResult``) to ``action_url``.

    A ``prompt`` is spoken inside the ``<Gather>``, so the caller may talk over it. When the
    caller says nothing for ``timeout_s`` seconds the Gather ends without a callback and the
    ``<Redirect>`` brings Twilio back to ``redirect_url`` (the webhook re-prompts).
    ``accept`` ``dtmf``/``both``: keys answer too (``Digits``: pressed until ``#`` or a
    :data:`KEY_GAP_S` pause); Twilio's ``timeout`` is then that gap, so a silent caller's
    Gather ends sooner and is re-issued by the redirect.
    """
    response = VoiceResponse()
    keys = accept != "speech"
    listen = response.gather(input=GATHER_INPUTS.get(accept, "speech"), speech_timeout="auto",
                             language=language, action=action_url, method="POST",
                             timeout=KEY_GAP_S if keys else timeout_s,
                             **({"finish_on_key": "#"} if keys else {}))
    if prompt:
        listen.say(prompt, voice=voice, language=language)
    response.redirect(redirect_url, method="POST")
    return response.to_xml()


@xml_safe_args
def play_digits(digits: str, redirect_url: str) -> str:
    """Play touch tones (``w``: half a second's pause; Twilio has no ``W``, so it becomes
    ``ww``), then come back to ``redirect_url``, whose reply resumes what the call was doing
    (its listening turn's Gather, its media stream, or idling)."""
    response = VoiceResponse()
    response.play(digits=digits.replace("W", "ww"))
    response.redirect(redirect_url, method="POST")
    return response.to_xml()


@xml_safe_args
def idle(redirect_url: str, pause_s: int = 30) -> str:
    """Keep the call up doing nothing: pause, then ask ``redirect_url`` again."""
    response = VoiceResponse()
    response.pause(length=pause_s)
    response.redirect(redirect_url, method="POST")
    return response.to_xml()


@xml_safe_args
def stream(stream_url: str, token: str) -> str:
    """Connect the call's audio to our media-stream websocket at ``stream_url``.

    The per-call ``token`` travels as a ``<Parameter>`` (it arrives in the stream's ``start``
    message as ``customParameters.token``) because Twilio drops query strings from the
    ``<Stream url>``.
    """
    response = VoiceResponse()
    connect = response.connect()
    connect.stream(url=stream_url).parameter(name="token", value=token)
    return response.to_xml()


@xml_safe_args
def queue(hold_music_path: str = HOLD_MUSIC_PATH, *, action_url: str | None = None) -> str:
    """Put an inbound caller on hold (every inbound stream slot is taken).

    While waiting, Twilio plays what ``hold_music_path`` answers (:func:`hold_music`). With
    ``action_url``, Twilio POSTs there when the caller leaves the queue (``QueueResult``:
    ``hangup`` when they hung up, ``redirected`` when we connected them by a REST update).
    """
    response = VoiceResponse()
    response.say("Please hold while we connect you.", voice="alice")
    if action_url is None:
        response.enqueue(HOLD_QUEUE, wait_url=hold_music_path)
    else:
        response.enqueue(HOLD_QUEUE, action=action_url, method="POST",
                         wait_url=hold_music_path)
    return response.to_xml()


@xml_safe_args
def hold_music() -> str:
    """What the queue's ``waitUrl`` (the webhook server's hold-music path) answers."""
    response = VoiceResponse()
    response.say("All agents are currently busy. Please hold.", voice="alice")
    response.play(HOLD_MUSIC_URL, loop=0)
    return response.to_xml()


def with_turn_token(url: str, turn_token: str) -> str:
    """``url`` with its ``turnToken`` query parameter set to ``turn_token`` (added or replaced;
    the other parameters keep their order)."""
    return with_query(url, turnToken=turn_token)


def turn_url(call_url: str, turn_token: str | None) -> str:
    """Where a turn's ``<Gather>`` posts what it heard and where its ``<Redirect>`` (nothing
    heard) comes back: the call's URL with the turn's token, the bare call URL for a turn
    without one. Twilio's requests to one URL carry the same signed form all call long, so a
    redirect to the bare call URL would be a replay of an earlier request and get its reply."""
    return with_turn_token(call_url, turn_token) if turn_token else call_url
