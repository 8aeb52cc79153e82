"""Replay keys never change with what a carrier's signature ignores, and webhook bodies decode
strictly (issue #14, item 3).

Each carrier's original is signed by its own SDK (twilio ``RequestValidator``, plivo
``construct_post_url``/``get_signature_v3``) or with a ``cryptography`` Ed25519 key; each variant
is a copy an attacker can make from a captured request without any secret: the signature still
verifies, so the key must be the original's (the webhook server then treats it as a replay).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator

from tests.providers.plivo import util as plivo_util
from tests.providers.telnyx import util as telnyx_util
from tests.providers.twilio import util as twilio_util
from tests.providers.twilio.test_webhooks import make_codec as make_twilio_codec
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec
from voicecall_cli.providers.plivo.signature import verify_plivo
from voicecall_cli.providers.signatures import WebhookSecurity
from voicecall_cli.providers.telnyx.signature import load_public_key, verify_telnyx
from voicecall_cli.providers.telnyx.state import TelnyxState
from voicecall_cli.providers.telnyx.webhooks import TelnyxWebhookCodec
from voicecall_cli.providers.twilio.signature import signed_string, verify_twilio

# -- Twilio ---------------------------------------------------------------------------------------

TWILIO_URL = twilio_util.CALL_URL
TWILIO_FORM = [("CallSid", twilio_util.OUTBOUND_SID), ("CallStatus", "in-progress"),
               ("Confidence", "0.93"), ("SpeechResult", "book me for ten")]
TWILIO_BODY = urlencode(TWILIO_FORM).encode()

TWILIO_VARIANTS = {
    "a field repeated with its value": TWILIO_BODY + b"&SpeechResult=book+me+for+ten",
    "an empty &= appended": TWILIO_BODY + b"&=",
    "an empty &= in front": b"=&" + TWILIO_BODY,
    "fields reordered": urlencode(TWILIO_FORM[::-1]).encode(),
    "spaces as %20 instead of +": TWILIO_BODY.replace(b"+", b"%20"),
    "letters percent-encoded": TWILIO_BODY.replace(b"book", b"%62ook"),
    # No separators in the signed string: a name may swallow the next pair.
    "two pairs merged into one": TWILIO_BODY.replace(b"&Confidence=0.93", b"Confidence0.93"),
}


def twilio_request(body: bytes, signature: str):
    return twilio_util.request(TWILIO_URL, body, signature=signature)


def twilio_verify(body: bytes, signature: str):
    return verify_twilio(twilio_request(body, signature), twilio_util.AUTH_TOKEN,
                         WebhookSecurity(), public_url=None, ngrok_loopback_bypass=False)


@pytest.mark.parametrize("label", list(TWILIO_VARIANTS))
def test_twilio_variants_the_signature_ignores_keep_the_original_key(label: str) -> None:
    signature = twilio_util.sign(TWILIO_URL, TWILIO_BODY)
    original = twilio_verify(TWILIO_BODY, signature)
    variant = twilio_verify(TWILIO_VARIANTS[label], signature)
    assert original.ok and variant.ok  # the premise: the SDK's signature still validates it
    assert variant.key == original.key


def test_twilio_the_key_changes_with_anything_the_signature_covers() -> None:
    signature = twilio_util.sign(TWILIO_URL, TWILIO_BODY)
    original = twilio_verify(TWILIO_BODY, signature).key
    other_body = TWILIO_BODY.replace(b"ten", b"two")
    assert twilio_verify(other_body, twilio_util.sign(TWILIO_URL, other_body)).key != original


def test_twilio_signed_string_is_what_the_sdk_signs() -> None:
    """Our key's material, HMAC'd as Twilio does, gives the SDK's own signature."""
    params = {"b": ["2", "1", "2"], "a": ["x"], "": [""]}

    class Multi(dict):
        def getlist(self, name):
            return self[name]

    expected = RequestValidator("tok").compute_signature(TWILIO_URL, Multi(params))
    mac = hmac.new(b"tok", signed_string(TWILIO_URL, params).encode(), hashlib.sha1)
    assert base64.b64encode(mac.digest()).decode() == expected


def test_twilio_a_field_repeated_with_different_values_is_refused() -> None:
    """The signature sorts a name's values, so swapping them keeps it valid: "last one wins"
    would read another transcript from the same signed request."""
    codec = make_twilio_codec()
    body = TWILIO_BODY + b"&SpeechResult=cancel+everything"
    with pytest.raises(ValueError, match="repeated with different values"):
        codec.parse(twilio_request(body, "sig"), "twilio:req:k", 0)


@pytest.mark.parametrize("body", [
    b"CallSid=CA1&SpeechResult=caf\xe9",  # Latin-1, not UTF-8
    b"CallSid=CA1&SpeechResult=caf%E9",  # a percent-escape that is not UTF-8
    b"CallSid=CA1&SpeechResult=%ED%A0%80",  # UTF-8 of a lone surrogate
    b"CallSid=CA1&&SpeechResult=x",  # an empty field
])
def test_twilio_bodies_that_are_not_utf8_form_data_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        make_twilio_codec().parse(twilio_request(body, "sig"), "twilio:req:k", 0)


# -- Plivo ----------------------------------------------------------------------------------------

PLIVO_URL = plivo_util.call_url({"callId": plivo_util.CALL_ID, "flow": "getinput"})
PLIVO_FORM = [("CallUUID", plivo_util.CALL_UUID), ("Speech", "see you at 5.30")]
NONCE = "12345678901234567890"


