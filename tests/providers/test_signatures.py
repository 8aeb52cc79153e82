"""Public URL reconstruction (strict proxy trust) and Twilio signature verification.

Signatures are computed by the twilio SDK (``RequestValidator.compute_signature``), so these
tests check our verification against Twilio's own algorithm.
"""

import dataclasses
import hashlib
from urllib.parse import parse_qsl

import pytest

from tests.providers.twilio.util import form, request, sign
from voicecall_cli.providers.signatures import (
    WebhookSecurity,
    forwarding_trusted,
    ngrok_loopback_bypass_effective,
    normalise_host,
    reconstruct_public_url,
)
from voicecall_cli.providers.twilio.signature import verify_twilio

TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
BODY = form("status_ringing")
NO_TRUST = WebhookSecurity()
PROXY = "10.0.0.5"
BEHIND_PROXY = WebhookSecurity(allowed_hosts=("voice.example.com",), trusted_proxy_ips=(PROXY,))
PATH = "/voice/webhook?callId=abc&type=status"


def verify(req, *, security=NO_TRUST, public_url=None, ngrok=False):
    return verify_twilio(req, TOKEN, security, public_url=public_url, ngrok_loopback_bypass=ngrok)


def signed(signed_url: str, server_url: str, body: bytes = BODY, **kwargs):
    """``body`` signed by Twilio for ``signed_url``, arriving at our server as ``server_url``."""
    return request(server_url, body, signature=sign(signed_url, body, TOKEN), **kwargs)


# -- verify_twilio ---------------------------------------------------------------------------


def test_valid_signature_is_accepted_with_a_request_key():
    url = "https://voice.example.com" + PATH
    result = verify(signed(url, url))
    assert result.ok and result.reason is None
    assert result.url == url
    # The key digests exactly the string the HMAC covers: URL + sorted name+value pairs.
    material = url + "".join(n + v for n, v in sorted(parse_qsl(BODY.decode(),
                                                                keep_blank_values=True)))
    assert result.key == "twilio:req:" + hashlib.sha256(material.encode()).hexdigest()
    assert verify(signed(url, url)).key == result.key  # the same delivery again: same key
    assert not result.is_ngrok_free_tier


def test_tampered_body_is_rejected():
    url = "https://voice.example.com" + PATH
    genuine = signed(url, url)
    tampered = request(url, BODY.replace(b"ringing", b"completed"),
                       signature=genuine.headers["x-twilio-signature"])
    result = verify(tampered)
    assert not result.ok and result.key is None
    assert result.reason == f"Invalid signature for URL: {url}"


def test_signature_for_another_url_is_rejected():
    result = verify(signed("https://voice.example.com/voice/other?callId=abc",
                           "https://voice.example.com" + PATH))
    assert not result.ok


def test_wrong_auth_token_is_rejected():
    url = "https://voice.example.com" + PATH
    req = request(url, BODY, signature=sign(url, BODY, "another-token"))
    assert not verify(req).ok


def test_missing_signature_header():
    result = verify(request("https://voice.example.com" + PATH, BODY))
    assert not result.ok
    assert result.reason == "Missing X-Twilio-Signature header"
    assert not verify(request("https://voice.example.com" + PATH, BODY, signature="")).ok


def test_body_that_is_not_form_data_fails_verification_without_raising():
    url = "https://voice.example.com" + PATH
    assert not verify(request(url, b"\xff\xfe{not form", signature="c2lnbmF0dXJl")).ok


def test_untrusted_forwarded_host_is_ignored():
    attacker = "https://attacker.ngrok-free.app" + PATH
    result = verify(signed(attacker, "https://legitimate.example.com" + PATH,
                           headers={"x-forwarded-host": "attacker.ngrok-free.app"}))
    assert not result.ok
    assert result.url == "https://legitimate.example.com" + PATH
    assert result.is_ngrok_free_tier is False


def test_twilio_signing_without_the_port_of_public_url_is_accepted():
    result = verify(signed("https://voice.example.com" + PATH, "http://127.0.0.1:3334" + PATH),
                    public_url="https://voice.example.com:8443/voice/webhook")
    assert result.ok
    assert result.url == "https://voice.example.com" + PATH


def test_public_url_with_a_port_is_accepted_when_twilio_signed_the_port():
    url = "https://voice.example.com:8443" + PATH
    result = verify(signed(url, "http://127.0.0.1:3334" + PATH),
                    public_url="https://voice.example.com:8443/voice/webhook")
    assert result.ok and result.url == url


