"""Doctor's pure judgements: which public URLs a carrier can call, and what clock skew costs."""

from __future__ import annotations

import pytest

from voicecall_cli.core.reachability import (
    clock_check,
    public_url_check,
    unreachable_host_reason,
)


@pytest.mark.parametrize(("host", "reason"), [
    ("127.0.0.1", "loopback address"),
    ("[::1]", "loopback address"),
    ("::ffff:127.0.0.1", "loopback address"),
    ("localhost", "local-only name"),
    ("printer.local", "local-only name"),
    ("box.lan", "local-only name"),
    ("voicebox", "single-label name"),
    ("10.1.2.3", "private address"),
    ("192.168.1.20", "private address"),
    ("172.16.0.9", "private address"),
    ("fd00::1", "private address"),
    ("169.254.10.1", "link-local address"),
    ("100.101.102.103", "tailnet (CGNAT) address"),
    ("0.0.0.0", "not an address anyone can call"),
])
def test_hosts_carriers_cannot_call(host, reason):
    assert reason in unreachable_host_reason(host)


@pytest.mark.parametrize("host", ["voice.example.com", "node.tail1.ts.net",
                                  "abc.ngrok-free.app", "8.8.8.8", "2001:4860::8888"])
def test_hosts_that_may_be_public(host):
    assert unreachable_host_reason(host) is None


def check(public_url, **kwargs):
    options = {"provider": "twilio", "public_url": public_url,
               "local_url": "http://127.0.0.1:3334/voice/webhook", "carrier_is_local": False,
               "tailnet_only": False, **kwargs}
    return public_url_check(**options)


def test_public_url_verdicts():
    assert check("https://voice.example.com/voice/webhook").status == "ok"
    missing = check(None)
    assert missing.status == "fail" and "voicecall expose --mode funnel" in missing.fix
    assert check(None, carrier_is_local=True).status == "ok"
    assert check(None, provider="mock").status == "skip"
    private = check("https://192.168.1.20/voice/webhook")
    assert private.status == "fail" and "192.168.1.20 is a private address" in private.summary
    plain = check("http://voice.example.com/voice/webhook")
    assert plain.status == "warn" and "unencrypted" in plain.summary
    tailnet = check("https://node.tail1.ts.net/voice/webhook", tailnet_only=True)
    assert tailnet.status == "warn" and "--mode funnel" in tailnet.fix


def test_clock_skew_is_fatal_only_where_the_carrier_refuses_stale_webhooks():
    source = "the carrier's API"
    assert clock_check(provider="twilio", skew_s=0.0, source=source).status == "ok"
    assert clock_check(provider="twilio", skew_s=45, source=source).status == "warn"
    stale = clock_check(provider="telnyx", skew_s=-400, source=source)
    assert stale.status == "fail" and "400 s behind" in stale.summary
    assert "refused as stale" in stale.summary
    assert clock_check(provider="plivo", skew_s=400, source=source).status == "warn"
    unknown = clock_check(provider="twilio", skew_s=None, source=source, error="refused")
    assert unknown.status == "warn" and "refused" in unknown.summary
    assert clock_check(provider="mock", skew_s=None, source=None).status == "skip"
