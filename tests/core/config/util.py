"""Shared helpers for the configuration tests: build configs from Python objects."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from voicecall_cli.core.config import ConfigError, VoiceCallConfig, parse_config_text

HOME_ENV = {"HOME": "/home/ada"}


def from_obj(obj: Mapping[str, Any], env: Mapping[str, str] | None = None) -> VoiceCallConfig:
    """Validate ``obj`` as a JSON config file would be."""
    return parse_config_text(json.dumps(obj), ".json", HOME_ENV if env is None else env)


def errors_of(obj: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{path: message}`` of the ConfigError that ``obj`` must raise."""
    with pytest.raises(ConfigError) as info:
        from_obj(obj, env)
    return {issue.path: issue.message for issue in info.value.issues}


TWILIO_OK = {
    "provider": "twilio",
    "fromNumber": "+15550001234",
    "twilio": {"accountSid": "AC123", "authToken": "tok"},
}
