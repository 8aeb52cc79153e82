"""Local stand-ins for OpenAI's and ElevenLabs' streaming TTS endpoints (real wire formats).

Each fake is a plain ASGI app served by hypercorn's trio worker on 127.0.0.1, port 0:

* :class:`FakeOpenAISpeech` answers ``POST /v1/audio/speech``: it checks ``Authorization:
  Bearer <key>`` (401 with OpenAI's error JSON otherwise, echoing the key it got, as a careless
  server might) and the JSON body (400 unless ``model``, ``input``, ``voice`` are strings and
  ``response_format`` is ``"pcm"``), then streams a 1 kHz tone as 24 kHz s16le PCM.
* :class:`FakeElevenLabsSpeech` answers ``POST /v1/text-to-speech/{voice_id}/stream``: it checks
  ``xi-api-key``, the path's voice id, ``output_format=ulaw_8000`` and the body (``text`` and
  ``model_id`` strings), then streams a 1 kHz tone as 8 kHz G.711 mu-law.

Both stream ``chunk_count`` chunks of ``chunk_ms`` of audio with ``chunk_delay_s`` between
them (and ``first_chunk_delay_s`` before the first, ``headers_delay_s`` before the headers),
and log each stream with server-side trio timestamps (``finished_at``: the last audio chunk
was sent) and whether the client disconnected before that. ``fail_status`` makes every
request fail with that status and the service's error JSON.

Resource handling: :func:`serve_fake` runs the server in its own nursery and cancels it on exit.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qs

import hypercorn.trio
import trio
from hypercorn.config import Config

from tests.asgi_fakes import read_body, serve_lifespan

TONE_HZ = 1000


def tone_samples(seconds: float, rate: int) -> list[int]:
    """A 1 kHz sine at 0.25 of full scale."""
    count = round(seconds * rate)
    return [round(8192 * math.sin(2 * math.pi * TONE_HZ * i / rate)) for i in range(count)]


def pcm16(samples: list[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def mulaw(samples: list[int]) -> bytes:
    """G.711 mu-law, written out here so the fake does not share the product's codec."""
    out = bytearray()
    for sample in samples:
        sign = 0x80 if sample < 0 else 0
        magnitude = min(abs(sample), 32635) + 132
        exponent = max(magnitude.bit_length() - 8, 0)
        mantissa = (magnitude >> (exponent + 3)) & 0x0F
        out.append(~(sign | exponent << 4 | mantissa) & 0xFF)
    return bytes(out)


@dataclass
class SpeechRequest:
    """One request as the fake saw it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class StreamLog:
    """Server-side trio timestamps of one audio response."""

    headers_sent_at: float | None = None
    chunks_sent_at: list[float] = field(default_factory=list)
    finished_at: float | None = None
    disconnected: trio.Event = field(default_factory=trio.Event)


class FakeTtsServer:
    """The shared ASGI plumbing; subclasses define the checks and the audio."""

    content_type = b"application/octet-stream"
    sample_rate = 0

    def __init__(self, api_key: str, *, chunk_count: int = 5, chunk_ms: int = 100,
                 chunk_delay_s: float = 0.05, first_chunk_delay_s: float = 0.0,
                 headers_delay_s: float = 0.0, fail_status: int | None = None) -> None:
        self.api_key = api_key
        self.chunk_count = chunk_count
        self.chunk_ms = chunk_ms
        self.chunk_delay_s = chunk_delay_s
        self.first_chunk_delay_s = first_chunk_delay_s
        self.headers_delay_s = headers_delay_s
        self.fail_status = fail_status
        self.base_url = ""
        self.requests: list[SpeechRequest] = []
        self.streams: list[StreamLog] = []
        self.audio = self.encode(tone_samples(chunk_count * chunk_ms / 1000, self.sample_rate))

    def encode(self, samples: list[int]) -> bytes:
        raise NotImplementedError

    def check(self, request: SpeechRequest) -> tuple[int, str] | None:
        """None to stream audio, else ``(status, error message)``."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def chunks(self) -> list[bytes]:
        size = len(self.audio) // self.chunk_count
        return [self.audio[i * size:(i + 1) * size] for i in range(self.chunk_count)]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        raw = await read_body(receive)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        request = SpeechRequest(
            path=scope["path"], query=parse_qs(scope["query_string"].decode()),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]}, body=body)
        self.requests.append(request)
        failure = self.check(request)
        if failure is None and self.fail_status is not None:
            failure = (self.fail_status, "The server had an error while processing your request.")
        if failure is not None:
            status, text = failure
            reply = json.dumps(self.error_body(status, text)).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": reply})
            return
        await self._stream_audio(receive, send)

    async def _stream_audio(self, receive: Any, send: Any) -> None:
        log = StreamLog()
        self.streams.append(log)
        async with trio.open_nursery() as nursery:

            async def watch_for_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                if log.finished_at is None:  # hypercorn also reports one after a full response
                    log.disconnected.set()
                    nursery.cancel_scope.cancel()

            nursery.start_soon(watch_for_disconnect)
            await trio.sleep(self.headers_delay_s)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", self.content_type)]})
            log.headers_sent_at = trio.current_time()
            await trio.sleep(self.first_chunk_delay_s)
            for index, chunk in enumerate(self.chunks()):
                if index:
                    await trio.sleep(self.chunk_delay_s)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                log.chunks_sent_at.append(trio.current_time())
            log.finished_at = trio.current_time()
            await send({"type": "http.response.body", "body": b""})
            nursery.cancel_scope.cancel()


