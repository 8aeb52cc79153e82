"""Streaming an audio HTTP response into a :class:`SpeechAudio` (shared by the TTS clients).

:func:`open_audio_stream` sends one request and returns as soon as the response headers have
arrived; the audio then streams through ``SpeechAudio.chunks``.

Resource handling: the caller's ``httpx.AsyncClient`` is borrowed, never closed. The streamed
response is owned by the ``chunks`` async generator, which closes it in its ``finally`` when it
is exhausted, closed with ``aclose()``, or fails. The generator is started before it is handed
out (it is parked just inside its ``try``), so ``aclose()`` releases the response even if no
chunk was ever read. A generator dropped without either is closed by trio's async-generator
finalizer, later; do not rely on that.

Timeouts: one deadline, ``timeout_s`` after the request starts, covers connecting, the headers
and the first audio byte; missing it raises ``SpeechError("<label> synthesis timed out after
<N>ms")`` (from ``synthesize`` or from the first ``__anext__``). After the first byte, httpx's
read timeout (also ``timeout_s``) bounds each wait for more audio.

Error handling: every failure is a :class:`SpeechError`. HTTP errors read ``"<label> error:
<status> <short body>"``; network errors ``"<label> request failed: <reason>"``. The API key is
masked in every message, and the httpx exception is not chained (it could carry headers).

Cancellation: cancelling ``open_audio_stream`` or a pending ``__anext__`` closes the response
(shielded, bounded) and propagates the cancellation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import httpx
import trio

from voicecall_cli.speech.audio_types import SpeechAudio
from voicecall_cli.speech.errors import SpeechError

ERROR_BODY_LIMIT = 200
CLOSE_GRACE_S = 1.0
MASK = "***"


async def open_audio_stream(send: Callable[[], Awaitable[httpx.Response]], *, label: str,
                            secret: str, encoding: str, rate: int,
                            timeout_s: float) -> SpeechAudio:
    """Send the request streamed (``send()`` returns the response with its body unread);
    return once the 2xx headers are in (see the module doc).

    ``label`` names the service in messages ("OpenAI TTS"); ``secret`` is masked in them.
    """
    errors = _ErrorText(label, secret, timeout_s)
    deadline = trio.current_time() + timeout_s
    response: httpx.Response | None = None
    try:
        with trio.move_on_at(deadline) as scope:
            try:
                response = await send()
                if not response.is_success:
                    body = await response.aread()
                    raise SpeechError(errors.http_status(response.status_code, body))
            except httpx.TimeoutException:
                raise SpeechError(errors.timed_out()) from None
            except httpx.HTTPError as exc:
                raise SpeechError(errors.network(exc)) from None
        if scope.cancelled_caught:
            raise SpeechError(errors.timed_out())
    except BaseException:
        if response is not None:
            await _close(response)
        raise
    assert response is not None  # a finished send without a timeout always has a response
    chunks = _stream_chunks(response, deadline, errors)
    await anext(chunks)  # park the generator inside its try: aclose() now closes the response
    return SpeechAudio(encoding, rate, chunks)


async def _stream_chunks(response: httpx.Response, deadline: float,
                         errors: _ErrorText) -> AsyncGenerator[bytes, None]:
    """Yield one empty priming item, then the response body as it arrives; always close it."""
    try:
        yield b""
        async with aclosing(response.aiter_bytes()) as body:
            first: bytes | None = None
            with trio.move_on_at(deadline) as scope:
                first = await _next_chunk(body, errors, on_timeout=errors.timed_out)
            if scope.cancelled_caught:
                raise SpeechError(errors.timed_out())
            if first is None:
                return
            yield first
            while (chunk := await _next_chunk(body, errors, on_timeout=errors.stalled)):
                yield chunk
    finally:
        await _close(response)


async def _next_chunk(body: AsyncGenerator[bytes, None], errors: _ErrorText, *,
                      on_timeout: Callable[[], str]) -> bytes | None:
    """The next non-empty body chunk, or None at the end of the body.

    httpx's own read timeout becomes ``SpeechError(on_timeout())``.
    """
    try:
        while True:
            chunk = await anext(body)
            if chunk:
                return chunk
    except StopAsyncIteration:
        return None
    except httpx.TimeoutException:
        raise SpeechError(on_timeout()) from None
    except httpx.HTTPError as exc:
        raise SpeechError(errors.network(exc)) from None


async def _close(response: httpx.Response) -> None:
    """Close ``response`` even inside a cancelled scope (bounded by CLOSE_GRACE_S)."""
    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_GRACE_S):
        await response.aclose()


class _ErrorText:
    """Builds SpeechError messages for one service, with its API key masked."""

    def __init__(self, label: str, secret: str, timeout_s: float) -> None:
        self.label = label
        self._secret = secret
        self._timeout_ms = round(timeout_s * 1000)

    def timed_out(self) -> str:
        return f"{self.label} synthesis timed out after {self._timeout_ms}ms"

    def stalled(self) -> str:
        return f"{self.label} audio stream stalled for more than {self._timeout_ms}ms"

    def network(self, exc: httpx.HTTPError) -> str:
        reason = str(exc) or type(exc).__name__
        return self._mask(f"{self.label} request failed: {reason}")

    def http_status(self, status: int, body: bytes) -> str:
        return self._mask(f"{self.label} error: {status} {summarize_error_body(body)}").rstrip()

    def _mask(self, text: str) -> str:
        return text.replace(self._secret, MASK) if self._secret else text


def summarize_error_body(body: bytes) -> str:
    """A one-line, at most ERROR_BODY_LIMIT characters, human summary of an API error body.

    Understands OpenAI's ``{"error": {"message"}}`` and ElevenLabs' ``{"detail": {"message"}}``
    / ``{"detail": "..."}`` / ``{"detail": [{"msg"}]}``; anything else is shown as text.
    """
    text = body.decode("utf-8", errors="replace")
    try:
        message = _message_from_json(json.loads(text))
    except ValueError:
        message = None
    summary = " ".join((message or text).split())
    if len(summary) > ERROR_BODY_LIMIT:
        summary = summary[:ERROR_BODY_LIMIT - 3] + "..."
    return summary


def _message_from_json(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    for key in ("error", "detail"):
        value = data.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return value["message"]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return str(value[0].get("msg") or value[0].get("message") or "") or None
    message = data.get("message")
    return message if isinstance(message, str) else None
