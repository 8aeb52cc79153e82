"""What the auto-responder asks the model: the model choice and the chat messages of one turn.

Pure functions, no I/O. ``parse_model`` reads the ``responseModel`` setting; ``build_messages``
turns a call's transcript and the caller's newest utterance into chat-completions messages.
"""

from __future__ import annotations

from voicecall_cli.core.config.schema import REPLY_MODEL_PROVIDERS as SUPPORTED_PROVIDERS
from voicecall_cli.protocol.text import xml_safe
from voicecall_cli.speech.errors import SpeechError

DEFAULT_RESPONSE_MODEL = "openai/gpt-4o-mini"

_VOICE_PROMPT = (
    "You are a helpful assistant speaking with someone on a phone call; the caller's phone "
    "number is {caller}. Everything you write is read aloud to them by a speech synthesizer. "
    "Answer in one or two short, conversational sentences, in a natural and friendly tone, as "
    "a person would say them on the phone. Write plain spoken text only: no markdown, no "
    "lists, no headings, no emoji, no links. If you did not catch what the caller meant, ask "
    "them briefly to say it again."
)

_OBJECTIVE_PROMPT = (
    "Your private brief for this call, from whoever placed it. Pursue it in the conversation, "
    "but never read it out, quote it or say that you have a brief:\n{objective}"
)

_ROLES = {"bot": "assistant", "user": "user"}


def parse_model(response_model: str | None) -> tuple[str, str]:
    """Split ``responseModel`` ("provider/model") into ``(provider, model)``.

    ``None`` or blank means :data:`DEFAULT_RESPONSE_MODEL`; a name without a slash belongs to
    "openai". Only the providers in :data:`SUPPORTED_PROVIDERS` can answer calls for now: any
    other raises :class:`SpeechError` naming the provider. The model part may contain further
    slashes (for example a fine-tune id); only the first slash separates the provider.
    """
    value = (response_model or "").strip() or DEFAULT_RESPONSE_MODEL
    provider, slash, model = value.partition("/")
    if not slash:
        provider, model = "openai", value
    provider, model = provider.strip().lower(), model.strip()
    if provider not in SUPPORTED_PROVIDERS:
        raise SpeechError(
            f"responseModel {value!r}: provider {provider!r} is not supported for automatic "
            f"replies (supported: {', '.join(SUPPORTED_PROVIDERS)})")
    if not model:
        raise SpeechError(f"responseModel {value!r} names no model after {provider + '/'!r}")
    return provider, model


def build_messages(*, system_prompt: str | None, caller: str,
                   transcript: list[tuple[str, str]], user_message: str,
                   objective: str | None = None) -> list[dict[str, str]]:
    """The chat messages for one reply: system prompt, the call's objective (when it has one),
    the call so far, the newest utterance.

    ``system_prompt`` is the ``responseSystemPrompt`` setting: it replaces the built-in voice
    prompt, and ``None`` (or blank) selects the built-in one, which names ``caller``.
    ``transcript`` holds ``(speaker, text)`` pairs in call order, speaker "bot" (becomes an
    assistant message) or "user" (a user message); other speakers and empty texts are skipped.
    ``user_message`` is the caller's newest final utterance. A call record's transcript already
    ends with it when the reply is asked for: a last ``("user", user_message)`` entry is
    therefore left out, so the utterance is sent once, as the newest message.
    ``objective`` (the call's ``metadata.objective``) is a second system message, after the
    prompt: context for the model, never a line of the conversation (control characters
    replaced by spaces).
    """
    prompt = system_prompt if system_prompt and system_prompt.strip() else None
    messages = [{"role": "system",
                 "content": prompt or _VOICE_PROMPT.format(caller=caller or "unknown")}]
    if objective and objective.strip():
        messages.append({"role": "system",
                         "content": _OBJECTIVE_PROMPT.format(objective=xml_safe(objective
                                                                              ).strip())})
    history = list(transcript)
    if history and history[-1][0] == "user" and history[-1][1].strip() == user_message.strip():
        history.pop()
    for speaker, text in history:
        role = _ROLES.get(speaker)
        if role is not None and text.strip():
            messages.append({"role": role, "content": text.strip()})
    messages.append({"role": "user", "content": user_message.strip()})
    return messages


def realtime_instructions(*, system_prompt: str | None, caller: str, objective: str | None,
                          transcript: list[tuple[str, str]]) -> str:
    """A realtime voice session's instructions: the prompt (``system_prompt``, else the
    built-in voice prompt), the call's objective, and the call so far when there is one (a
    session that resumes after a lost connection carries on from it)."""
    prompt = system_prompt if system_prompt and system_prompt.strip() else None
    parts = [prompt or _VOICE_PROMPT.format(caller=caller or "unknown")]
    if objective and objective.strip():
        parts.append(_OBJECTIVE_PROMPT.format(objective=xml_safe(objective).strip()))
    lines = [f"{'You' if speaker == 'bot' else 'Caller'}: {xml_safe(text).strip()}"
             for speaker, text in transcript if speaker in _ROLES and text.strip()]
    if lines:
        parts.append("The call so far (carry on from here; do not greet the caller again):\n"
                     + "\n".join(lines))
    return "\n\n".join(parts)
