"""OpenAI text-to-speech for calls: ``POST {base_url}/audio/speech`` streamed as raw PCM.

The request asks for ``response_format: "pcm"``: 24 kHz signed 16-bit little-endian mono with
no header, which OpenAI sends as a chunked body while it synthesizes. It goes through the
``openai`` SDK's async client (``audio.speech.with_streaming_response``) over the caller's
``httpx.AsyncClient``, which works under trio; the SDK's streamed response is handed to
:mod:`voicecall_cli.speech.tts_http`, whose deadline, closing and error rules apply unchanged.

Resource handling, timeouts, errors and cancellation: see :mod:`voicecall_cli.speech.tts_http`
(the synthesizer borrows the caller's ``httpx.AsyncClient``; whoever gets the
:class:`SpeechAudio` closes or exhausts its ``chunks``).
"""

from __future__ import annotations

import httpx
import openai

from voicecall_cli.speech.audio_types import SpeechAudio
from voicecall_cli.speech.tts_http import open_audio_stream

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini-tts"
DEFAULT_VOICE = "coral"
PCM_RATE = 24000
LABEL = "OpenAI TTS"


class OpenAISynthesizer:
    """Synthesizes speech with OpenAI's ``/audio/speech`` endpoint (see the module doc).

    Blank ``model``/``voice`` fall back to ``gpt-4o-mini-tts``/``coral``; ``speed`` and
    ``instructions`` are sent only when given.
    """

    def __init__(self, *, http: httpx.AsyncClient, api_key: str,
                 base_url: str | None = None, model: str | None = None,
                 voice: str | None = None, instructions: str | None = None,
                 speed: float | None = None, timeout_s: float = 8.0) -> None:
        self._api_key = api_key
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            http_client=http, max_retries=0, timeout=httpx.Timeout(timeout_s))
        self.model = model or DEFAULT_MODEL
        self.voice = voice or DEFAULT_VOICE
        self._instructions = instructions or None
        self._speed = speed
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"OpenAISynthesizer(model={self.model!r}, voice={self.voice!r})"

    async def synthesize(self, text: str) -> SpeechAudio:
        """Start synthesizing ``text``; return once the response headers have arrived.

        Returns ``SpeechAudio("pcm16", 24000, chunks)``. Raises :class:`SpeechError`.
        """
        body: dict[str, object] = {
            "model": self.model,
            "input": text,
            "voice": self.voice,
            "response_format": "pcm",
        }
        if self._speed is not None:
            body["speed"] = self._speed
        if self._instructions is not None:
            body["instructions"] = self._instructions
        return await open_audio_stream(
            lambda: self._send(body), label=LABEL, secret=self._api_key, encoding="pcm16",
            rate=PCM_RATE, timeout_s=self._timeout_s)

    async def _send(self, body: dict[str, object]) -> httpx.Response:
        """The SDK's streamed response, body unread. The SDK's errors become what
        ``open_audio_stream`` reads: an error status comes back as its response, a timeout or
        a connection failure is raised as httpx's own exception."""
        try:
            streamed = await self._client.audio.speech.with_streaming_response.create(
                **body).__aenter__()  # closed through its http_response (see tts_http)
        except openai.APIStatusError as exc:
            return exc.response
        except openai.APITimeoutError:
            raise httpx.ReadTimeout("timed out") from None
        except openai.APIConnectionError as exc:
            raise httpx.ConnectError(str(exc.__cause__ or exc)) from None
        return streamed.http_response
