"""Validation: the schema walk (types, ranges, unknown keys), the carrier credential checks of
reference 1.6, and the warnings a valid but risky configuration earns.

All issues are collected in one :class:`Checker`; nothing stops at the first problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from voicecall_cli.core.config.env import ENV_HINTS
from voicecall_cli.core.config.fields import Checker, join
from voicecall_cli.core.config.schema import ALL_PATHS, CONFIG_SCHEMA
from voicecall_cli.core.hooks import is_plain_http, parse_target
from voicecall_cli.core.keys import looks_like_ed25519_public_key
from voicecall_cli.protocol.text import invalid_text_message

REQUIRED_CREDENTIALS: Mapping[str, tuple[str, ...]] = {
    "telnyx": ("telnyx.apiKey", "telnyx.connectionId", "telnyx.publicKey"),
    "twilio": ("twilio.accountSid", "twilio.authToken"),
    "plivo": ("plivo.authId", "plivo.authToken"),
}
MAX_ELSEWHERE_SUGGESTIONS = 3


def lookup(data: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at dotted ``path`` in nested dicts, or ``default``."""
    node: Any = data
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


def suggest_elsewhere(parent: str, key: str) -> list[str]:
    """Schema paths in other sections whose last key is ``key`` (e.g. ``port`` written at the
    top level suggests ``serve.port``); empty when there are none or too many."""
    wanted = key.lower()
    hits = [path for path in ALL_PATHS
            if path.rsplit(".", 1)[-1].lower() == wanted and path.rpartition(".")[0] != parent]
    return hits if len(hits) <= MAX_ELSEWHERE_SUGGESTIONS else []


def check_schema(raw: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], Checker]:
    """Validate ``raw`` against the schema and fill in defaults; issues land in the checker."""
    checker = Checker(prefix, suggest_elsewhere)
    check_text(raw, "", checker)
    data = CONFIG_SCHEMA.check(raw, "", checker)
    return (data if isinstance(data, dict) else {}), checker


def check_text(value: Any, path: str, checker: Checker) -> None:
    """Report every key and string (at any depth, wherever it came from: a JSON ``\\udce9``
    escape, an environment variable of bytes that are not UTF-8) that is not valid Unicode
    text, so none can reach the daemon's store, logs or answers."""
    if isinstance(value, str):
        problem = invalid_text_message("the value", value)
        if problem:
            checker.report(path, problem)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and invalid_text_message("a key", key):
                checker.report(path, f"a key under {path or 'the top level'} is not valid "
                                     "UTF-8 text")
                continue
            check_text(item, join(path, str(key)), checker)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{path}[{index}]", checker)


def check_provider(data: Mapping[str, Any], checker: Checker) -> None:
    """The carrier checks of reference 1.6, with our key paths. Keys that already have an issue
    (a wrong type, say) are not reported again as missing."""
    provider = data.get("provider")
    if provider is None:
        return
    if provider != "mock" and not data.get("fromNumber"):
        suffix = " (or set TWILIO_FROM_NUMBER env)" if provider == "twilio" else ""
        _require(checker, "fromNumber", suffix)
    for path in REQUIRED_CREDENTIALS.get(provider, ()):
        if path == "telnyx.publicKey" and data.get("skipSignatureVerification"):
            continue
        if lookup(data, path) is None:
            _require(checker, path, f" (or set {ENV_HINTS[path]} env)")
    key = lookup(data, "telnyx.publicKey")
    if provider == "telnyx" and isinstance(key, str) and not checker.has_issue_at(
            "telnyx.publicKey") and not looks_like_ed25519_public_key(key):
        checker.report("telnyx.publicKey", (
            f"{checker.full('telnyx.publicKey')} is not an Ed25519 public key: paste the "
            "public key from Telnyx Mission Control (Keys & Credentials > Public Key), base64 "
            "of 32 bytes"))


def _require(checker: Checker, path: str, suffix: str) -> None:
    if not checker.has_issue_at(path):
        checker.report(path, f"{checker.full(path)} is required{suffix}")


def collect_warnings(data: Mapping[str, Any], key: Callable[[str], str] = str) -> list[str]:
    """Warnings for a configuration that is valid but probably not what the user wants.

    ``key`` names a dotted path in messages (adds the OpenClaw prefix where there is one).
    """
    warnings = []
    if data.get("skipSignatureVerification"):
        warnings.append(
            f"SECURITY WARNING: {key('skipSignatureVerification')} is true: webhook signatures "
            "are NOT verified, so anyone who can reach the webhook can forge call events. "
            "Use it for local testing only.")
    if (lookup(data, "streaming.enabled") and data.get("provider") != "mock"
            and lookup(data, "streaming.sttProvider") == "openai-realtime"
            and not lookup(data, "streaming.openaiApiKey")):
        warnings.append(
            f"{key('streaming.enabled')} is true but no OpenAI API key was found (set "
            f"{key('streaming.openaiApiKey')} or OPENAI_API_KEY): callers on media streams "
            "will not be transcribed")
    warnings.extend(realtime_warnings(data, key))
    hook = lookup(data, "hooks.onCallEnded")
    if isinstance(hook, str) and is_plain_http(parse_target(hook)):
        warnings.append(
            f"{key('hooks.onCallEnded')} is a plain http:// URL: allowed to a loopback address "
            "only, for tests and local receivers; the call's JSON travels unencrypted")
    if lookup(data, "tts.provider") == "edge":
        warnings.append(
            f'{key("tts.provider")} "edge" is ignored for calls (telephony audio needs PCM): '
            "calls fall back to the carrier's own voices")
    return warnings


def realtime_warnings(data: Mapping[str, Any], key: Callable[[str], str] = str) -> list[str]:
    """What ``realtime.enabled`` earns: no key, no media stream, and which path wins when the
    cascaded ``streaming`` path is on too."""
    if not lookup(data, "realtime.enabled"):
        return []
    warnings = []
    if data.get("provider") == "mock":
        warnings.append(
            f'{key("realtime.enabled")} has no effect with provider "mock": the realtime voice '
            "speaks on a carrier's media stream (twilio, telnyx, plivo)")
    if not (lookup(data, "realtime.apiKey") or lookup(data, "streaming.openaiApiKey")):
        warnings.append(
            f"{key('realtime.enabled')} is true but no OpenAI API key was found (set "
            f"{key('realtime.apiKey')} or OPENAI_API_KEY): calls use the cascaded voice")
    if lookup(data, "streaming.enabled"):
        warnings.append(
            f"{key('realtime.enabled')} and {key('streaming.enabled')} are both true: they are "
            "alternatives per call. The realtime model wins for inbound and conversation calls; "
            "notify calls, and a call whose realtime session cannot be had, use streaming "
            "(transcription, reply model, TTS)")
    return warnings
