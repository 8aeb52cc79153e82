"""What the webhook server remembers for ``doctor`` and how it answers doctor's probes, on real
hypercorn: a verified probe is answered and does nothing else; a rejected webhook is kept with
its URLs redacted; a probe header nobody issued changes nothing."""

from __future__ import annotations

from contextlib import ExitStack

import httpx
import trio

from tests.daemon.test_web import PATH, SignedCodec, ringing, url_for, webhook_server
from voicecall_cli.daemon.web.diagnostics import (
    PROBE_HEADER,
    PROBE_REPLY,
    WebhookDiagnostics,
    redact_url,
)


async def test_a_verified_probe_is_answered_without_events_or_parsing():
    diagnostics = WebhookDiagnostics()
    with trio.fail_after(10):
        async with webhook_server(codec=SignedCodec(), diagnostics=diagnostics) as (info, got), \
                httpx.AsyncClient() as http:
            with diagnostics.probing() as nonce:
                reply = await http.post(url_for(info, PATH), content=b"VoicecallProbe=1",
                                        headers={PROBE_HEADER: nonce, "x-test-signature": "good"})
                assert (reply.status_code, reply.content) == (200, PROBE_REPLY)
                assert diagnostics.probe_answered(nonce, PATH)
            assert got == [] and diagnostics.last_rejected is None
            assert diagnostics.probe_nonce({PROBE_HEADER: nonce}) is None  # over with the block


async def test_a_probe_with_a_bad_signature_is_rejected_and_remembered_as_ours():
    diagnostics = WebhookDiagnostics()
    with trio.fail_after(10):
        async with webhook_server(codec=SignedCodec(), diagnostics=diagnostics) as (info, _), \
                httpx.AsyncClient() as http:
            with diagnostics.probing() as nonce:
                reply = await http.post(url_for(info, PATH) + "?callId=c-secret", content=b"x=1",
                                        headers={PROBE_HEADER: nonce, "x-test-signature": "bad",
                                                 "host": "voice.example.com",
                                                 "x-forwarded-proto": "https"})
                assert reply.status_code == 401
                assert not diagnostics.probe_answered(nonce, PATH)
            rejected = diagnostics.last_rejected
            assert rejected is not None and rejected.probe == nonce
            assert rejected.reason == "bad signature"
            assert rejected.requested_url == "https://voice.example.com/voice/webhook?callId=…"
            assert rejected.to_json()["probe"] is True
            assert diagnostics.last_foreign is None and diagnostics.foreign_count == 0


async def test_an_unissued_probe_header_is_an_ordinary_request():
    diagnostics = WebhookDiagnostics()
    with trio.fail_after(10):
        async with webhook_server(codec=SignedCodec(), diagnostics=diagnostics,
                                  stream_path="/voice/stream",
                                  stream_app=lambda *a: None) as (info, got), \
                httpx.AsyncClient() as http:
            forged = await http.post(url_for(info, PATH), content=ringing(), headers={
                PROBE_HEADER: "guessed", "x-test-signature": "good"})
            assert forged.status_code == 200 and forged.content != PROBE_REPLY
            assert len(got) == 1  # parsed and delivered like any webhook
            stream = await http.get(url_for(info, "/voice/stream"),
                                    headers={PROBE_HEADER: "guessed"})
            assert stream.status_code == 404
            with diagnostics.probing() as nonce:
                answered = await http.get(url_for(info, "/voice/stream"),
                                          headers={PROBE_HEADER: nonce})
                assert (answered.status_code, answered.content) == (200, PROBE_REPLY)
                assert diagnostics.probe_answered(nonce, "/voice/stream")


async def test_missing_signature_headers_are_remembered_too():
    diagnostics = WebhookDiagnostics()
    with trio.fail_after(10):
        async with webhook_server(codec=SignedCodec(), diagnostics=diagnostics) as (info, _), \
                httpx.AsyncClient() as http:
            reply = await http.post(url_for(info, PATH), content=b"a=1")
            assert reply.status_code == 401
    rejected = diagnostics.last_rejected
    assert rejected is not None and rejected.reason == "missing signed signature headers"
    assert rejected.verified_url is None and diagnostics.foreign_count == 1
    assert diagnostics.last_foreign is rejected


def test_redact_url_keeps_names_and_drops_values_and_user_info():
    assert redact_url("https://u:p@h.example/p?callId=abc&flow=x&empty=") == (
        "https://h.example/p?callId=…&flow=…&empty=…")
    assert redact_url("https://h.example/p") == "https://h.example/p"


def test_probes_are_bounded():
    diagnostics = WebhookDiagnostics()
    with ExitStack() as stack:
        nonces = [stack.enter_context(diagnostics.probing()) for _ in range(40)]
        assert diagnostics.probe_nonce({PROBE_HEADER: nonces[0]}) is None
        assert diagnostics.probe_nonce({PROBE_HEADER: nonces[-1]}) == nonces[-1]
