"""Inbound call policy (reference section 8.1): who may call in.

``allowlist`` and ``pairing`` compare caller ids as digit strings only (``+1 (415) 555-0123``
is ``14155550123``) and require an exact match; a missing or non-numeric caller id never
matches. This is caller-ID screening, which callers can spoof: low assurance by nature.
"""

from __future__ import annotations

from collections.abc import Iterable

POLICIES = ("disabled", "allowlist", "pairing", "open")


def normalize_digits(number: str | None) -> str:
    """Every digit of ``number`` in order; "" for None, blank or digit-free input."""
    if not number:
        return ""
    return "".join(ch for ch in number if "0" <= ch <= "9")


def inbound_allowed(policy: str, allow_from: Iterable[str], caller: str | None) -> bool:
    if policy == "open":
        return True
    if policy not in ("allowlist", "pairing"):
        return False
    digits = normalize_digits(caller)
    if not digits:
        return False
    return any(normalize_digits(entry) == digits for entry in allow_from)
