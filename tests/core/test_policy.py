"""Inbound policy: digit normalisation and exact matching (reference 8.1)."""

import pytest

from voicecall_cli.core.policy import inbound_allowed, normalize_digits


@pytest.mark.parametrize(("raw", "digits"), [
    ("+1 (415) 555-0123", "14155550123"),
    (" 020-7946-0958 ", "02079460958"),
    ("", ""),
    (None, ""),
    ("anonymous", ""),
])
def test_normalize_digits(raw: str | None, digits: str) -> None:
    assert normalize_digits(raw) == digits


def test_disabled_rejects_everyone() -> None:
    assert not inbound_allowed("disabled", ["+15550001234"], "+15550001234")


def test_open_accepts_even_anonymous() -> None:
    assert inbound_allowed("open", [], None)


@pytest.mark.parametrize("policy", ["allowlist", "pairing"])
def test_allowlist_matches_exact_digits_only(policy: str) -> None:
    allow = ["+1 (555) 000-1234", "", "not a number"]
    assert inbound_allowed(policy, allow, "+15550001234")
    assert not inbound_allowed(policy, allow, "+99915550001234")  # suffix is not enough
    assert not inbound_allowed(policy, allow, "+1555000123")  # prefix is not enough
    assert not inbound_allowed(policy, allow, "anonymous")
    assert not inbound_allowed(policy, allow, None)
    assert not inbound_allowed(policy, ["", "abc"], "")
