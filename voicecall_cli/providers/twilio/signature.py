"""Twilio's webhook signature: ``X-Twilio-Signature`` checked with the twilio SDK
(reference 6.3). Pure: the request and the configuration in, a verdict out.

Twilio's voice webhooks are UTF-8 form bodies naming each parameter once. The signature
(``RequestValidator.compute_signature``) covers the URL and each distinct name and value, sorted
and concatenated without separators; it cannot see a repeated pair, an empty ``&=``, the order
of fields, their percent-encoding, or where one pair ends and the next begins. The replay key is
therefore a digest of that signed string (:func:`signed_string`), and the codec refuses a name
repeated with different values (a reading the signature does not fix).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from voicecall_cli.providers.base import WebhookRequest
from voicecall_cli.providers.signatures import (
    NGROK_FREE_TIER_DOMAINS,
    WebhookSecurity,
    reconstruct_public_url,
    url_candidates,
)


@dataclass(frozen=True, slots=True)
class TwilioVerification:
    """The outcome of :func:`verify_twilio`.

    ``url`` is the URL whose signature matched, or (on failure) the primary URL that was
    expected to match; ``key`` identifies this delivery for the replay cache and is set only
    when ``ok``: it is derived from exactly the string the signature covers
    (:func:`signed_string`), so every request the same signature validates has the same key.
    """

    ok: bool
    url: str
    reason: str | None = None
    key: str | None = None
    is_ngrok_free_tier: bool = False


class TwilioSigner:
    """Twilio's ``X-Twilio-Signature`` for one auth token: base64 of HMAC-SHA1, keyed with the
    token's UTF-8 bytes, over the UTF-8 of :func:`signed_string`, exactly as the SDK's
    ``RequestValidator.compute_signature`` computes it (tests compare the two on generated
    inputs). The keyed HMAC is prepared once and copied per signature, so a request costs one
    hash of its signed string and no validator object."""

    __slots__ = ("_keyed",)

    def __init__(self, auth_token: str) -> None:
        self._keyed = hmac.new(auth_token.encode("utf-8"), digestmod=hashlib.sha1)

    def signature(self, signed: str) -> str:
        mac = self._keyed.copy()
        mac.update(signed.encode("utf-8"))
        return base64.b64encode(mac.digest()).decode("ascii")


def verify_twilio(request: WebhookRequest, auth_token: str | TwilioSigner,
                  security: WebhookSecurity, *, public_url: str | None,
                  ngrok_loopback_bypass: bool,
                  pairs: Sequence[tuple[str, str]] | None = None) -> TwilioVerification:
    """Check ``X-Twilio-Signature`` (HMAC-SHA1 of URL + sorted form parameters).

    The primary URL is :func:`reconstruct_public_url`'s (``ngrok_loopback_bypass`` is the
    *effective* flag, see :func:`ngrok_loopback_bypass_effective`); when it does not match,
    the same URL without a port, with ``public_url``'s port and with the ``Host`` header's
    port are tried, since Twilio signs the URL exactly as it was configured. ``pairs`` is the
    body's :func:`form_pairs` when the caller has them already (the codec parses a body once).
    """
    primary = reconstruct_public_url(request, security, public_url=public_url,
                                     trust_loopback_forwarding=ngrok_loopback_bypass)
    free_tier = any(domain in primary for domain in NGROK_FREE_TIER_DOMAINS)
    signature = request.headers.get("x-twilio-signature", "").strip()
    if not signature:
        return TwilioVerification(ok=False, url=primary, is_ngrok_free_tier=free_tier,
                                  reason="Missing X-Twilio-Signature header")
    signer = auth_token if isinstance(auth_token, TwilioSigner) else TwilioSigner(auth_token)
    signed_params = _signed_params(_FormParams(
        form_pairs(request.body) if pairs is None else pairs))
    given = signature.encode()
    for url in url_candidates(primary, public_url, request.headers.get("host", "")):
        signed = url + signed_params
        if hmac.compare_digest(signer.signature(signed).encode(), given):
            return TwilioVerification(ok=True, url=url, key=_request_key(signed),
                                      is_ngrok_free_tier=free_tier)
    return TwilioVerification(ok=False, url=primary, is_ngrok_free_tier=free_tier,
                              reason=f"Invalid signature for URL: {primary}")


def sign_twilio(auth_token: str, url: str, body: bytes) -> dict[str, str]:
    """The ``X-Twilio-Signature`` header Twilio would send with a POST of the form ``body``
    to ``url`` (the SDK's own ``compute_signature``)."""
    params = _FormParams(form_pairs(body))
    return {"x-twilio-signature": RequestValidator(auth_token).compute_signature(url, params)}


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """The form body's parameters, leniently (signature checks only): undecodable bytes become
    U+FFFD; the codec's parser then refuses such a body (``bodies.form_pairs``: 400)."""
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


class _FormParams(dict[str, list[str]]):
    """Form parameters as the SDK's ``compute_signature`` reads repeated names (``getlist``)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        for name, value in pairs:
            self.setdefault(name, []).append(value)

    def getlist(self, name: str) -> list[str]:
        return self[name]


def signed_string(url: str, params: Mapping[str, Sequence[str]]) -> str:
    """The exact string Twilio's HMAC covers, as the SDK's ``compute_signature`` builds it:
    the URL, then ``name + value`` for each distinct name in sorted order and each of its
    distinct values in sorted order, with no separators.

    So the signature ignores a repeated name=value pair, an empty ``&=`` (it adds ``"" + ""``)
    and the order of fields and of a name's values; and, having no separators, it cannot tell
    ``ab=c`` from ``a=bc``. Every such variant of a signed request has this same string.
    """
    return url + _signed_params(params)


def _signed_params(params: Mapping[str, Sequence[str]]) -> str:
    """:func:`signed_string` without its URL (the same for every URL variant tried)."""
    return "".join([name + value for name in sorted(params)
                    for value in sorted(set(params[name]))])


def _request_key(signed: str) -> str:
    """The replay key: a digest of :func:`signed_string` (which also determines the
    signature), never of the raw form, whose variants the signature ignores."""
    material = signed.encode("utf-8", "surrogatepass")
    return "twilio:req:" + hashlib.sha256(material).hexdigest()
