"""Plivo's webhook signatures, checked with the plivo SDK's own functions (reference 6.5).

Plivo signs every request to the app twice: ``X-Plivo-Signature-V3`` (with
``X-Plivo-Signature-V3-Nonce``) covers the URL, its query and, for a POST, the form parameters;
the legacy ``X-Plivo-Signature-V2`` (with its nonce) covers only the URL without its query.
V3 is checked when present; V2 only when V3 is absent, and only for a request that has
nothing V2 does not cover: no query and no body. Plivo sends V3 with every callback ("All
requests Plivo makes to your server URLs include X-Plivo-Signature-V3 and
X-Plivo-Signature-V3-Nonce", docs.plivo.com/docs/voice/xml/request/validation; its V2 page is
marked deprecated), so a V2-only request with a body is a captured one with V3 stripped, whose
body anyone may have rewritten; it is refused. Plivo's form bodies name each field once; the
codec refuses a field repeated with different values (V3 sorts a name's values).

Which URL Plivo signed is the one it was told to call:
:func:`~voicecall_cli.providers.signatures.reconstruct_public_url`, with the same port variants
Twilio needs.

The V3 canonical form and HMAC are the SDK's (``construct_post_url``/``construct_get_url``,
``get_signature_v3``); the comparison is ours, in constant time (the SDK's validators compare
with ``==``/``in``).

Pure: the request and the configuration in, a verdict out. The request key that identifies one
delivery (for the replay cache and event dedupe) is a digest of exactly the bytes the HMAC
covers (V3: canonical string + ``"."`` + nonce; V2: URL without query + nonce), so every copy
the same signature validates has the same key: reordered fields or values, an empty ``&=``,
header whitespace, or characters moved between the canonical string and the nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from voicecall_cli.providers.base import WebhookRequest
from voicecall_cli.providers.signatures import (
    WebhookSecurity,
    reconstruct_public_url,
    url_candidates,
)

V3_HEADER = "x-plivo-signature-v3"
V3_NONCE_HEADER = "x-plivo-signature-v3-nonce"
V2_HEADER = "x-plivo-signature-v2"
V2_NONCE_HEADER = "x-plivo-signature-v2-nonce"
MISSING_HEADERS = "Missing Plivo signature headers (V3 or V2)"
V2_UNCOVERED = ("V2 signature without V3 on a request with a query or body (V2 covers "
                "neither; Plivo signs every callback with V3)")


@dataclass(frozen=True, slots=True)
class PlivoVerification:
    """The outcome of :func:`verify_plivo`: ``version`` ("v3"/"v2") and ``key`` when ``ok``;
    ``url`` is the URL that matched, or the primary URL that was expected to."""

    ok: bool
    url: str
    reason: str | None = None
    key: str | None = None
    version: str | None = None


def has_signature_headers(headers: Mapping[str, str]) -> bool:
    """Pre-auth gate: a V3 signature and nonce, or a V2 signature and nonce."""
    return bool((headers.get(V3_HEADER) and headers.get(V3_NONCE_HEADER))
                or (headers.get(V2_HEADER) and headers.get(V2_NONCE_HEADER)))


def verify_plivo(request: WebhookRequest, auth_token: str, security: WebhookSecurity, *,
                 public_url: str | None) -> PlivoVerification:
    """Check the request's Plivo signature (V3, else V2) against each URL Plivo may have
    signed. A body that is not form data fails (it cannot be what Plivo signed)."""
    primary = reconstruct_public_url(request, security, public_url=public_url)
    if request.method not in ("GET", "POST"):
        return PlivoVerification(False, primary, f"Plivo never signs a {request.method}")
    headers = request.headers
    urls = url_candidates(primary, public_url, headers.get("host", ""))
    v3, v3_nonce = headers.get(V3_HEADER, ""), headers.get(V3_NONCE_HEADER, "")
    if v3.strip() and v3_nonce:
        if request.method == "GET" and request.body:
            return PlivoVerification(False, primary, "V3 does not cover the body of a GET")
        try:
            params = form_params(request.body) if request.method == "POST" else {}
        except ValueError as exc:
            return PlivoVerification(False, primary, f"Body is not form data: {exc}")
        # Any of several comma-separated signatures may match (spaces after commas allowed).
        presented = [part.strip().encode() for part in v3.split(",") if part.strip()]
        for url in urls:
            signed = _signed_base(request.method, url, params)
            expected = get_signature_v3(auth_token.encode(), signed, v3_nonce.encode())
            if any(hmac.compare_digest(expected, candidate) for candidate in presented):
                key = _key("v3", _v3_hmac_input(signed, v3_nonce))
                return PlivoVerification(True, url, key=key,
                                         version="v3")
        return PlivoVerification(False, primary, f"Invalid V3 signature for URL: {primary}")
    v2, v2_nonce = headers.get(V2_HEADER, "").strip(), headers.get(V2_NONCE_HEADER, "")
    if v2 and v2_nonce:
        if request.body or urlsplit(primary).query:
            return PlivoVerification(False, primary, V2_UNCOVERED)
        for url in urls:
            base = _without_query(url)
            if hmac.compare_digest(_v2_signature(auth_token, base, v2_nonce), v2.encode()):
                return PlivoVerification(True, url, key=_key("v2", base + v2_nonce),
                                         version="v2")
        return PlivoVerification(False, primary, f"Invalid V2 signature for URL: {primary}")
    return PlivoVerification(False, primary, MISSING_HEADERS)


def sign_v3(auth_token: str, url: str, body: bytes, nonce: str) -> dict[str, str]:
    """The V3 headers Plivo would send with a POST of the form ``body`` to ``url`` (the
    SDK's own signing function over the SDK's canonical string)."""
    signed = _signed_base("POST", url, form_params(body))
    signature = get_signature_v3(auth_token.encode(), signed, nonce.encode())
    return {V3_HEADER: signature.decode(), V3_NONCE_HEADER: nonce}


def form_params(body: bytes) -> dict[str, list[str]]:
    """A form body as Plivo's signature sees it: each name with all its values. Raises
    ``ValueError`` for a body that is not UTF-8 form data."""
    try:
        text = body.decode("utf-8")
        return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text),
                        errors="strict")
    except ValueError as exc:  # UnicodeDecodeError included
        raise ValueError(str(exc)) from None


def _copy(params: dict[str, list[str]]) -> dict[str, list[str] | str]:
    """The SDK's canonical form takes single values as strings and mutates what it is given."""
    return {name: values[0] if len(values) == 1 else list(values)
            for name, values in params.items()}


def _signed_base(method: str, url: str, params: dict[str, list[str]]) -> str:
    """The exact string the V3 signature covers, before the nonce."""
    if method == "GET":
        return construct_get_url(url, {}).decode("utf-8")
    return construct_post_url(url, _copy(params)).decode("utf-8")


def _v2_signature(auth_token: str, base: str, nonce: str) -> bytes:
    """V2: base64(HMAC-SHA256(auth token, URL without query + nonce)); the SDK only has a
    non-constant-time validator for it (the tests check this against it)."""
    digest = hmac.new(auth_token.encode(), (base + nonce).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest)


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _v3_hmac_input(signed: str, nonce: str) -> str:
    """What ``get_signature_v3`` HMACs for the nonce bytes we pass it (it maps bytes to
    characters one to one)."""
    return f"{signed}." + "".join(map(chr, nonce.encode()))


def _key(version: str, hmac_input: str) -> str:
    """The replay key: a digest of exactly what the HMAC covers (module docstring)."""
    return f"plivo:{version}:" + hashlib.sha256(hmac_input.encode("utf-8", "surrogatepass")
                                                ).hexdigest()