def plivo_signed(url: str, pairs, nonce: str = NONCE) -> dict[str, str]:
    params: dict = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    base = construct_post_url(url, {k: v[0] if len(v) == 1 else v for k, v in params.items()})
    signature = get_signature_v3(plivo_util.AUTH_TOKEN.encode(), base.decode(), nonce.encode())
    return {"x-plivo-signature-v3": signature.decode(), "x-plivo-signature-v3-nonce": nonce}


def plivo_verify(body: bytes, headers: dict[str, str]):
    return verify_plivo(plivo_util.request(PLIVO_URL, body, headers), plivo_util.AUTH_TOKEN,
                        WebhookSecurity(), public_url=None)


def test_plivo_moving_text_between_the_body_and_the_nonce_keeps_the_key() -> None:
    """V3 HMACs ``canonical + "." + nonce``: the tail of the last value after a ``.`` can move
    into the nonce header and the signature still verifies. Same bytes signed, same key."""
    headers = plivo_signed(PLIVO_URL, PLIVO_FORM)
    original = plivo_verify(urlencode(PLIVO_FORM).encode(), headers)
    shifted_body = urlencode([PLIVO_FORM[0], ("Speech", "see you at 5")]).encode()
    shifted = plivo_verify(shifted_body, {**headers, "x-plivo-signature-v3-nonce": "30." + NONCE})
    assert original.ok and shifted.ok
    assert shifted.key == original.key


def test_plivo_reordered_values_and_an_empty_pair_keep_the_key() -> None:
    pairs = [*PLIVO_FORM, ("Digits", "1"), ("Digits", "2")]
    headers = plivo_signed(PLIVO_URL, pairs)
    original = plivo_verify(urlencode(pairs).encode(), headers)
    reordered = plivo_verify(urlencode([*PLIVO_FORM, ("Digits", "2"), ("Digits", "1")]).encode(),
                             headers)
    assert original.ok and reordered.ok and reordered.key == original.key


# -- Telnyx ---------------------------------------------------------------------------------------


def telnyx_variants(signature: str) -> dict[str, str]:
    raw = base64.b64decode(signature)
    unpadded = signature.rstrip("=")
    # 64 bytes = 85⅓ base64 digits: the 86th carries 4 bits nobody decodes.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".index(unpadded[-1])
    spare = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last ^ 0b1111]
    return {"base64url": base64.urlsafe_b64encode(raw).decode(),
            "without padding": unpadded,
            "unused trailing bits set": unpadded[:-1] + spare + "==",
            "surrounding spaces": f"  {signature} "}


def test_telnyx_every_spelling_of_the_signature_has_the_original_key() -> None:
    key = telnyx_util.new_key()
    public = load_public_key(telnyx_util.public_raw_b64(key))
    body = telnyx_util.fixture("call_transcription_final")
    headers = telnyx_util.signed_headers(key, body, telnyx_util.NOW_MS // 1000)
    original = verify_telnyx(telnyx_util.request(body, headers), public, telnyx_util.NOW_MS)
    assert original.ok
    for label, spelling in telnyx_variants(headers["telnyx-signature-ed25519"]).items():
        variant = verify_telnyx(telnyx_util.request(
            body, {**headers, "telnyx-signature-ed25519": spelling}), public, telnyx_util.NOW_MS)
        assert variant.ok, label
        assert variant.key == original.key, label


@pytest.mark.parametrize("body", [
    b'{"data": {"event_type": "call.answered", "id": "caf\xe9"}}',  # not UTF-8
    '{"data": {"event_type": "call.answered"}}'.encode("utf-16"),  # JSON, but UTF-16
    b'{"data": {"event_type": "call.answered", "payload": {"x": "\\udc00"}}}',
    b'{"data": {"event_type": "call.answered", "payload": {"\\ud800": 1}}}',
    b'{"data": {"event_type": "call.answered", "payload": {"confidence": NaN}}}',
    b"[" * 50_000,
])
def test_telnyx_bodies_that_are_not_json_text_are_refused(body: bytes) -> None:
    codec = TelnyxWebhookCodec(None, TelnyxState())
    with pytest.raises(ValueError):
        codec.parse(telnyx_util.request(body), "telnyx:k", telnyx_util.NOW_MS)


# -- mock -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b'{"event": {"type": "call.speech", "callId": "c1", "transcript": "caf\xe9"}}',
    '{"event": {"type": "call.speech", "callId": "c1"}}'.encode("utf-32"),
    b'{"event": {"type": "call.speech", "callId": "c1", "transcript": "a\\ud800"}}',
    b'{"event": {"type": "call.speech", "callId": "c1", "confidence": Infinity}}',
    b"{\"events\": " + b"[" * 50_000,
])
def test_mock_bodies_that_are_not_json_text_are_refused(body: bytes) -> None:
    codec = MockWebhookCodec()
    request = telnyx_util.request(body)
    with pytest.raises(ValueError):
        codec.parse(request, codec.verify(request, 0).key or "", 0)


def test_mock_a_paired_surrogate_escape_is_text() -> None:
    body = b'{"event": {"type": "call.speech", "callId": "c1", "transcript": "\\ud83d\\ude00"}}'
    codec = MockWebhookCodec()
    [event] = codec.parse(telnyx_util.request(body), "mock:k", 0).events
    assert event.transcript == "\U0001f600"
