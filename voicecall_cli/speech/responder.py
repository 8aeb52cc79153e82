"""The auto-responder's model call: stream a chat completion and hand out sentences early.

:class:`Responder` asks an OpenAI chat-completions endpoint (``POST {base_url}/chat/completions``,
``stream: true``) for the reply to the caller's newest utterance and yields the reply one
complete sentence at a time, each as soon as the model has written it, so that speech synthesis
can start on the first sentence while the model still writes the rest.

It uses the ``openai`` SDK's ``AsyncOpenAI``, which runs under trio through anyio. Importing
this module loads the SDK (about half a second) and building a :class:`Responder` builds its
HTTP client (tens of milliseconds of CPU, TLS set-up): import it only where automatic replies
can happen, and build one :class:`Responder` per configuration, not one per reply.

Resource handling: the :class:`Responder` owns its HTTP client (a connection pool shared by
concurrent replies) and closes it in :meth:`Responder.aclose` or at the end of
``async with responder:``. Each :meth:`Responder.reply_sentences` generator owns one HTTP
response and closes it when the reply is complete, fails, is cancelled or when the generator is
closed; a consumer that may stop early (the caller barges in) should hold the generator in
``contextlib.aclosing`` so the response is closed at once rather than when trio finalizes it.

Error handling: every failure is a :class:`SpeechError` whose message never contains the API
key (server text is scrubbed, and the SDK's exception is not chained because its text may echo
the key). Cancellation from outside propagates unchanged after the response is closed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import openai
import trio

from voicecall_cli.speech.errors import SpeechError
from voicecall_cli.speech.prompts import build_messages
from voicecall_cli.speech.sentences import SentenceSplitter

DEFAULT_BASE_URL = "https://api.openai.com/v1"

_T = TypeVar("_T")
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_*\-]{4,}")


class Responder:
    """Generates spoken replies with one model; see the module doc for ownership and errors.

    ``model`` is the model name without its provider (the second half of
    :func:`voicecall_cli.speech.prompts.parse_model`). ``timeout_s`` is ``responseTimeoutMs``
    in seconds; ``system_prompt`` is ``responseSystemPrompt`` (``None``: the built-in voice
    prompt); an empty ``api_key`` raises :class:`SpeechError`. The SDK's own retries are off:
    a caller is waiting, and one reply that fails is reported rather than repeated behind
    their back.
    """

    def __init__(self, *, api_key: str, model: str, base_url: str = DEFAULT_BASE_URL,
                 timeout_s: float = 30.0, system_prompt: str | None = None) -> None:
        if not api_key:
            raise SpeechError("automatic replies need an OpenAI API key")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s!r}")
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.system_prompt = system_prompt
        self._api_key = api_key
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url,
                                          timeout=timeout_s, max_retries=0)

    async def aclose(self) -> None:
        """Close the HTTP client and its pooled connections, once its replies have ended."""
        await self._client.close()

    async def __aenter__(self) -> Responder:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def reply_sentences(self, *, caller: str, transcript: list[tuple[str, str]],
                              user_message: str,
                              on_first_token: Callable[[], None] | None = None,
                              objective: str | None = None) -> AsyncIterator[str]:
        """Yield the reply to ``user_message``, sentence by sentence, as the model writes it.

        ``caller`` is the caller's number (named in the built-in prompt); ``transcript`` is the
        call so far as ``(speaker, text)`` pairs, speaker "bot" or "user" (see
        :func:`~voicecall_cli.speech.prompts.build_messages`). Sentences are plain speakable
        text (markdown and emoji removed). A model that answers nothing yields nothing.

        ``timeout_s`` bounds the time spent waiting for the model in total (the request, then
        every chunk); time the consumer holds a yielded sentence is not counted, so a consumer
        that speaks each sentence before asking for the next is not cut off by its own pace.
        Past it: ``SpeechError("Response generation timed out after Nms")``.
        ``on_first_token`` is called when the model's first text arrives (turn latency).
        ``objective`` is the call's private brief: system context for the model, not a line
        of the conversation (see :func:`~voicecall_cli.speech.prompts.build_messages`).
        """
        messages = build_messages(system_prompt=self.system_prompt, caller=caller,
                                  transcript=transcript, user_message=user_message,
                                  objective=objective)
        splitter = SentenceSplitter()
        deadline = trio.current_time() + self.timeout_s
        try:
            stream = await self._before(deadline, self._client.chat.completions.create(
                model=self.model, messages=messages, stream=True))
            async with stream:
                chunks = aiter(stream)
                while (chunk := await self._before(deadline, anext(chunks, None))) is not None:
                    content = _content_of(chunk)
                    if content and on_first_token is not None:
                        on_first_token()
                        on_first_token = None
                    for sentence in splitter.feed(content):
                        held_since = trio.current_time()
                        yield sentence
                        deadline += trio.current_time() - held_since
        except openai.APIError as error:
            raise self._speech_error(error) from None
        for sentence in splitter.flush():
            yield sentence

    async def _before(self, deadline: float, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` unless ``deadline`` passes first (then: the timeout error)."""
        with trio.move_on_at(deadline):
            return await awaitable
        raise self._timed_out()

    def _timed_out(self) -> SpeechError:
        return SpeechError(f"Response generation timed out after {round(self.timeout_s * 1000)}ms")

    def _speech_error(self, error: openai.APIError) -> SpeechError:
        if isinstance(error, openai.APITimeoutError):
            return self._timed_out()
        if isinstance(error, openai.APIConnectionError):
            return SpeechError(f"Response generation failed: could not reach {self.base_url}")
        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            if status in (401, 403):
                return SpeechError(f"Response generation failed: HTTP {status}, the OpenAI API "
                                   f"key was refused for model {self.model!r}; check the key")
            return SpeechError(f"Response generation failed: HTTP {status}: "
                               f"{self._scrub(_server_message(error))}")
        return SpeechError(f"Response generation failed: {self._scrub(_server_message(error))}")

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _KEY_LIKE.sub("***", text)


def _content_of(chunk: Any) -> str:
    """The text a ``chat.completion.chunk`` adds (role-only, final and usage chunks add none)."""
    if not chunk.choices:
        return ""
    return chunk.choices[0].delta.content or ""


def _server_message(error: openai.APIError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return error.message
