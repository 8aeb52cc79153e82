"""Environment fallbacks (reference 1.5): secrets and ids may come from the environment.

Only the selected carrier's variables are read; the ngrok, OpenAI and ElevenLabs ones always
are. A value already in the configuration wins; an empty variable counts as unset. The
environment is always passed in: nothing here reads ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROVIDER_ENV: Mapping[str, tuple[tuple[str, str], ...]] = {
    "twilio": (
        ("twilio.accountSid", "TWILIO_ACCOUNT_SID"),
        ("twilio.authToken", "TWILIO_AUTH_TOKEN"),
        ("fromNumber", "TWILIO_FROM_NUMBER"),
    ),
    "telnyx": (
        ("telnyx.apiKey", "TELNYX_API_KEY"),
        ("telnyx.connectionId", "TELNYX_CONNECTION_ID"),
        ("telnyx.publicKey", "TELNYX_PUBLIC_KEY"),
    ),
    "plivo": (
        ("plivo.authId", "PLIVO_AUTH_ID"),
        ("plivo.authToken", "PLIVO_AUTH_TOKEN"),
    ),
}

COMMON_ENV: tuple[tuple[str, str], ...] = (
    ("tunnel.ngrokAuthToken", "NGROK_AUTHTOKEN"),
    ("tunnel.ngrokDomain", "NGROK_DOMAIN"),
    ("streaming.openaiApiKey", "OPENAI_API_KEY"),
    ("realtime.apiKey", "OPENAI_API_KEY"),
    ("tts.openai.apiKey", "OPENAI_API_KEY"),
    ("tts.elevenlabs.apiKey", "ELEVENLABS_API_KEY"),
)

ENV_HINTS: Mapping[str, str] = {
    path: var for pairs in (*PROVIDER_ENV.values(), COMMON_ENV) for path, var in pairs
}


def apply_env_fallbacks(config: dict[str, Any], env: Mapping[str, str],
                        provider: str | None) -> dict[str, str]:
    """Fill unset keys of the raw ``config`` (in place) from ``env``.

    Returns ``{dotted path: variable name}`` for every value taken from the environment, so
    that later messages can say where a bad value came from. Containers of the wrong type are
    left alone for validation to report.
    """
    pairs = (*PROVIDER_ENV.get(provider or "", ()), *COMMON_ENV)
    taken: dict[str, str] = {}
    for path, var in pairs:
        value = (env.get(var) or "").strip()
        if value and _set_if_unset(config, path.split("."), value):
            taken[path] = var
    return taken


def _set_if_unset(config: dict[str, Any], keys: list[str], value: str) -> bool:
    node = config
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            return False
        node = child
    if node.get(keys[-1]) is not None:
        return False
    node[keys[-1]] = value
    return True
