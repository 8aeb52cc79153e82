"""What this build acts on: the start-up check, and warnings for settings nothing reads yet.

:func:`check_startup` is the one check that ``voicecall daemon run`` makes before it starts
anything and that ``voicecall config validate`` makes after loading, so that validate says ok
exactly when the daemon starts: voice calls switched off, a carrier that cannot reach the
webhook (see :mod:`.exposure`), an auto-reply model provider this build cannot call. The
loader has already checked the schema and the carrier credentials.

:func:`unused_setting_warnings` names settings the schema accepts (they are the plugin's) but
that nothing in the daemon reads; the loader adds them to ``VoiceCallConfig.warnings``, which
``config validate``, ``config show`` and the daemon's start-up log all print.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voicecall_cli.core.config.errors import ConfigError, ConfigIssue
from voicecall_cli.core.config.exposure import KeyName, public_url_error
from voicecall_cli.core.config.model import DISABLED_MESSAGE, VoiceCallConfig
from voicecall_cli.core.config.schema import REPLY_MODEL_PROVIDERS

DEFAULT_REPLY_MODEL = "openai/gpt-4o-mini"
# tts keys of OpenClaw's chat TTS that calls do not use (written in the voice-call tts block).
CHAT_ONLY_TTS_KEYS = ("auto", "enabled", "mode", "summaryModel", "modelOverrides", "prefsPath",
                      "maxTextLength", "edge")


def startup_issues(config: VoiceCallConfig) -> list[ConfigIssue]:
    """Every reason the daemon would refuse to start with ``config`` (empty: it starts)."""
    if config.disabled_path is not None:
        return [ConfigIssue(config.disabled_path, DISABLED_MESSAGE)]
    issues = []
    unreachable = public_url_error(config.data, config.key)
    if unreachable:
        issues.append(ConfigIssue(config.key("publicUrl"), unreachable))
    reply_model = _reply_model_problem(config.get("responseModel"))
    if reply_model:
        issues.append(ConfigIssue(config.key("responseModel"), reply_model))
    return issues


def check_startup(config: VoiceCallConfig) -> None:
    """Raise :class:`ConfigError` with every :func:`startup_issues` issue, if there is one."""
    issues = startup_issues(config)
    if issues:
        raise ConfigError(issues)


def _reply_model_problem(value: Any) -> str | None:
    """What is wrong with ``responseModel`` ("provider/model"; no slash means openai), or None.

    The same rule as the auto-responder's (``speech.prompts.parse_model``), checked up front.
    """
    text = (value or "").strip() if isinstance(value, str) else ""
    provider, slash, model = (text or DEFAULT_REPLY_MODEL).partition("/")
    if not slash:
        provider, model = "openai", provider
    provider = provider.strip().lower()
    if provider not in REPLY_MODEL_PROVIDERS:
        return (f'provider "{provider}" cannot answer calls in this build (supported: '
                f'{", ".join(REPLY_MODEL_PROVIDERS)}; an OpenAI-compatible server works as '
                '"openai/<model>" with responseBaseUrl)')
    if not model.strip():
        return f'names no model after "{provider}/"'
    return None


def unused_setting_warnings(data: Mapping[str, Any], written: Mapping[str, Any],
                            key: KeyName) -> list[str]:
    """Warnings naming settings that were written but that this build does not act on.

    ``written`` is the voice-call configuration as the file had it (before defaults, the
    environment and ``messages.tts``), so only what the user wrote is reported.
    """
    warnings = []
    if "silenceTimeoutMs" in written:
        warnings.append(f"{key('silenceTimeoutMs')} is not used: the pause that ends a "
                        f"caller's turn is {key('streaming.silenceDurationMs')}")
    if "stt" in written:
        warnings.append(f"{key('stt')} is not used (a legacy block): transcription is set with "
                        f"{key('streaming.sttProvider')} and {key('streaming.sttModel')}")
    tts = written.get("tts")
    if isinstance(tts, Mapping):
        warnings += [f"{key('tts.' + name)} is not used for calls (it is for OpenClaw's chat "
                     "TTS)" for name in CHAT_ONLY_TTS_KEYS if name in tts]
    streaming = data.get("streaming") or {}
    if data.get("provider") == "mock" and streaming.get("enabled"):
        warnings.append(f'{key("streaming.enabled")} has no effect with provider "mock": media '
                        "streams are the carriers'")
    return warnings
