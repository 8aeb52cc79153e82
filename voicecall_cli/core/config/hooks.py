"""The ``hooks`` table of the configuration: the post-call hook (:mod:`voicecall_cli.core.hooks`).

Absent means no hook (nothing in the effective configuration, like the outbound rails). Written,
it needs ``onCallEnded``; a URL needs ``secret`` (the HMAC key, redacted like every secret);
``timeoutMs`` (default 10000) bounds one run of the command or one HTTP attempt; ``retries``
(default 3) is how many more attempts a URL gets after a network error, 5xx or 429.
"""

from __future__ import annotations

from typing import Any

from voicecall_cli.core.config.fields import MISSING, Checker, Int, Obj, Spec, Str, join
from voicecall_cli.core.hooks import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_MS,
    KIND_URL,
    HookTargetError,
    parse_target,
)


class HookTargetSpec(Spec):
    """A command line or an https URL (plain http only to a loopback address)."""

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if not isinstance(value, str) or not value.strip():
            checker.report(path, "must be a command line or an https:// URL")
            return MISSING
        try:
            parse_target(value)
        except HookTargetError as exc:
            checker.report(path, str(exc))
            return MISSING
        return value


class HooksSpec(Obj):
    """``hooks``: absent stays absent; written, it gets its defaults and cross-checks."""

    def __init__(self) -> None:
        super().__init__({
            "onCallEnded": HookTargetSpec(),
            "secret": Str(secret=True),
            "timeoutMs": Int(DEFAULT_TIMEOUT_MS, ge=100, le=600_000),
            "retries": Int(DEFAULT_RETRIES, ge=0, le=10),
        })

    def default_value(self) -> Any:
        return MISSING

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        out = super().check(value, path, checker)
        if out is MISSING:
            return MISSING
        target_path, secret_path = join(path, "onCallEnded"), join(path, "secret")
        if "onCallEnded" not in out:
            if not checker.has_issue_at(target_path):
                checker.report(target_path, f"{checker.full(target_path)} is required (a "
                                            "command line or an https:// URL)")
            return MISSING
        if parse_target(out["onCallEnded"]).kind == KIND_URL and "secret" not in out \
                and not checker.has_issue_at(secret_path):
            checker.report(secret_path, f"{checker.full(secret_path)} is required for a URL "
                                        "hook (the key of its HMAC-SHA256 signature)")
            return MISSING
        return out
