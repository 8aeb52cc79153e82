"""The slice of the configuration the post-call hook acts on, as one immutable value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicecall_cli.core.hooks import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_MS,
    HookTarget,
    parse_target,
)


@dataclass(frozen=True, slots=True)
class HookSettings:
    """``hooks.*``: what to run, the URL's HMAC key, the timeout of one run or attempt, and
    how many more attempts a URL gets. Its ``repr`` never shows the secret."""

    target: HookTarget
    secret: str | None = None
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    retries: int = DEFAULT_RETRIES

    def __repr__(self) -> str:
        return (f"HookSettings(kind={self.target.kind!r}, timeout_ms={self.timeout_ms}, "
                f"retries={self.retries})")

    @classmethod
    def from_config(cls, cfg: Any) -> HookSettings | None:
        """From a validated ``VoiceCallConfig``; None when no hook is configured."""
        target = cfg.get("hooks.onCallEnded")
        if not target:
            return None
        return cls(target=parse_target(target), secret=cfg.get("hooks.secret"),
                   timeout_ms=int(cfg.get("hooks.timeoutMs", DEFAULT_TIMEOUT_MS)),
                   retries=int(cfg.get("hooks.retries", DEFAULT_RETRIES)))
