"""Our own Twilio HMAC (``TwilioSigner``, prepared once per codec) equals the twilio SDK's
``RequestValidator.compute_signature`` on generated inputs, and the codec's single parse of a
body (verify reads it, parse reuses it) never answers one request with another's form."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from tests.providers.twilio.test_webhooks import NOW, WEBHOOK, make_codec
from tests.providers.twilio.util import AUTH_TOKEN, request, sign
from voicecall_cli.providers.signatures import WebhookSecurity
from voicecall_cli.providers.twilio.signature import (
    TwilioSigner,
    form_pairs,
    signed_string,
    verify_twilio,
)

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
PARAMS = st.dictionaries(TEXT, st.lists(TEXT, min_size=1, max_size=3), max_size=6)


class _Multi(dict):
    """What a web framework hands the SDK: ``getlist`` for repeated names."""

    def getlist(self, name):
        return self[name]


@SETTINGS
@given(token=TEXT, url=st.from_regex(r"https://[a-z.]{1,12}(:[0-9]{2,5})?/[a-z/?=&]{0,12}",
                                     fullmatch=True), params=PARAMS)
def test_our_signature_is_the_sdks(token: str, url: str, params: dict[str, list[str]]) -> None:
    expected = RequestValidator(token).compute_signature(url, _Multi(params))
    assert TwilioSigner(token).signature(signed_string(url, params)) == expected


@SETTINGS
@given(pairs=st.lists(st.tuples(TEXT, TEXT), max_size=8), tamper=st.booleans())
def test_verification_accepts_exactly_what_the_sdk_signed(pairs, tamper) -> None:
    body = urlencode(pairs).encode()
    url = WEBHOOK
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        url, _Multi({name: [v for n, v in form_pairs(body) if n == name]
                     for name, _ in form_pairs(body)}))
    if tamper:
        body += b"&TamperedField1=1"  # longer than any generated name
    result = verify_twilio(request(url, body, signature=signature), TwilioSigner(AUTH_TOKEN),
                           WebhookSecurity(), public_url=url, ngrok_loopback_bypass=False)
    assert result.ok is not tamper


def test_parse_never_reuses_the_form_of_a_body_it_was_not_verified_with() -> None:
    codec = make_codec()
    bodies = [urlencode({"CallSid": sid, "CallStatus": "ringing", "Direction": "outbound-api"}
                        ).encode() for sid in ("CAfirst", "CAsecond")]
    first, second = (request(WEBHOOK, b, signature=sign(WEBHOOK, b)) for b in bodies)
    verified = codec.verify(first, NOW)
    assert verified.ok
    # parse of another request (the skip-signature path never verifies): its own form
    events = codec.parse(second, "twilio:req:other", NOW).events
    assert [e.provider_call_id for e in events] == ["CAsecond"]
    assert [e.provider_call_id for e in codec.parse(first, verified.key, NOW).events] \
        == ["CAfirst"]