def test_host_header_port_is_tried_when_twilio_signed_it():
    url = "https://voice.example.com:8443" + PATH
    result = verify(signed(url, url))  # reconstructed URL drops the port; the variant has it
    assert result.ok and result.url == url
    other_port = verify(signed("https://voice.example.com:9999" + PATH, url))
    assert not other_port.ok
    assert other_port.reason == "Invalid signature for URL: https://voice.example.com" + PATH


def test_public_url_takes_the_request_path_and_query():
    signed_url = "https://voice.example.com/voice/webhook?callId=abc"
    req = signed(signed_url, "http://127.0.0.1:3334/voice/webhook?callId=abc",
                 headers={"x-forwarded-host": "attacker.example"})
    result = verify(req, public_url="https://voice.example.com/voice/webhook")
    assert result.ok and result.url == signed_url


def test_public_url_mounted_at_another_path_is_verified_at_the_public_path():
    """Tailscale mounts the webhook at ``tailscale.path``/``expose --path`` and forwards to
    ``serve.path``: Twilio signed the public path, the daemon sees its own."""
    signed_url = "https://node.tail1.ts.net/hook?callId=abc"
    req = signed(signed_url, "http://127.0.0.1:3334/voice/webhook?callId=abc")
    result = verify(req, public_url="https://node.tail1.ts.net/hook")
    assert result.ok and result.url == signed_url
    assert not verify(req, public_url="https://node.tail1.ts.net/other").ok
    bare_host = verify(signed("https://voice.example.com/voice/webhook?callId=abc",
                              "http://127.0.0.1:3334/voice/webhook?callId=abc"),
                       public_url="https://voice.example.com")
    assert bare_host.ok  # a public URL without a path takes the request's


def test_trusted_proxy_forwarded_host_is_used():
    public = "https://voice.example.com" + PATH
    req = signed(public, "http://localhost:3334" + PATH, remote_addr=PROXY,
                 headers={"x-forwarded-host": "voice.example.com", "x-forwarded-proto": "https"})
    result = verify(req, security=BEHIND_PROXY)
    assert result.ok and result.url == public


def test_allowed_hosts_without_trusted_proxies_ignores_forwarded_headers():
    public = "https://voice.example.com" + PATH
    req = signed(public, "http://localhost:3334" + PATH, remote_addr=PROXY,
                 headers={"x-forwarded-host": "voice.example.com"})
    result = verify(req, security=WebhookSecurity(allowed_hosts=("voice.example.com",)))
    assert not result.ok
    assert result.url == "https://localhost" + PATH


def test_ngrok_loopback_rule_trusts_the_forwarded_ngrok_host_from_loopback():
    public = "https://local.ngrok-free.app/voice/webhook"
    req = signed(public, "http://127.0.0.1:3334/voice/webhook", remote_addr="127.0.0.1",
                 headers={"x-forwarded-host": "local.ngrok-free.app"})
    result = verify(req, ngrok=True)
    assert result.ok and result.url == public
    assert result.is_ngrok_free_tier


def test_ngrok_loopback_rule_never_accepts_a_bad_signature():
    public = "https://local.ngrok-free.app/voice/webhook"
    req = request("http://127.0.0.1:3334/voice/webhook", BODY, remote_addr="127.0.0.1",
                  signature=sign(public, BODY, "not-the-token"),
                  headers={"x-forwarded-host": "local.ngrok-free.app"})
    result = verify(req, ngrok=True)
    assert not result.ok
    assert result.url == public
    assert result.is_ngrok_free_tier is True


def test_ngrok_loopback_rule_does_not_apply_to_other_remotes():
    public = "https://local.ngrok-free.app/voice/webhook"
    req = signed(public, "http://internal.example.com/voice/webhook", remote_addr="198.51.100.9",
                 headers={"x-forwarded-host": "local.ngrok-free.app"})
    result = verify(req, ngrok=True)
    assert not result.ok
    assert result.url == "https://internal.example.com/voice/webhook"


def test_forwarded_headers_from_loopback_are_ignored_without_the_ngrok_rule():
    req = signed("https://local.ngrok-free.app/voice/webhook",
                 "http://127.0.0.1:3334/voice/webhook", remote_addr="127.0.0.1",
                 headers={"x-forwarded-host": "local.ngrok-free.app"})
    assert not verify(req, ngrok=False).ok


