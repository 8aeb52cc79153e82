"""Key and signature text as users and carriers write it: lenient base64, and the Ed25519 public
key forms (Telnyx's webhook key). Pure and stdlib only, so that ``config validate`` and the
provider that verifies signatures read a key with the same code and can never disagree.
"""

from __future__ import annotations

import base64
import binascii

# An Ed25519 SubjectPublicKeyInfo in DER is this 12-byte prefix and the 32-byte key.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_PEM_BEGIN, _PEM_END = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"


def decode_base64(text: str) -> bytes:
    """Standard or URL-safe base64, padding optional. Raises ``ValueError``."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from None


def ed25519_public_key_bytes(text: str) -> bytes:
    """The raw 32-byte key from base64 (or base64url) of the raw key or of its DER
    SubjectPublicKeyInfo, or that DER in PEM armour. Raises ``ValueError``."""
    text = text.strip()
    if text.startswith(_PEM_BEGIN) and text.endswith(_PEM_END):
        text = "".join(text.splitlines()[1:-1])
    raw = decode_base64(text)
    if len(raw) == 32:
        return raw
    if len(raw) == 44 and raw.startswith(_ED25519_SPKI_PREFIX):
        return raw[12:]
    raise ValueError(f"{len(raw)} bytes: not an Ed25519 public key")


def looks_like_ed25519_public_key(text: str) -> bool:
    try:
        ed25519_public_key_bytes(text)
    except ValueError:
        return False
    return True
