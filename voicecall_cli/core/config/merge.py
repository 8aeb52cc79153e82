"""Deep merge, as used for ``tts`` over the host's ``messages.tts`` (reference 1.5, 11).

Rules: objects merge key by key, recursively; scalars, arrays and null in the override replace
what the base had; an object replaces an array (and an array an object). The keys
``__proto__``, ``constructor`` and ``prototype`` are dropped at every level of both inputs.
The result shares no containers with either input.
"""

from __future__ import annotations

from typing import Any

BLOCKED_KEYS = frozenset({"__proto__", "constructor", "prototype"})


def sanitized_copy(value: Any) -> Any:
    """A deep copy of ``value`` without the blocked keys at any level."""
    if isinstance(value, dict):
        return {k: sanitized_copy(v) for k, v in value.items() if k not in BLOCKED_KEYS}
    if isinstance(value, list):
        return [sanitized_copy(v) for v in value]
    return value


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` merged over ``base`` (see the module docstring for the rules)."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return sanitized_copy(override)
    merged = sanitized_copy(base)
    for key, value in override.items():
        if key in BLOCKED_KEYS:
            continue
        merged[key] = deep_merge(merged[key], value) if key in merged else sanitized_copy(value)
    return merged