class FakeOpenAISpeech(FakeTtsServer):
    """OpenAI ``POST /v1/audio/speech`` with ``response_format: "pcm"``; ``base_url`` ends
    in ``/v1`` like the real one."""

    content_type = b"audio/pcm"
    sample_rate = 24000

    def encode(self, samples: list[int]) -> bytes:
        return pcm16(samples)

    def check(self, request: SpeechRequest) -> tuple[int, str] | None:
        if request.path != "/v1/audio/speech":
            return 404, f"Invalid URL (POST {request.path})"
        got = request.headers.get("authorization", "")
        if got != f"Bearer {self.api_key}":
            return 401, f"Incorrect API key provided: {got.removeprefix('Bearer ')}."
        body = request.body
        if not isinstance(body, dict) or not all(
                isinstance(body.get(key), str) for key in ("model", "input", "voice")):
            return 400, "model, input and voice are required"
        if body.get("response_format") != "pcm":
            return 400, "this fake streams response_format 'pcm' only"
        return None

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class FakeElevenLabsSpeech(FakeTtsServer):
    """ElevenLabs ``POST /v1/text-to-speech/{voice_id}/stream?output_format=ulaw_8000``."""

    content_type = b"audio/basic"
    sample_rate = 8000

    def __init__(self, api_key: str, *, voice_id: str, **options: Any) -> None:
        super().__init__(api_key, **options)
        self.voice_id = voice_id

    def encode(self, samples: list[int]) -> bytes:
        return mulaw(samples)

    def check(self, request: SpeechRequest) -> tuple[int, str] | None:
        if request.path != f"/v1/text-to-speech/{self.voice_id}/stream":
            return 404, f"voice not found at {request.path}"
        got = request.headers.get("xi-api-key", "")
        if got != self.api_key:
            return 401, f"Invalid API key: {got}"
        if request.query.get("output_format") != ["ulaw_8000"]:
            return 400, "this fake streams output_format=ulaw_8000 only"
        body = request.body
        if not isinstance(body, dict) or not all(
                isinstance(body.get(key), str) for key in ("text", "model_id")):
            return 422, "text and model_id are required"
        return None

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"detail": {"status": f"http_{status}", "message": message}}


@asynccontextmanager
async def serve_fake(server: FakeTtsServer) -> AsyncIterator[FakeTtsServer]:
    """Serve ``server`` on 127.0.0.1 (port 0) and set its ``base_url`` until exit."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn.trio.serve, server, config, mode="asgi"))
        root = binds[0].rstrip("/")
        server.base_url = root + "/v1" if isinstance(server, FakeOpenAISpeech) else root
        yield server
        nursery.cancel_scope.cancel()
