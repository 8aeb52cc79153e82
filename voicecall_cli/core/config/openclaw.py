"""Whole OpenClaw config files: find the voice-call plugin's part of them.

An OpenClaw config (``openclaw.json``) is recognised by its top-level ``plugins`` key, or by a
top-level ``messages`` key in a file that has none of our own top-level keys (an OpenClaw
file that configures only ``messages.tts``). Our configuration is
``plugins.entries["voice-call"].config`` (the defaults when the entry is absent); the entry's
``enabled`` can switch voice calls off; ``messages.tts`` is the base that our ``tts``
deep-merges over. Every other part of the file belongs to OpenClaw and is ignored.

``messages.tts`` is OpenClaw's own section, so it is read leniently: the newer shape's
``providers.<id>`` blocks count as ``<id>`` blocks, and keys the calls' TTS does not know are
left out with a warning (not an error: they are OpenClaw's to define).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicecall_cli.core.config.errors import ConfigError, ConfigIssue
from voicecall_cli.core.config.fields import Obj
from voicecall_cli.core.config.merge import deep_merge
from voicecall_cli.core.config.schema import CONFIG_SCHEMA, TTS_SCHEMA

ENTRY_PATH = "plugins.entries.voice-call"
CONFIG_PREFIX = f"{ENTRY_PATH}.config"


@dataclass(slots=True)
class Unwrapped:
    """The plugin configuration found in a file, and how to report paths inside it."""

    config: dict[str, Any]
    prefix: str = ""
    tts_base: dict[str, Any] | None = None
    disabled_path: str | None = None
    warnings: list[str] = field(default_factory=list)


def is_openclaw_config(raw: dict[str, Any]) -> bool:
    """True for a whole OpenClaw file. A ``messages`` key beside keys of ours is not enough:
    that file is ours, and ``messages`` is reported as an unknown key rather than everything
    else being silently ignored."""
    if "plugins" in raw:
        return True
    return "messages" in raw and not any(key in CONFIG_SCHEMA.fields for key in raw)


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
    warnings = [] if entry else [
        f"this OpenClaw config has no {ENTRY_PATH} entry: using the defaults"
        + (" (tts from messages.tts)" if tts_base is not None else "")]
    if tts_base is not None:
        tts_base, ignored = host_tts(tts_base)
        warnings += [f"messages.tts.{path} is not used for calls" for path in ignored]
    return Unwrapped(
        config=config or {},
        prefix=CONFIG_PREFIX,
        tts_base=tts_base,
        disabled_path=f"{ENTRY_PATH}.enabled" if enabled is False else None,
        warnings=warnings,
    )


def host_tts(tts: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``messages.tts`` as the calls' ``tts`` base, and the dotted paths (below it) left out.

    ``providers.<id>`` objects are merged over ``<id>`` (they are the newer spelling of the
    same blocks); keys that the ``tts`` schema does not have are dropped.
    """
    tts = dict(tts)
    providers = tts.pop("providers", None)
    ignored: list[str] = []
    merged = _known_only(tts, TTS_SCHEMA, "", ignored)
    if isinstance(providers, dict):
        for provider, block in providers.items():
            spec = TTS_SCHEMA.fields.get(provider)
            if isinstance(spec, Obj) and isinstance(block, dict):
                known = _known_only(block, spec, f"providers.{provider}", ignored)
                merged[provider] = deep_merge(merged.get(provider), known)
            else:
                ignored.append(f"providers.{provider}")
    elif providers is not None:
        ignored.append("providers")
    return merged, ignored


def _known_only(value: dict[str, Any], spec: Obj, parent: str,
                ignored: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, child in value.items():
        path = f"{parent}.{key}" if parent else key
        field_spec = spec.fields.get(key)
        if field_spec is None:
            ignored.append(path)
        elif isinstance(field_spec, Obj) and isinstance(child, dict):
            out[key] = _known_only(child, field_spec, path, ignored)
        else:
            out[key] = child
    return out


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
