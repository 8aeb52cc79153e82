"""``sign_probe``: the headers doctor's probe carries make the request pass the same codec's
verification, and are exactly what the carriers' own SDKs compute (so the probe is signed as
the carrier would sign it, not only as we check it)."""

from __future__ import annotations

from plivo.utils.signature_v3 import validate_v3_signature
from twilio.request_validator import RequestValidator

from tests.providers.plivo import util as plivo_util
from tests.providers.twilio import test_webhooks as twilio_webhooks
from tests.providers.twilio.util import AUTH_TOKEN as TWILIO_TOKEN
from tests.providers.twilio.util import FakeEndpoints, request
from voicecall_cli.daemon.doctor import PROBE_BODY
from voicecall_cli.providers.base import WebhookRequest
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec

PUBLIC = "https://node.tail1.ts.net/voice/webhook"
LOCAL = "http://127.0.0.1:3334/voice/webhook"
NOW_MS = 1_700_000_000_000


def arriving(headers: dict[str, str]) -> WebhookRequest:
    """The probe as the daemon sees it: at its local URL, through the tunnel."""
    return request(LOCAL, PROBE_BODY, headers=headers)


def test_a_twilio_probe_is_signed_for_the_public_url_as_twilio_signs():
    endpoints = FakeEndpoints(webhook_url=PUBLIC, signed_url=PUBLIC)
    codec = twilio_webhooks.make_codec(endpoints=endpoints)
    headers = codec.sign_probe(PUBLIC, PROBE_BODY)
    assert RequestValidator(TWILIO_TOKEN).validate(
        PUBLIC, {"VoicecallProbe": "1"}, headers["x-twilio-signature"])
    assert codec.verify(arriving(headers), NOW_MS).ok
    endpoints.signed_url = "https://elsewhere.example.com/voice/webhook"
    assert not codec.verify(arriving(headers), NOW_MS).ok  # a mismatch is what doctor shows


def test_a_plivo_probe_is_signed_with_v3_as_plivo_signs():
    endpoints = FakeEndpoints(webhook_url=PUBLIC, signed_url=PUBLIC)
    codec = plivo_util.make_codec(endpoints=endpoints)
    headers = codec.sign_probe(PUBLIC, PROBE_BODY)
    nonce = headers["x-plivo-signature-v3-nonce"]
    assert validate_v3_signature("POST", PUBLIC, nonce, plivo_util.AUTH_TOKEN,
                                 headers["x-plivo-signature-v3"], {"VoicecallProbe": "1"})
    assert codec.verify(arriving(headers), NOW_MS).ok
    assert codec.sign_probe(PUBLIC, PROBE_BODY)["x-plivo-signature-v3-nonce"] != nonce


def test_the_mock_carrier_needs_no_signature():
    codec = MockWebhookCodec()
    assert codec.sign_probe(PUBLIC, PROBE_BODY) == {}