# -- reconstruct_public_url -------------------------------------------------------------------


def url_for(headers, *, security, remote=PROXY, loopback_rule=False):
    req = request("http://localhost:3334/voice/webhook", b"", headers=headers, remote_addr=remote)
    return reconstruct_public_url(req, security, public_url=None,
                                  trust_loopback_forwarding=loopback_rule)


def test_forwarded_host_outside_the_allowlist_falls_back_to_host_without_port():
    assert url_for({"x-forwarded-host": "evil.example"}, security=BEHIND_PROXY) == (
        "https://localhost/voice/webhook")


def test_first_acceptable_forwarded_header_wins():
    security = WebhookSecurity(allowed_hosts=("b.example", "c.example"), trusted_proxy_ips=(PROXY,))
    headers = {"x-forwarded-host": "a.example", "x-original-host": "b.example, a.example",
               "ngrok-forwarded-host": "c.example"}
    assert url_for(headers, security=security) == "https://b.example/voice/webhook"


def test_trust_forwarding_headers_with_a_trusted_proxy_uses_proto_and_host():
    security = WebhookSecurity(trust_forwarding_headers=True, trusted_proxy_ips=(PROXY,))
    headers = {"x-forwarded-host": "any.example:8080", "x-forwarded-proto": "http"}
    assert url_for(headers, security=security) == "http://any.example/voice/webhook"
    headers["x-forwarded-proto"] = "gopher"
    assert url_for(headers, security=security) == "https://any.example/voice/webhook"
    untrusted = url_for(headers, security=security, remote="198.51.100.9")
    assert untrusted == "https://localhost/voice/webhook"


def test_trust_forwarding_headers_alone_is_not_enough():
    security = WebhookSecurity(trust_forwarding_headers=True)
    assert url_for({"x-forwarded-host": "any.example"}, security=security) == (
        "https://localhost/voice/webhook")


@pytest.mark.parametrize(("remote", "configured"), [
    ("::ffff:203.0.113.10", "203.0.113.10"),
    ("203.0.113.10", "::ffff:203.0.113.10"),
])
def test_ipv4_mapped_addresses_match_trusted_proxies(remote, configured):
    security = WebhookSecurity(trust_forwarding_headers=True, trusted_proxy_ips=(configured,))
    assert url_for({"x-forwarded-host": "pub.example"}, security=security, remote=remote) == (
        "https://pub.example/voice/webhook")


def test_trusted_proxies_without_a_remote_address_ignore_forwarded_headers():
    req = request("http://localhost/voice/webhook", b"", remote_addr=None,
                  headers={"x-forwarded-host": "voice.example.com"})
    assert not forwarding_trusted(req, BEHIND_PROXY)
    assert not forwarding_trusted(req, NO_TRUST, trust_loopback_forwarding=True)


def test_invalid_host_header_falls_back_to_the_request_url():
    req = request("http://localhost:3334/voice/webhook", b"", headers={"host": "bad host!"})
    req = dataclasses.replace(req, url="http://fallback.example:3334/voice/webhook")
    assert reconstruct_public_url(req, NO_TRUST, public_url=None) == (
        "https://fallback.example/voice/webhook")


@pytest.mark.parametrize(("value", "host"), [
    ("Voice.Example.com:443", "voice.example.com"),
    ("[::1]:8080", "[::1]"),
    ("[2001:DB8::1]", "[2001:db8::1]"),
    ("[::1", None),
    ("[not-v6]", None),
    ("attacker.com:80@legitimate.com", None),
    ("under_score.example", None),
    ("-leading.example", None),
    ("a" * 64 + ".example", None),
    ("", None),
])
def test_normalise_host(value, host):
    assert normalise_host(value) == host


@pytest.mark.parametrize(("allowed", "tunnel", "bind", "effective"), [
    (True, "ngrok", "127.0.0.1", True),
    (True, "ngrok", "::1", True),
    (True, "ngrok", "localhost", True),
    (True, "ngrok", "0.0.0.0", False),
    (True, "tailscale-funnel", "127.0.0.1", False),
    (False, "ngrok", "127.0.0.1", False),
])
def test_ngrok_loopback_bypass_is_effective_only_for_ngrok_on_loopback(allowed, tunnel, bind,
                                                                     effective):
    assert ngrok_loopback_bypass_effective(allowed=allowed, tunnel_provider=tunnel,
                                           bind=bind) is effective
