"""Keys, signing and requests for the Telnyx provider tests. Every key is made with
``cryptography``, so our verification is checked against signatures we did not compute."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from voicecall_cli.providers.base import WebhookRequest

FIXTURES = Path(__file__).parent / "fixtures"
NOW_MS = 1_796_141_484_000  # 2026-12-01T14:11:24Z
CALL_ID = "5e5b3a0c-1f7e-4a4b-9c2e-2f9d1a6b7c01"
PID = "v3:GCMVbUCBFBGn1Hvj4vJ3xNT3a8A0pHh3kFy6tq9zVRE7lYwPT2ZyCQ"
WEBHOOK = "https://voice.example.com/voice/webhook"


def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_raw_b64(key: Ed25519PrivateKey) -> str:
    """The public key as Mission Control shows it: base64 of the raw 32 bytes."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def public_der_b64(key: Ed25519PrivateKey) -> str:
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM,
                                         PublicFormat.SubjectPublicKeyInfo).decode()


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(fixture(name))


def signed_headers(key: Ed25519PrivateKey, body: bytes, timestamp_s: int) -> dict[str, str]:
    signature = key.sign(str(timestamp_s).encode() + b"|" + body)
    return {"content-type": "application/json",
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "telnyx-timestamp": str(timestamp_s)}


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(method="POST", url=WEBHOOK, path="/voice/webhook", query={},
                          headers=headers or {"content-type": "application/json"}, body=body,
                          remote_addr="192.0.2.10")
