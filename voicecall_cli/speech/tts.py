"""Text-to-speech for calls: the :class:`Synthesizer` interface and the choice of provider.

The daemon builds one synthesizer at start with :func:`make_synthesizer` from the validated
``tts`` block of the configuration (``config.get("tts")``) and its shared
``httpx.AsyncClient``. ``tts.provider`` picks OpenAI (the default) or ElevenLabs; Edge TTS
gives no telephony audio, so it yields no synthesizer, and neither does a provider without an
API key. :func:`tts_unavailable_reason` says why, for the daemon's warning.

Resource handling: a synthesizer holds no resource of its own; it borrows the HTTP client,
which its owner closes. Each ``synthesize`` call returns a :class:`SpeechAudio` whose
``chunks`` the caller must exhaust or ``aclose()`` (that releases the HTTP response).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from voicecall_cli.speech.audio_types import SpeechAudio
from voicecall_cli.speech.tts_elevenlabs import ElevenLabsSynthesizer
from voicecall_cli.speech.tts_openai import OpenAISynthesizer

EDGE_IGNORED = "Edge TTS is ignored for calls"
MISSING_KEY = {
    "openai": "OpenAI TTS needs an API key: set tts.openai.apiKey or OPENAI_API_KEY",
    "elevenlabs": ("ElevenLabs TTS needs an API key: set tts.elevenlabs.apiKey or "
                   "ELEVENLABS_API_KEY"),
}


class Synthesizer(Protocol):
    """Turns text into streamed call audio."""

    async def synthesize(self, text: str) -> SpeechAudio:
        """Start synthesis; return as soon as the response headers arrived.

        The audio then streams through the returned ``chunks``, which the caller must exhaust
        or ``aclose()``. No first audio byte within the synthesizer's timeout raises
        ``SpeechError("... synthesis timed out after <N>ms")``; every failure is a
        :class:`SpeechError` whose message never contains the API key.
        """
        ...


def tts_unavailable_reason(tts_config: Mapping[str, Any] | None) -> str | None:
    """Why :func:`make_synthesizer` gives None for this ``tts`` block, or None if it won't.

    The text is a warning for the user (it names the missing key, never a secret).
    """
    tts = tts_config or {}
    provider = tts.get("provider") or "openai"
    if provider == "edge":
        return EDGE_IGNORED
    if provider not in MISSING_KEY:
        return f"TTS provider {provider!r} is not supported for calls"
    if not (tts.get(provider) or {}).get("apiKey"):
        return MISSING_KEY[provider]
    return None


def make_synthesizer(tts_config: Mapping[str, Any] | None, *, http: httpx.AsyncClient,
                     timeout_s: float = 8.0) -> Synthesizer | None:
    """The synthesizer for the validated ``tts`` config block, or None (see the module doc).

    ``timeout_s`` bounds each synthesis until its first audio byte (and each later stall).
    """
    if tts_unavailable_reason(tts_config) is not None:
        return None
    tts = tts_config or {}
    if tts.get("provider") == "elevenlabs":
        eleven = tts["elevenlabs"]
        return ElevenLabsSynthesizer(
            http=http, api_key=eleven["apiKey"], base_url=eleven.get("baseUrl"),
            voice_id=eleven.get("voiceId"), model_id=eleven.get("modelId"),
            voice_settings=eleven.get("voiceSettings"),
            language_code=eleven.get("languageCode"), seed=eleven.get("seed"),
            apply_text_normalization=eleven.get("applyTextNormalization"),
            timeout_s=timeout_s)
    openai = tts["openai"]
    return OpenAISynthesizer(
        http=http, api_key=openai["apiKey"], base_url=openai.get("baseUrl"),
        model=openai.get("model"), voice=openai.get("voice"),
        instructions=openai.get("instructions"), speed=openai.get("speed"),
        timeout_s=timeout_s)
