"""ElevenLabs text-to-speech for calls, streamed as 8 kHz mu-law (no transcoding needed).

``POST {base_url}/v1/text-to-speech/{voice_id}/stream?output_format=ulaw_8000`` with the
``xi-api-key`` header and a JSON body ``{text, model_id, voice_settings?, language_code?,
seed?, apply_text_normalization?}``; the chunked response body is raw G.711 mu-law at 8 kHz,
which is what telephone carriers play, so the daemon only has to frame it.

Resource handling, timeouts, errors and cancellation: see :mod:`voicecall_cli.speech.tts_http`
(the synthesizer borrows the caller's ``httpx.AsyncClient``; whoever gets the
:class:`SpeechAudio` closes or exhausts its ``chunks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from voicecall_cli.speech.audio_types import SpeechAudio
from voicecall_cli.speech.tts_http import open_audio_stream

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
# The voice in the voice-call plugin's documentation examples.
DEFAULT_VOICE_ID = "pMsXgVXv3BLzUgSXRplE"
# The low-latency model: its first audio byte comes sooner, which matters on a call.
DEFAULT_MODEL_ID = "eleven_flash_v2_5"
OUTPUT_FORMAT = "ulaw_8000"
MULAW_RATE = 8000
LABEL = "ElevenLabs TTS"

VOICE_SETTING_NAMES = {  # config key (camelCase) -> API key (snake_case)
    "stability": "stability",
    "similarityBoost": "similarity_boost",
    "style": "style",
    "useSpeakerBoost": "use_speaker_boost",
    "speed": "speed",
}


def voice_settings_for_api(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The config's ``voiceSettings`` with the API's snake_case names; unset keys left out."""
    settings = settings or {}
    return {api: settings[key] for key, api in VOICE_SETTING_NAMES.items()
            if settings.get(key) is not None}


class ElevenLabsSynthesizer:
    """Synthesizes speech with ElevenLabs' streaming endpoint (see the module doc).

    ``voice_settings`` uses the config's camelCase names (``similarityBoost`` ...); optional
    fields are sent only when set.
    """

    def __init__(self, *, http: httpx.AsyncClient, api_key: str,
                 base_url: str | None = None, voice_id: str | None = None,
                 model_id: str | None = None,
                 voice_settings: Mapping[str, Any] | None = None,
                 language_code: str | None = None, seed: int | None = None,
                 apply_text_normalization: str | None = None,
                 timeout_s: float = 8.0) -> None:
        self._http = http
        self._api_key = api_key
        self.voice_id = voice_id or DEFAULT_VOICE_ID
        self.model_id = model_id or DEFAULT_MODEL_ID
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._url = f"{base}/v1/text-to-speech/{quote(self.voice_id, safe='')}/stream"
        self._options: dict[str, Any] = {
            "voice_settings": voice_settings_for_api(voice_settings) or None,
            "language_code": language_code or None,
            "seed": seed,
            "apply_text_normalization": apply_text_normalization or None,
        }
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"ElevenLabsSynthesizer(voice_id={self.voice_id!r}, model_id={self.model_id!r})"

    async def synthesize(self, text: str) -> SpeechAudio:
        """Start synthesizing ``text``; return once the response headers have arrived.

        Returns ``SpeechAudio("mulaw", 8000, chunks)``. Raises :class:`SpeechError`.
        """
        body: dict[str, Any] = {"text": text, "model_id": self.model_id}
        body.update((key, value) for key, value in self._options.items() if value is not None)
        request = self._http.build_request(
            "POST", self._url, params={"output_format": OUTPUT_FORMAT}, json=body,
            timeout=httpx.Timeout(self._timeout_s), headers={"xi-api-key": self._api_key})
        return await open_audio_stream(
            lambda: self._http.send(request, stream=True), label=LABEL, secret=self._api_key,
            encoding="mulaw", rate=MULAW_RATE, timeout_s=self._timeout_s)
