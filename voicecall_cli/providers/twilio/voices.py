"""Which Twilio ``<Say>`` voice speaks when no media stream carries our own TTS (reference 5.3).

The configured voice is an OpenAI TTS voice name (``tts.openai.voice``); Twilio's ``<Say>``
needs an Amazon Polly (or Google) voice, so the six classic OpenAI voices map onto Polly voices
of a similar character. A value that already names a Polly or Google voice is used as given.
"""

from __future__ import annotations

DEFAULT_VOICE = "Polly.Joanna"

_POLLY_FOR_OPENAI = {
    "alloy": "Polly.Joanna",
    "echo": "Polly.Matthew",
    "fable": "Polly.Amy",
    "onyx": "Polly.Brian",
    "nova": "Polly.Salli",
    "shimmer": "Polly.Kimberly",
}


def polly_voice(openai_voice: str | None) -> str:
    """The ``<Say voice=...>`` value for ``openai_voice`` (case-insensitive; unknown or unset
    names fall back to :data:`DEFAULT_VOICE`)."""
    if not openai_voice:
        return DEFAULT_VOICE
    name = openai_voice.strip()
    if name.startswith(("Polly.", "Google.")):
        return name
    return _POLLY_FOR_OPENAI.get(name.lower(), DEFAULT_VOICE)
