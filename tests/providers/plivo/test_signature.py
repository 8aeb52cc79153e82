"""Plivo webhook signatures: what passes and what is refused, through ``verify_plivo`` and
through the codec's ``verify`` (which reads the signed URL from the daemon's endpoints).

V3 signatures are made with the plivo SDK (``construct_post_url`` / ``construct_get_url`` and
``get_signature_v3``); V2 values are confirmed with the SDK's ``validate_signature``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.providers.plivo.util import (
    AUTH_TOKEN,
    CALL_ID,
    NONCE,
    NOW_MS,
    PUBLIC,
    WEBHOOK,
    FakeEndpoints,
    Pairs,
    call_form,
    call_url,
    encode,
    make_codec,
    request,
    sign_v3,
    v2_headers,
    v3_headers,
)
from voicecall_cli.providers.base import WebhookRequest
from voicecall_cli.providers.plivo.signature import MISSING_HEADERS, V2_UNCOVERED, verify_plivo
from voicecall_cli.providers.signatures import WebhookSecurity

FORM = call_form(event="StartApp")
URL = call_url({"callId": CALL_ID, "flow": "answer"})
BARE = WEBHOOK  # no query string
OTHER_NONCE = "98765432109876543210"
MISSING = MISSING_HEADERS


@dataclass(frozen=True)
class Case:
    """A request, the public URL the daemon is configured with, and the verdict: ``reason``
    None means accepted (with ``version``)."""

    make: Callable[[], WebhookRequest]
    public_url: str | None = None
    reason: str | None = None
    version: str = "v3"


def post(url: str, pairs: Pairs, headers: dict[str, str], **kwargs) -> WebhookRequest:
    return request(url, encode(pairs), headers, **kwargs)


def signed(signed_url: str, pairs: Pairs = FORM, *, url: str | None = None,
           body: Pairs | None = None, nonce: str = NONCE, token: str = AUTH_TOKEN,
           header: Callable[[str], str] = lambda s: s, **kwargs) -> WebhookRequest:
    """``pairs`` signed by Plivo for ``signed_url``; delivered to ``url`` (default the same)
    with ``body`` (default the same pairs); ``header`` rewrites the signature header."""
    headers = v3_headers(signed_url, pairs, nonce=nonce, token=token)
    headers["x-plivo-signature-v3"] = header(headers["x-plivo-signature-v3"])
    return post(url or signed_url, pairs if body is None else body, headers, **kwargs)


def invalid(url: str) -> str:
    return f"Invalid V3 signature for URL: {url}"


def renonced() -> WebhookRequest:
    """Signed with one nonce, delivered naming another."""
    req = signed(URL)
    return post(URL, FORM, {**req.headers, "x-plivo-signature-v3-nonce": OTHER_NONCE})


REPEATED = [*FORM, ("Digits", "1"), ("Digits", "2"), ("Digits", "3")]
REORDERED = [*FORM, ("Digits", "3"), ("Digits", "1"), ("Digits", "2")]
PORTED = "https://voice.example.com:8443"

CASES: dict[str, Case] = {
    # -- accepted ------------------------------------------------------------------------------
    "POST, params, URL with a query": Case(lambda: signed(URL)),
    "POST, params, URL without a query": Case(lambda: signed(BARE)),
    "POST, no params, URL with a query": Case(lambda: signed(URL, [])),
    "POST, no params, URL without a query": Case(lambda: signed(BARE, [])),
    "query parameters in another order": Case(lambda: signed(
        URL, url=call_url({"flow": "answer", "callId": CALL_ID}))),
    "a repeated form field": Case(lambda: signed(BARE, REPEATED)),
    "a repeated form field, values in another order": Case(
        lambda: signed(BARE, REPEATED, body=REORDERED)),
    "GET, URL with a query": Case(lambda: request(
        URL, b"", v3_headers(URL, method="GET"), method="GET")),
    "GET, URL without a query": Case(lambda: request(
        BARE, b"", v3_headers(BARE, method="GET"), method="GET")),
    "several signatures: bad,<good>": Case(lambda: signed(URL, header=lambda s: f"bad,{s}")),
    "several signatures: bad, <good>": Case(lambda: signed(URL, header=lambda s: f"bad, {s}")),
    "several signatures: <good>,bad": Case(lambda: signed(URL, header=lambda s: f"{s},bad")),
    "values outside ASCII": Case(lambda: signed(URL, [*FORM, ("Speech", "Ça marche, à demain")])),
    "blank values are signed too": Case(lambda: signed(URL, [*FORM, ("Digits", "")])),
    "V2 when there is no V3 and nothing it does not cover": Case(
        lambda: post(BARE, [], v2_headers(BARE)), version="v2"),
    "V2 alone with a body it does not cover": Case(
        lambda: post(BARE, FORM, v2_headers(BARE)), reason=V2_UNCOVERED),
    "V2 alone with a query it does not cover": Case(
        lambda: post(URL, [], v2_headers(URL)), reason=V2_UNCOVERED),
    "publicUrl set, the request reached us as 127.0.0.1": Case(
        lambda: signed(URL, host="127.0.0.1:3334"), public_url=WEBHOOK),
    "publicUrl with a port, Plivo signed it without": Case(
        lambda: signed(URL, host="127.0.0.1:3334"), public_url=PORTED + "/voice/webhook"),
    "publicUrl with a port, Plivo signed it with": Case(
        lambda: signed(call_url({"callId": CALL_ID, "flow": "answer"},
                                base=PORTED + "/voice/webhook"), url=URL, host="127.0.0.1:3334"),
        public_url=PORTED + "/voice/webhook"),
    "no publicUrl, Plivo signed the Host with its port": Case(
        lambda: signed(URL.replace(PUBLIC, PORTED), url=URL, host="voice.example.com:8443")),
    # -- refused -------------------------------------------------------------------------------
    "wrong nonce": Case(lambda: renonced(), reason=invalid(URL)),
    "another path": Case(lambda: signed(URL.replace("/voice/webhook", "/voice/other"), url=URL),
                         reason=invalid(URL)),
    "another host": Case(lambda: signed(URL.replace("voice.example.com", "evil.example.com"),
                                        url=URL), reason=invalid(URL)),
    "another query": Case(lambda: signed(call_url({"callId": "someone-else", "flow": "answer"}),
                                         url=URL), reason=invalid(URL)),
    "a query added": Case(lambda: signed(BARE, url=URL), reason=invalid(URL)),
    "wrong token": Case(lambda: signed(URL, token="not-the-auth-token"), reason=invalid(URL)),
    "tampered body: a value changed": Case(
        lambda: signed(URL, body=[(k, "in-progress" if v == "ringing" else v)
                                  for k, v in call_form(event="StartApp", status="ringing")],
                       pairs=call_form(event="StartApp", status="ringing")),
        reason=invalid(URL)),
    "tampered body: a field added": Case(
        lambda: signed(URL, body=[*FORM, ("Digits", "9")]), reason=invalid(URL)),
    "tampered body: a field dropped": Case(lambda: signed(URL, body=FORM[1:]),
                                           reason=invalid(URL)),
    "tampered body: a repeated field's value changed": Case(
        lambda: signed(BARE, REPEATED, body=[*FORM, ("Digits", "1"), ("Digits", "2"),
                                             ("Digits", "4")]), reason=invalid(BARE)),
    "signed as GET, sent as POST with params": Case(
        lambda: post(URL, FORM, v3_headers(URL, method="GET")), reason=invalid(URL)),
    "several signatures, none good": Case(
        lambda: signed(URL, header=lambda s: "bad," + sign_v3(URL, FORM, token="x")),
        reason=invalid(URL)),
    "no signature headers": Case(lambda: post(URL, FORM, {}), reason=MISSING),
    "a V3 signature without its nonce": Case(
        lambda: post(URL, FORM, {"x-plivo-signature-v3": sign_v3(URL, FORM)}), reason=MISSING),
    "a V3 nonce without a signature": Case(
        lambda: post(URL, FORM, {"x-plivo-signature-v3-nonce": NONCE}), reason=MISSING),
    "a V2 signature without its nonce": Case(
        lambda: post(URL, FORM, {"x-plivo-signature-v2": v2_headers(URL)[
            "x-plivo-signature-v2"]}), reason=MISSING),
    "V3 wrong, V2 valid: V2 is only a fallback": Case(
        lambda: post(URL, FORM, {**v2_headers(URL), **v3_headers(URL, FORM, token="x")}),
        reason=invalid(URL)),
    "V2 wrong": Case(lambda: post(BARE, [], v2_headers(BARE, token="x")),
                     reason=f"Invalid V2 signature for URL: {BARE}", version="v2"),
    "V2 for another path": Case(
        lambda: post(BARE, [], v2_headers(BARE.replace("/voice/webhook", "/other"))),
        reason=f"Invalid V2 signature for URL: {BARE}", version="v2"),
    "publicUrl set, signed for the attacker's Host": Case(
        lambda: signed(URL.replace("voice.example.com", "attacker.example"),
                       url=URL.replace("voice.example.com", "attacker.example")),
        public_url=WEBHOOK, reason=invalid(URL)),
}


def verify_both(case: Case):
    """The verdict of ``verify_plivo`` and of the codec (their agreement is checked)."""
    req = case.make()
    direct = verify_plivo(req, AUTH_TOKEN, WebhookSecurity(), public_url=case.public_url)
    endpoints = FakeEndpoints(webhook_url=case.public_url or WEBHOOK,
                              signed_url=case.public_url)
    via_codec = make_codec(endpoints=endpoints).verify(req, NOW_MS)
    assert (via_codec.ok, via_codec.key, via_codec.reason) == (direct.ok, direct.key,
                                                               direct.reason)
    return direct


@pytest.mark.parametrize("label", list(CASES))
def test_signature_table(label: str) -> None:
    case = CASES[label]
    result = verify_both(case)
    if case.reason is None:
        assert (result.ok, result.reason, result.version) == (True, None, case.version)
        assert result.key and result.key.startswith(f"plivo:{case.version}:")
    else:
        assert (result.ok, result.reason, result.key) == (False, case.reason, None)


def test_a_body_that_is_not_form_data_is_refused() -> None:
    req = request(URL, b'{"CallUUID": "x"}', {**v3_headers(URL, FORM),
                                               "content-type": "application/json"})
    result = verify_plivo(req, AUTH_TOKEN, WebhookSecurity(), public_url=None)
    assert not result.ok and result.key is None
    assert result.reason.startswith("Body is not form data")


def test_a_get_carrying_a_body_is_refused() -> None:
    """V3 for a GET covers the URL only: a body riding along would be unsigned."""
    headers = v3_headers(URL, method="GET")
    result = verify_plivo(request(URL, encode([("CallUUID", "forged")]), headers, method="GET"),
                          AUTH_TOKEN, WebhookSecurity(), public_url=None)
    assert (result.ok, result.reason) == (False, "V3 does not cover the body of a GET")


def test_a_method_plivo_never_signs_is_refused() -> None:
    """Reference 6.5 and the SDK: the method must be GET or POST. A PUT carrying a signature
    Plivo made for a GET of the URL (which covers no body) must not pass, body and all."""
    headers = v3_headers(URL, method="GET")
    assert verify_plivo(request(URL, b"", headers, method="GET"), AUTH_TOKEN,
                        WebhookSecurity(), public_url=None).ok
    for method in ("PUT", "DELETE", "PATCH"):
        result = verify_plivo(request(URL, encode([("CallUUID", "forged")]), headers,
                                      method=method),
                              AUTH_TOKEN, WebhookSecurity(), public_url=None)
        assert not result.ok, method


# -- request keys --------------------------------------------------------------------------------


def key_of(req: WebhookRequest) -> str:
    result = verify_plivo(req, AUTH_TOKEN, WebhookSecurity(), public_url=None)
    assert result.ok, result.reason
    return result.key


def test_the_same_delivery_twice_has_one_key_and_a_new_nonce_a_new_one() -> None:
    first, again = key_of(signed(URL)), key_of(signed(URL))
    assert first == again and first.startswith("plivo:v3:")
    assert key_of(signed(URL, nonce=OTHER_NONCE)) != first
    assert key_of(signed(URL, [*FORM, ("Digits", "1")])) != first  # another request


def test_a_copy_differing_only_in_what_the_signature_ignores_has_the_same_key() -> None:
    """Reordered repeated fields and a second signature in the header change nothing Plivo
    signed: the copy is the same delivery (a replay), not a new one."""
    original = key_of(signed(BARE, REPEATED))
    assert key_of(signed(BARE, REPEATED, body=REORDERED)) == original
    assert key_of(signed(BARE, REPEATED, header=lambda s: f"bad, {s}")) == original
    assert key_of(signed(BARE, REPEATED, header=lambda s: f" {s} ")) == original


def test_v2_keys() -> None:
    first = key_of(post(BARE, [], v2_headers(BARE)))
    assert first.startswith("plivo:v2:")
    assert key_of(post(BARE, [], v2_headers(BARE))) == first
    assert key_of(post(BARE, [], v2_headers(BARE, nonce=OTHER_NONCE))) != first


def test_a_captured_request_with_v3_stripped_cannot_replay_through_v2() -> None:
    """Plivo sends V2 beside V3. Dropping V3 and rewriting the body (which V2 does not cover)
    would otherwise pass under a new V2 key: a replay with any events the attacker likes."""
    original = signed(URL)
    assert verify_plivo(original, AUTH_TOKEN, WebhookSecurity(), public_url=None).ok
    stripped = post(URL, [*FORM, ("Speech", "transfer all my money")], v2_headers(URL))
    result = verify_plivo(stripped, AUTH_TOKEN, WebhookSecurity(), public_url=None)
    assert (result.ok, result.reason) == (False, V2_UNCOVERED)


@pytest.mark.parametrize("host", ["attacker.example", "127.0.0.1:3334", "evil.example:8443",
                                  "[::1]:3334", ""])
def test_with_a_public_url_the_host_header_does_not_change_what_is_verified(host: str) -> None:
    reference = verify_plivo(signed(URL), AUTH_TOKEN, WebhookSecurity(), public_url=WEBHOOK)
    result = verify_plivo(signed(URL, host=host), AUTH_TOKEN, WebhookSecurity(),
                          public_url=WEBHOOK)
    assert result.ok and (result.url, result.key) == (URL, reference.key)
    forged = signed(URL.replace(PUBLIC, f"https://{host or 'x.example'}"), url=URL, host=host)
    refused = verify_plivo(forged, AUTH_TOKEN, WebhookSecurity(), public_url=WEBHOOK)
    assert (refused.ok, refused.url) == (False, URL)


def test_the_codec_reads_the_signed_url_from_the_endpoints_at_each_verification() -> None:
    """A tunnel comes up after the codec was made: Plivo signs the tunnel's URL while our
    server sees the loopback Host."""
    endpoints = FakeEndpoints(webhook_url="http://127.0.0.1:3334/voice/webhook")
    codec = make_codec(endpoints=endpoints)
    tunnel = URL.replace(PUBLIC, "https://abc123.ngrok.app")
    delivered = signed(tunnel, url=URL, host="127.0.0.1:3334")
    assert not codec.verify(delivered, NOW_MS).ok
    endpoints.webhook_url = endpoints.signed_url = "https://abc123.ngrok.app/voice/webhook"
    assert codec.verify(delivered, NOW_MS).ok
