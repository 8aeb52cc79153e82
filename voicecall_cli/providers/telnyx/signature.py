"""Telnyx's webhook signature: Ed25519 over ``"{telnyx-timestamp}|{raw body}"`` with the
account's public key (reference 6.4), checked with ``cryptography``. Pure: the request, the key
and the time in, a verdict out.

The order of the checks is part of the contract: the headers, then the key, then the timestamp
(more than :data:`TOLERANCE_S` away from now is refused *before* any signature work, so an old
capture costs us nothing), then the signature.

The request key (replay cache, and the dedupe key of events without an id) is a digest of
exactly the signed bytes, ``"{timestamp}|{raw body}"``, never of the signature's text: the
header may spell one signature in several ways (base64 or base64url, with or without padding,
other unused trailing bits), and each spelling of a captured delivery must still be a replay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from voicecall_cli.core.keys import decode_base64, ed25519_public_key_bytes
from voicecall_cli.providers.base import WebhookRequest

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE_S = 300
MISSING_KEY = "Missing telnyx.publicKey (configure to verify webhooks)"
KEY_FORMATS = "base64 of the raw 32-byte key, base64 DER (SubjectPublicKeyInfo) or PEM"


@dataclass(frozen=True, slots=True)
class TelnyxVerification:
    """``key`` (set only when ``ok``) identifies this exact delivery for the replay cache."""

    ok: bool
    reason: str | None = None
    key: str | None = None


def load_public_key(text: str) -> Ed25519PublicKey:
    """The account public key as Mission Control shows it (base64 of 32 raw bytes), or base64
    DER SPKI, or PEM: the forms ``config validate`` accepts (:mod:`voicecall_cli.core.keys`).
    Raises ``ValueError`` naming them."""
    try:
        return Ed25519PublicKey.from_public_bytes(ed25519_public_key_bytes(text))
    except ValueError:
        raise ValueError(f"telnyx.publicKey is not an Ed25519 public key ({KEY_FORMATS})"
                         ) from None


def verify_telnyx(request: WebhookRequest, public_key: Ed25519PublicKey | None,
                  now_ms: int) -> TelnyxVerification:
    """Check the delivery's Ed25519 signature (see the module docstring for the order)."""
    signature_text = request.headers.get(SIGNATURE_HEADER, "").strip()
    timestamp_text = request.headers.get(TIMESTAMP_HEADER, "").strip()
    if not signature_text or not timestamp_text:
        return TelnyxVerification(False, "Missing signature or timestamp header")
    if public_key is None:
        return TelnyxVerification(False, MISSING_KEY)
    if not timestamp_text.isascii() or not timestamp_text.isdigit() or len(timestamp_text) > 12:
        return TelnyxVerification(False, "Invalid timestamp header")
    skew_s = now_ms / 1000 - int(timestamp_text)
    if skew_s > TOLERANCE_S:
        return TelnyxVerification(False, "Timestamp too old")
    if skew_s < -TOLERANCE_S:
        return TelnyxVerification(False, "Timestamp is in the future")
    signed = timestamp_text.encode() + b"|" + request.body
    try:
        signature = decode_base64(signature_text)
        public_key.verify(signature, signed)
    except (ValueError, InvalidSignature):
        return TelnyxVerification(False, "Invalid signature")
    return TelnyxVerification(True, key="telnyx:" + hashlib.sha256(signed).hexdigest())
