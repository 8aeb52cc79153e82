"""Whole OpenClaw config files: find the voice-call plugin's part of them.

An OpenClaw config (``openclaw.json``) is recognised by its top-level ``plugins`` key. Our
configuration is ``plugins.entries["voice-call"].config``; the entry's ``enabled`` can switch
voice calls off; ``messages.tts`` is the base that our ``tts`` deep-merges over. Every other
part of the file belongs to OpenClaw and is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicecall_cli.core.config.errors import ConfigError, ConfigIssue

ENTRY_PATH = "plugins.entries.voice-call"
CONFIG_PREFIX = f"{ENTRY_PATH}.config"


@dataclass(slots=True)
class Unwrapped:
    """The plugin configuration found in a file, and how to report paths inside it."""

    config: dict[str, Any]
    prefix: str = ""
    tts_base: dict[str, Any] | None = None
    disabled_path: str | None = None
    warning: str | None = None


def is_openclaw_config(raw: dict[str, Any]) -> bool:
    return "plugins" in raw


def unwrap(raw: dict[str, Any]) -> Unwrapped:
    """Our configuration inside ``raw``: ``raw`` itself, or the plugin entry of an OpenClaw file.

    Raises :class:`ConfigError` when the OpenClaw wrapper has the wrong shape.
    """
    if not is_openclaw_config(raw):
        return Unwrapped(raw)
    issues: list[ConfigIssue] = []
    entries = _object_at(raw, ("plugins", "entries"), issues)
    entry = _object_at(entries, ("voice-call",), issues, "plugins.entries") if entries else None
    config = _object_at(entry, ("config",), issues, ENTRY_PATH) if entry else None
    messages = _object_at(raw, ("messages",), issues)
    tts_base = _object_at(messages, ("tts",), issues, "messages") if messages else None
    enabled = entry.get("enabled") if entry else None
    if enabled is not None and not isinstance(enabled, bool):
        issues.append(ConfigIssue(f"{ENTRY_PATH}.enabled", "must be true or false"))
    if issues:
        raise ConfigError(issues)
    return Unwrapped(
        config=config or {},
        prefix=CONFIG_PREFIX,
        tts_base=tts_base,
        disabled_path=f"{ENTRY_PATH}.enabled" if enabled is False else None,
        warning=None if entry else (
            f"this OpenClaw config has no {ENTRY_PATH} entry: using the defaults"),
    )


def _object_at(node: dict[str, Any] | None, keys: tuple[str, ...], issues: list[ConfigIssue],
               parent: str = "") -> dict[str, Any] | None:
    """The object at ``keys`` below ``node``; None when absent (or null); reports non-objects."""
    path = parent
    for key in keys:
        path = f"{path}.{key}" if path else key
        value = node.get(key) if node is not None else None
        if value is None:
            return None
        if not isinstance(value, dict):
            issues.append(ConfigIssue(path, "must be an object (a table)"))
            return None
        node = value
    return node
