"""Hostile webhooks per carrier, drawn by hypothesis: one genuine delivery and what an attacker
(or bad luck) makes of it.

Every carrier here is a :class:`Carrier`: its real webhook codec, the genuine webhook that opens
an inbound call, and :meth:`Carrier.round`, which draws one new genuine delivery (a caller's
words, unique per round) followed by mutations of it. Each mutation says what must happen:

``new``      the genuine delivery: 2xx, and the caller's words join the transcript;
``replay``   a copy the signature still validates (exact, or differing only in what the carrier's
             signature ignores): 2xx with the genuine delivery's reply, nothing changes;
``reject``   forged (wrong key), tampered where the signature covers it, ambiguous, or not
             UTF-8 / not JSON text: non-2xx, nothing changes;
``tamper``   one byte of the body or URL changed: non-2xx, or (when the change is one the
             signature cannot see, e.g. ``%2a`` for ``%2A``) the genuine reply as a replay;
             either way nothing changes.

Signatures come from the carriers' own SDK functions (twilio ``RequestValidator``, plivo
``construct_post_url``/``get_signature_v3``; the V2 header as the tests' ``sign_v2``, checked
against plivo's validator) or Ed25519 keys made with ``cryptography``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from urllib.parse import quote, unquote_plus, urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import strategies as st
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator

from tests.providers.plivo.util import sign_v2
from tests.reliability.hostile_base import (
    B64,
    CALLER,
    FORM,
    FORM_SAFE,
    OUR_NUMBER,
    URL_SAFE,
    Carrier,
    Mutation,
    Round,
    flip,
    flip_text,
    multi,
    not_utf8,
)
from tests.reliability.webhook_harness import PUBLIC_HOST, PUBLIC_URL, WEBHOOK_PATH
from voicecall_cli.providers.base import WebhookCodec
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec
from voicecall_cli.providers.plivo.state import PlivoState
from voicecall_cli.providers.plivo.webhooks import PlivoWebhookCodec
from voicecall_cli.providers.signatures import WebhookSecurity
from voicecall_cli.providers.telnyx.signature import load_public_key
from voicecall_cli.providers.telnyx.state import TelnyxState
from voicecall_cli.providers.telnyx.webhooks import TelnyxWebhookCodec
from voicecall_cli.providers.twilio.state import TwilioState
from voicecall_cli.providers.twilio.webhooks import TwilioWebhookCodec

# -- Twilio ---------------------------------------------------------------------------------------


class Twilio(Carrier):
    name = "twilio"
    per_round = 16
    token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    provider_call_id = "CA1f3e5d7c9b2a4f6e8d0c1b3a5f7e9d2c"

    def __init__(self) -> None:
        super().__init__()
        self.state = TwilioState()  # shared with the codec, as the daemon's REST client shares it

    def make_codec(self, endpoints, streams) -> WebhookCodec:
        return TwilioWebhookCodec(self.token, self.state, endpoints=endpoints, streams=streams,
                                  security=WebhookSecurity(), ngrok_loopback_bypass=False,
                                  voice="Polly.Joanna")

    def sign(self, url: str, pairs: list[tuple[str, str]], token: str | None = None) -> dict:
        signature = RequestValidator(token or self.token).compute_signature(url, multi(pairs))
        return {"content-type": FORM, "x-twilio-signature": signature}

    def opening(self) -> Mutation:
        pairs = [("AccountSid", "AC0123"), ("CallSid", self.provider_call_id),
                 ("CallStatus", "ringing"), ("Direction", "inbound"), ("From", CALLER),
                 ("To", OUR_NUMBER)]
        return Mutation("open", WEBHOOK_PATH, urlencode(pairs).encode(),
                        self.sign(PUBLIC_URL, pairs), "new")

    def round(self, draw: Callable) -> Round:
        words = self.next_words(draw)
        target = f"{WEBHOOK_PATH}?turnToken=t{self.rounds}"
        url = f"https://{PUBLIC_HOST}{target}"
        pairs = [("AccountSid", "AC0123"), ("CallSid", self.provider_call_id),
                 ("CallStatus", "in-progress"), ("Confidence", "0.93"), ("SpeechResult", words)]
        body, headers = urlencode(pairs).encode(), self.sign(url, pairs)
        r = Round(words)
        r.add("genuine", target, body, headers, "new")
        r.add("exact copy", target, body, headers, "replay")
        repeated = pairs[draw(st.integers(0, len(pairs) - 1))]
        r.add("a field repeated", target, body + b"&" + urlencode([repeated]).encode(), headers,
              "replay")
        empty = draw(st.sampled_from([body + b"&=", b"=&" + body, body.replace(b"&", b"&=&", 1)]))
        r.add("an empty &=", target, empty, headers, "replay")
        order = draw(st.permutations(range(len(pairs))))
        r.add("fields reordered", target, urlencode([pairs[i] for i in order]).encode(), headers,
              "replay")
        r.add("re-encoded", target, urlencode(pairs, quote_via=quote).encode(), headers,
              "replay")
        # Twilio's signed string has no separators: "Confidence=0.93&SpeechResult=w" and
        # "Confidence=0.93SpeechResultw" sign alike.
        merged = body.replace(b"&SpeechResult=", quote("SpeechResult", safe="").encode())
        r.add("two fields merged", target, merged, headers, "replay")
        conflicting = body + b"&SpeechResult=" + quote(f"not {words}").encode()
        r.add("conflicting value, old signature", target, conflicting, headers, "reject")
        both = [*pairs, ("SpeechResult", f"not {words}")]
        r.add("conflicting value, signed", target, urlencode(both).encode(),
              self.sign(url, both), "reject")
        wrong = draw(st.text("0123456789abcdef", min_size=32, max_size=32))
        r.add("forged", target, body, self.sign(url, pairs, token=wrong), "reject")
        index, byte = draw(st.integers(0, 10**6)), ord(draw(st.sampled_from(FORM_SAFE)))
        r.add("body byte changed", target, flip(body, index, byte), headers, "tamper")
        index, pick = draw(st.integers(0, 10**6)), draw(st.integers(0, 100))
        r.add("URL byte changed", flip_text(target, URL_SAFE, index, pick), body, headers,
              "tamper")
        signature = headers["x-twilio-signature"]
        forged_sig = flip_text(signature.rstrip("="), B64, index, pick) + "="
        r.add("signature changed", target, body,
              {**headers, "x-twilio-signature": forged_sig}, "reject")
        raw = draw(st.binary(min_size=1, max_size=3).filter(lambda b: not_utf8(b)))
        r.add("not UTF-8", target, body + raw, headers, "reject")
        # Signed over what a lenient decoder reads (U+FFFD), so only the strict parser stops it.
        for label, escape in (("not UTF-8, signed", "%E9"), ("lone surrogate, signed",
                                                             "%ED%A0%80")):
            value = quote(words) + escape
            lenient = [*pairs[:-1], ("SpeechResult", unquote_plus(value, errors="replace"))]
            r.add(label, target, urlencode(pairs[:-1]).encode() + b"&SpeechResult="
                  + value.encode(), self.sign(url, lenient), "reject")
        return r


# -- Plivo ----------------------------------------------------------------------------------------


class Plivo(Carrier):
    name = "plivo"
    per_round = 15
    token = "ZjVmNzQ0NDQ0MTYyYjQ5ZmM2ZDcwNDU3OWIxNTY5"
    provider_call_id = "bd1b4d94-55e7-4d7f-9d4a-3a8b5e0f7c22"

    def make_codec(self, endpoints, streams) -> WebhookCodec:
        return PlivoWebhookCodec(self.token, PlivoState(), endpoints=endpoints, streams=streams,
                                 security=WebhookSecurity())

    def sign(self, url: str, pairs: list[tuple[str, str]], nonce: str,
             token: str | None = None) -> dict[str, str]:
        """V3 and V2 headers, as Plivo sends them with every callback."""
        params = multi(pairs)
        base = construct_post_url(url, {k: v[0] if len(v) == 1 else v for k, v in params.items()})
        v3 = get_signature_v3((token or self.token).encode(), base.decode(), nonce.encode())
        return {"content-type": FORM, "x-plivo-signature-v3": v3.decode(),
                "x-plivo-signature-v3-nonce": nonce,
                "x-plivo-signature-v2": sign_v2(url, nonce=nonce[::-1], token=token or self.token),
                "x-plivo-signature-v2-nonce": nonce[::-1]}

    def opening(self) -> Mutation:
        pairs = [("CallStatus", "ringing"), ("CallUUID", self.provider_call_id),
                 ("Direction", "inbound"), ("From", CALLER[1:]), ("To", OUR_NUMBER[1:])]
        target = f"{WEBHOOK_PATH}?flow=answer"
        return Mutation("open", target, urlencode(pairs).encode(),
                        self.sign(f"https://{PUBLIC_HOST}{target}", pairs, "1" * 20), "new")

    def round(self, draw: Callable) -> Round:
        words = self.next_words(draw)
        target = f"{WEBHOOK_PATH}?flow=getinput&turnToken=t{self.rounds}"
        url = f"https://{PUBLIC_HOST}{target}"
        nonce = f"{self.rounds:020d}"
        # SpeechConfidenceScore sorts last: its "." lets text move into the nonce (see below).
        pairs = [("CallUUID", self.provider_call_id), ("From", CALLER[1:]), ("Speech", words),
                 ("SpeechConfidenceScore", "0.87")]
        body, headers = urlencode(pairs).encode(), self.sign(url, pairs, nonce)
        r = Round(words)
        r.add("genuine", target, body, headers, "new")
        r.add("exact copy", target, body, headers, "replay")
        r.add("an empty &=", target, draw(st.sampled_from([body + b"&=", b"=&" + body])),
              headers, "replay")
        order = draw(st.permutations(range(len(pairs))))
        r.add("fields reordered", target, urlencode([pairs[i] for i in order]).encode(), headers,
              "replay")
        r.add("re-encoded", target, urlencode(pairs, quote_via=quote).encode(), headers,
              "replay")
        # V3 HMACs canonical + "." + nonce: "...SpeechConfidenceScore0" + "." + "87.<nonce>".
        shifted = body.replace(b"SpeechConfidenceScore=0.87", b"SpeechConfidenceScore=0")
        r.add("text moved into the nonce", target, shifted,
              {**headers, "x-plivo-signature-v3-nonce": "87." + nonce}, "replay")
        repeated = pairs[draw(st.integers(0, len(pairs) - 1))]
        r.add("a field repeated", target, body + b"&" + urlencode([repeated]).encode(), headers,
              "reject")  # V3 keeps repeated values, so this one is not signed
        both = [*pairs, ("Speech", f"not {words}")]
        r.add("conflicting value, signed", target, urlencode(both).encode(),
              self.sign(url, both, nonce), "reject")
        v2_only = {k: v for k, v in headers.items() if "-v3" not in k}
        r.add("V3 stripped, body rewritten", target, body.replace(b"Speech=", b"Speech=not+"),
              v2_only, "reject")
        wrong = draw(st.text("0123456789abcdef", min_size=40, max_size=40))
        r.add("forged", target, body, self.sign(url, pairs, nonce, token=wrong), "reject")
        index, byte = draw(st.integers(0, 10**6)), ord(draw(st.sampled_from(FORM_SAFE)))
        r.add("body byte changed", target, flip(body, index, byte), headers, "tamper")
        index, pick = draw(st.integers(0, 10**6)), draw(st.integers(0, 100))
        r.add("URL byte changed", flip_text(target, URL_SAFE, index, pick), body, headers,
              "tamper")
        signature = headers["x-plivo-signature-v3"]
        r.add("signature changed", target, body, {
            **headers, "x-plivo-signature-v3": flip_text(signature.rstrip("="), B64, index, pick)
            + "="}, "reject")
        r.add("nonce changed", target, body, {
            **headers, "x-plivo-signature-v3-nonce": flip_text(nonce, "0123456789", index, pick)},
            "reject")
        raw = draw(st.binary(min_size=1, max_size=3).filter(not_utf8))
        r.add("not UTF-8", target, body + raw, headers, "reject")
        return r


# -- Telnyx ---------------------------------------------------------------------------------------


class Telnyx(Carrier):
    name = "telnyx"
    per_round = 11
    provider_call_id = "v3:GCMVbUCBFBGn1Hvj4vJ3xNT3a8A0pHh3kFy6tq9zVRE7lYwPT2ZyCQ"

    def __init__(self) -> None:
        super().__init__()
        self.key = Ed25519PrivateKey.generate()
        self.other_key = Ed25519PrivateKey.generate()

    def make_codec(self, endpoints, streams) -> WebhookCodec:
        raw = self.key.public_key().public_bytes_raw()
        return TelnyxWebhookCodec(load_public_key(base64.b64encode(raw).decode()), TelnyxState())

    def sign(self, body: bytes, *, key: Ed25519PrivateKey | None = None,
             timestamp: int | None = None) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        signature = (key or self.key).sign(stamp.encode() + b"|" + body)
        return {"content-type": "application/json", "telnyx-timestamp": stamp,
                "telnyx-signature-ed25519": base64.b64encode(signature).decode()}

    def event(self, event_type: str, event_id: str, **payload) -> bytes:
        document = {"data": {"record_type": "event", "event_type": event_type, "id": event_id,
                             "payload": {"call_control_id": self.provider_call_id,
                                         "from": CALLER, "to": OUR_NUMBER, **payload}}}
        return json.dumps(document).encode()

    def opening(self) -> Mutation:
        body = self.event("call.initiated", "open-1", direction="incoming")
        return Mutation("open", WEBHOOK_PATH, body, self.sign(body), "new")

    def round(self, draw: Callable) -> Round:
        words = self.next_words(draw)
        body = self.event("call.transcription", f"ev-{self.rounds}", transcription_data={
            "transcript": words, "is_final": True, "confidence": 0.9})
        headers = self.sign(body)
        signature = headers["telnyx-signature-ed25519"]
        r = Round(words)
        r.add("genuine", WEBHOOK_PATH, body, headers, "new")
        r.add("exact copy", WEBHOOK_PATH, body, headers, "replay")
        raw = base64.b64decode(signature)
        unpadded = signature.rstrip("=")
        spare = B64[B64.index(unpadded[-1]) ^ draw(st.integers(1, 15))]
        spelling = draw(st.sampled_from([base64.urlsafe_b64encode(raw).decode(), unpadded,
                                         unpadded[:-1] + spare + "==", f" {signature}  "]))
        r.add("signature respelled", WEBHOOK_PATH, body,
              {**headers, "telnyx-signature-ed25519": spelling}, "replay")
        again = self.sign(body, timestamp=int(headers["telnyx-timestamp"]) + 1)
        r.add("redelivered (same event id, new signature)", WEBHOOK_PATH, body, again, "replay")
        r.add("forged", WEBHOOK_PATH, body, self.sign(body, key=self.other_key), "reject")
        index, byte = draw(st.integers(0, 10**6)), ord(draw(st.sampled_from(FORM_SAFE)))
        r.add("body byte changed", WEBHOOK_PATH, flip(body, index, byte), headers, "reject")
        stamp = headers["telnyx-timestamp"]
        r.add("timestamp changed", WEBHOOK_PATH, body, {
            **headers, "telnyx-timestamp": flip_text(stamp, "0123456789", index, byte)}, "reject")
        bit = draw(st.integers(0, len(raw) * 8 - 1))
        bad = bytearray(raw)
        bad[bit // 8] ^= 1 << (bit % 8)
        r.add("signature changed", WEBHOOK_PATH, body, {
            **headers, "telnyx-signature-ed25519": base64.b64encode(bytes(bad)).decode()},
            "reject")
        final = b'"is_final"'
        for label, hostile in (
                ("lone surrogate, signed", body.replace(final, b'"x": "\\udc00", ' + final)),
                ("not UTF-8, signed", body.replace(final, b'"\xe9": 1, ' + final)),
                ("NaN, signed", body.replace(b"0.9", b"NaN"))):
            r.add(label, WEBHOOK_PATH, hostile, self.sign(hostile), "reject")
        return r


# -- mock -----------------------------------------------------------------------------------------


class Mock(Carrier):
    """The mock carrier verifies nothing (anyone may send it anything), so only decoding and
    exact replays apply."""

    name = "mock"
    per_round = 5
    provider_call_id = "mock-inbound-1"

    def make_codec(self, endpoints, streams) -> WebhookCodec:
        return MockWebhookCodec()

    def opening(self) -> Mutation:
        common = {"callId": "m1", "providerCallId": self.provider_call_id}
        body = json.dumps({"events": [
            {"type": "call.initiated", "id": "open-1", "direction": "inbound", "from": CALLER,
             "to": OUR_NUMBER, **common},
            {"type": "call.answered", "id": "open-2", **common}]}).encode()
        return Mutation("open", WEBHOOK_PATH, body, {"content-type": "application/json"}, "new")

    def round(self, draw: Callable) -> Round:
        words = self.next_words(draw)
        event = {"type": "call.speech", "id": f"ev-{self.rounds}", "callId": "m1",
                 "providerCallId": self.provider_call_id, "transcript": words, "isFinal": True}
        body = json.dumps({"event": event}).encode()
        headers = {"content-type": "application/json"}
        r = Round(words)
        r.add("genuine", WEBHOOK_PATH, body, headers, "new")
        r.add("exact copy", WEBHOOK_PATH, body, headers, "replay")
        r.add("lone surrogate", WEBHOOK_PATH,
              body.replace(b'"isFinal"', b'"text": "\\ud800", "isFinal"'), headers, "reject")
        raw = draw(st.binary(min_size=1, max_size=3).filter(not_utf8))
        r.add("not UTF-8", WEBHOOK_PATH, body.replace(b'"isFinal"', b'"text": "' + raw
                                                      + b'", "isFinal"'), headers, "reject")
        r.add("nested too deep", WEBHOOK_PATH, b'{"events": ' + b"[" * 60_000, headers,
              "reject")
        return r


CARRIERS: dict[str, Callable[[], Carrier]] = {
    "twilio": Twilio, "plivo": Plivo, "telnyx": Telnyx, "mock": Mock}
