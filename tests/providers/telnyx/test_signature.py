"""Telnyx webhook signatures (Ed25519 over "{timestamp}|{body}"): the table of what passes and
what is refused, with keys and signatures made by ``cryptography``."""

from __future__ import annotations

import base64

import pytest

from tests.providers.telnyx.util import (
    NOW_MS,
    fixture,
    new_key,
    public_der_b64,
    public_pem,
    public_raw_b64,
    request,
    signed_headers,
)
from voicecall_cli.core.keys import looks_like_ed25519_public_key
from voicecall_cli.providers.telnyx.signature import (
    MISSING_KEY,
    TOLERANCE_S,
    load_public_key,
    verify_telnyx,
)

KEY = new_key()
PUBLIC = load_public_key(public_raw_b64(KEY))
BODY = fixture("call_answered")
NOW_S = NOW_MS // 1000


def verify(body: bytes, headers: dict[str, str], public=PUBLIC, now_ms: int = NOW_MS):
    return verify_telnyx(request(body, headers), public, now_ms)


def test_a_valid_signature_passes_with_a_key_for_this_exact_delivery() -> None:
    result = verify(BODY, signed_headers(KEY, BODY, NOW_S))
    assert result.ok and result.reason is None
    assert result.key and result.key.startswith("telnyx:")
    again = verify(BODY, signed_headers(KEY, BODY, NOW_S))
    assert again.key == result.key  # the same delivery re-sent: the replay cache's key
    later = verify(BODY, signed_headers(KEY, BODY, NOW_S + 1))
    assert later.ok and later.key != result.key  # a re-delivery is a new request


@pytest.mark.parametrize("form", [public_raw_b64, public_der_b64, public_pem,
                                  lambda k: public_raw_b64(k).replace("+", "-").replace("/", "_")
                                  .rstrip("=")])
def test_the_public_key_is_accepted_in_each_form_telnyx_or_openssl_gives(form) -> None:
    text = form(KEY)
    assert looks_like_ed25519_public_key(text)
    assert verify(BODY, signed_headers(KEY, BODY, NOW_S), public=load_public_key(text)).ok


@pytest.mark.parametrize("text", ["", "not base64 !", base64.b64encode(b"x" * 31).decode(),
                                  base64.b64encode(b"\x30" * 44).decode()])
def test_a_malformed_public_key_is_refused_by_config_and_by_the_loader(text) -> None:
    assert not looks_like_ed25519_public_key(text)
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        load_public_key(text)


def test_a_base64url_signature_passes() -> None:
    headers = signed_headers(KEY, BODY, NOW_S)
    headers["telnyx-signature-ed25519"] = (headers["telnyx-signature-ed25519"]
                                           .replace("+", "-").replace("/", "_").rstrip("="))
    assert verify(BODY, headers).ok


def refusals() -> dict[str, tuple[bytes, dict[str, str], object, str]]:
    good = signed_headers(KEY, BODY, NOW_S)
    other = new_key()
    tampered = BODY.replace(b"call.answered", b"call.hangup")
    return {
        "tampered body": (tampered, good, PUBLIC, "Invalid signature"),
        "other key": (BODY, signed_headers(other, BODY, NOW_S), PUBLIC, "Invalid signature"),
        "signed with the timestamp changed": (
            BODY, {**good, "telnyx-timestamp": str(NOW_S - 1)}, PUBLIC, "Invalid signature"),
        "stale timestamp": (BODY, signed_headers(KEY, BODY, NOW_S - TOLERANCE_S - 1), PUBLIC,
                            "Timestamp too old"),
        "future timestamp": (BODY, signed_headers(KEY, BODY, NOW_S + TOLERANCE_S + 1), PUBLIC,
                             "Timestamp is in the future"),
        "no signature header": (BODY, {k: v for k, v in good.items()
                                       if k != "telnyx-signature-ed25519"}, PUBLIC,
                                "Missing signature or timestamp header"),
        "no timestamp header": (BODY, {k: v for k, v in good.items()
                                       if k != "telnyx-timestamp"}, PUBLIC,
                                "Missing signature or timestamp header"),
        "timestamp not a number": (BODY, {**good, "telnyx-timestamp": "1e9"}, PUBLIC,
                                   "Invalid timestamp header"),
        "huge timestamp": (BODY, {**good, "telnyx-timestamp": "9" * 5000}, PUBLIC,
                           "Invalid timestamp header"),
        "signature not base64": (BODY, {**good, "telnyx-signature-ed25519": "%%%"}, PUBLIC,
                                 "Invalid signature"),
        "no public key configured": (BODY, good, None, MISSING_KEY),
    }


@pytest.mark.parametrize("label", list(refusals()))
def test_refused(label: str) -> None:
    body, headers, public, reason = refusals()[label]
    result = verify(body, headers, public=public)
    assert (result.ok, result.reason, result.key) == (False, reason, None)


def test_the_timestamp_is_checked_before_the_signature() -> None:
    """An old capture is refused for its age even with a garbage signature: no signature work
    is spent on it."""
    headers = {"telnyx-signature-ed25519": "AAAA", "telnyx-timestamp": str(NOW_S - 3600)}
    assert verify(BODY, headers).reason == "Timestamp too old"
