"""The auto-responder: answers the caller when no agent turn is waiting (reference 8.2, with
the 'L' rule that every final caller transcript, from a stream or a webhook, is handed over).

:func:`open_auto_responder` owns the model client (its HTTP pool is closed on exit). Each reply
runs as a task in the call manager's nursery and speaks sentence by sentence as the model
writes. A call placed with an objective (``metadata.objective``) gives it to the model as
system context on every reply; only the model's reply is ever spoken. Every bit of newer
caller speech (speech start, a partial, a final) bumps the call's generation, and a reply
whose generation is no longer current is dropped before its next sentence: never a stale
answer. Failures are logged and published as ``call.error``; the call goes on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any

from voicecall_cli.core.call import CallRecord
from voicecall_cli.protocol import ApiError
from voicecall_cli.protocol import events as ev

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls.manager import CallManager

log = logging.getLogger("voicecall.autoreply")
# The model sees the call's newest transcript entries only: a long call must not make every
# reply slower (and costlier) than the one before it.
HISTORY_ENTRIES = 20


class AutoResponder:
    def __init__(self, responder: Any) -> None:
        self.responder = responder
        self.manager: CallManager | None = None
        self._generation: dict[str, int] = {}

    def wants(self, call: CallRecord) -> bool:
        """Inbound calls and conversation calls are answered; notify calls are not."""
        return call.direction == "inbound" or call.mode == "conversation"

    def caller_spoke(self, call_id: str) -> None:
        """Newer caller speech: any reply still being prepared for this call is stale."""
        self._generation[call_id] = self._generation.get(call_id, 0) + 1

    def answer(self, call: CallRecord, utterance: str) -> None:
        self.caller_spoke(call.call_id)
        if self.manager is not None:
            self.manager.latency.transcript(call.call_id)
            self.manager.spawn(self._reply, call, utterance, self._generation[call.call_id])

    def _stale(self, call: CallRecord, generation: int) -> bool:
        return call.is_terminal or self._generation.get(call.call_id) != generation

    async def _reply(self, call: CallRecord, utterance: str, generation: int) -> None:
        from voicecall_cli.daemon.calls.operations import say

        manager = self.manager
        assert manager is not None
        history = [(t.speaker, t.text) for t in call.transcript[-HISTORY_ENTRIES:]]
        objective = call.metadata.get("objective")
        try:
            async with aclosing(self.responder.reply_sentences(
                    caller=call.from_number, transcript=history, user_message=utterance,
                    on_first_token=lambda: manager.latency.mark(call.call_id, "firstTokenMs"),
                    objective=objective if isinstance(objective, str) else None,
                    )) as sentences:
                async for sentence in sentences:
                    manager.latency.mark(call.call_id, "replyMs")
                    if self._stale(call, generation):
                        log.info("reply for call %s dropped: the caller spoke again",
                                 call.call_id)
                        return
                    await say(manager, call, sentence)
        except ApiError as exc:
            log.warning("auto-reply not spoken on call %s: %s", call.call_id, exc.message)
        except Exception as exc:
            log.warning("auto-reply failed on call %s: %s", call.call_id, exc)
            if not call.is_terminal:
                manager.publish(call, ev.CALL_ERROR, {"message": f"auto-reply failed: {exc}"})


def responder_settings(config: Any) -> dict[str, Any] | None:
    """The model client's settings for ``config`` (the :class:`Responder` keywords), or None
    when no model key is configured (then there are no automatic replies)."""
    api_key = config.get("streaming.openaiApiKey") or config.get("tts.openai.apiKey")
    if not api_key:
        return None
    from voicecall_cli.speech.prompts import parse_model

    _provider, model = parse_model(config.get("responseModel"))
    return {"api_key": api_key, "model": model, "base_url": config.get("responseBaseUrl"),
            "timeout_s": int(config.get("responseTimeoutMs")) / 1000,
            "system_prompt": config.get("responseSystemPrompt") or None}


def build_responder(settings: dict[str, Any]) -> Any:
    """A new :class:`Responder` (its owner closes it: ``aclose``)."""
    from voicecall_cli.speech.responder import Responder

    return Responder(**settings)


@asynccontextmanager
async def open_auto_responder(config: Any) -> AsyncIterator[AutoResponder | None]:
    """The auto-responder for this config, or None when no model key is configured."""
    settings = responder_settings(config)
    if settings is None:
        log.info("auto-responses are off: no OpenAI API key (OPENAI_API_KEY)")
        yield None
        return
    async with build_responder(settings) as responder:
        yield AutoResponder(responder)
