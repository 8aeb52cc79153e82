"""The daemon's half of ``voicecall doctor``: checks that need its memory and its network.

:func:`run_checks` returns :class:`~voicecall_cli.core.reachability.Check` values for
``daemon.doctor``: the public URL the carrier is given, the tunnel, a signed probe through
the public URL back to our own webhook, the stream path, the clock against the carrier's API,
and the last rejected webhook. The CLI adds the checks of the config file and prints them all.

The probe is a POST with ``X-Voicecall-Probe: <nonce>`` signed as the carrier would sign it
(``codec.sign_probe``); the webhook pipeline answers it only after verifying the signature and
then does nothing else. Its outbound HTTP client follows the environment's proxy settings, as
every other client of the daemon does. Everything is bounded: each request by
:data:`PROBE_TIMEOUT_S`.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import httpx

from voicecall_cli.core.config.exposure import carrier_is_local
from voicecall_cli.core.reachability import (
    FAIL,
    OK,
    SKIP,
    WARN,
    Check,
    clock_check,
    public_url_check,
)
from voicecall_cli.daemon.endpoints import DaemonEndpoints
from voicecall_cli.daemon.tunnels.exposure import Exposure
from voicecall_cli.daemon.web.diagnostics import PROBE_HEADER, PROBE_REPLY, WebhookDiagnostics
from voicecall_cli.providers.base import WebhookCodec

PROBE_TIMEOUT_S = 8.0
PROBE_BODY = b"VoicecallProbe=1"


@dataclass(slots=True)
class DoctorContext:
    """What the checks read; owned by the daemon's control backend."""

    config: Any
    endpoints: DaemonEndpoints
    exposure: Exposure
    diagnostics: WebhookDiagnostics
    codec: WebhookCodec


async def run_checks(ctx: DoctorContext) -> list[Check]:
    provider = ctx.config.provider
    exposure = ctx.exposure.describe()
    local_carrier = carrier_is_local(ctx.config.data)
    public_url = ctx.endpoints.public_url
    url_check = public_url_check(provider=provider, public_url=public_url,
                                 local_url=ctx.endpoints.local_url,
                                 carrier_is_local=local_carrier,
                                 tailnet_only=bool(exposure.get("tailnetOnly")))
    checks = [url_check, _tunnel_check(exposure, ctx.config)]
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S, follow_redirects=False) as http:
        if provider == "mock" or public_url is None or url_check.status == FAIL:
            why = ("the mock carrier needs no public URL" if provider == "mock"
                   else "there is no public URL to probe" if public_url is None
                   else "carriers cannot call the public URL, so it is not probed")
            checks.append(Check("webhook-probe", SKIP, why))
            checks.append(_stream_route_check(ctx, exposure))
        else:
            checks.append(await _probe_webhook(ctx, http, public_url))
            checks.append(await _probe_stream(ctx, http, exposure))
        checks.append(await _clock(ctx, http))
    checks.append(_rejections_check(ctx.diagnostics))
    return checks


def _tunnel_check(exposure: dict[str, Any], config: Any) -> Check:
    kind = exposure.get("tunnel")
    if kind is None:
        configured = config.get("publicUrl")
        why = "publicUrl is set" if configured else "tunnel.provider is \"none\""
        return Check("tunnel", SKIP, f"no tunnel runs ({why})")
    if exposure["state"] == "down":
        return Check("tunnel", FAIL, f"the {kind} tunnel is down: {exposure['error']}",
                     "restart the daemon (`voicecall daemon restart`) or switch with "
                     "`voicecall expose --mode funnel`")
    paths = ", ".join(route["publicPath"] for route in exposure.get("routes", []))
    return Check("tunnel", OK, f"{kind} up at {exposure['publicBase']} ({paths})")


async def _probe_webhook(ctx: DoctorContext, http: httpx.AsyncClient, url: str) -> Check:
    name = "webhook-probe"
    signing = ctx.codec.sign_probe(url, PROBE_BODY)
    with ctx.diagnostics.probing() as nonce:
        headers = {PROBE_HEADER: nonce, "content-type": "application/x-www-form-urlencoded",
                   **(signing or {})}
        try:
            response = await http.post(url, content=PROBE_BODY, headers=headers)
        except httpx.HTTPError as exc:
            return Check(name, FAIL, f"{url} did not answer: {_error_text(exc)}",
                         "check that the tunnel or proxy forwards to this daemon "
                         f"({ctx.endpoints.local_url})")
        answered = ctx.diagnostics.probe_answered(nonce, ctx.config.serve_path)
    rejected = ctx.diagnostics.last_rejected
    ours = rejected is not None and rejected.probe == nonce
    if answered and response.content == PROBE_REPLY:
        return Check(name, OK, f"a signed request to {url} reached this daemon and passed "
                               "its signature check")
    if ours and signing is None:
        return Check(name, OK, f"a request to {url} reached this daemon (only {ctx.codec.name} "
                               "can sign its webhooks, so the probe was unsigned)")
    if ours:
        assert rejected is not None
        return Check(name, FAIL,
                     f"{url} reaches this daemon, but the signature was checked against "
                     f"{rejected.verified_url or 'another URL'} (the request names "
                     f"{rejected.requested_url})",
                     "set publicUrl to the exact URL the carrier calls, or set "
                     "webhookSecurity.allowedHosts and trustedProxyIPs for your proxy")
    return Check(name, FAIL, f"{url} answered HTTP {response.status_code}, but not from this "
                             "daemon",
                 "point the tunnel or proxy at this daemon's port "
                 f"({ctx.endpoints.local_url})")


async def _probe_stream(ctx: DoctorContext, http: httpx.AsyncClient,
                        exposure: dict[str, Any]) -> Check:
    name = "stream-path"
    route_check = _stream_route_check(ctx, exposure)
    stream_url = ctx.endpoints.stream_url
    if route_check.status in (SKIP, FAIL) or stream_url is None:
        return route_check
    url = "http" + stream_url.removeprefix("ws")  # wss://h/p -> https://h/p
    with ctx.diagnostics.probing() as nonce:
        try:
            response = await http.get(url, headers={PROBE_HEADER: nonce})
        except httpx.HTTPError as exc:
            return Check(name, FAIL, f"{url} did not answer: {_error_text(exc)}",
                         "expose the stream path too (streaming.streamPath)")
        answered = ctx.diagnostics.probe_answered(nonce, ctx.config.get("streaming.streamPath"))
    if answered and response.content == PROBE_REPLY:
        return Check(name, OK, f"media streams reach this daemon at {stream_url}")
    return Check(name, FAIL, f"{url} answered HTTP {response.status_code}, but not from this "
                             "daemon's stream endpoint: streamed calls would drop",
                 "forward the stream path (streaming.streamPath) to this daemon as well")


def _stream_route_check(ctx: DoctorContext, exposure: dict[str, Any]) -> Check:
    name = "stream-path"
    stream_path = ctx.config.get("streaming.streamPath")
    if not (ctx.config.get("streaming.enabled") or ctx.config.get("realtime.enabled")) \
            or ctx.endpoints.stream_url is None:
        return Check(name, SKIP, "media streaming is off")
    if exposure.get("tunnel") is not None:
        routes = {route["publicPath"] for route in exposure.get("routes", [])}
        if stream_path not in routes and exposure["tunnel"] != "ngrok":
            return Check(name, FAIL, f"the {exposure['tunnel']} tunnel does not expose "
                                     f"{stream_path}: streamed calls would drop",
                         "restart the daemon so the tunnel mounts the stream path")
    return Check(name, OK, f"media streams are given {ctx.endpoints.stream_url}")


async def _clock(ctx: DoctorContext, http: httpx.AsyncClient) -> Check:
    provider = ctx.config.provider
    if provider == "mock":
        return clock_check(provider=provider, skew_s=None, source=None)
    base = str(ctx.config.get(f"{provider}.apiBaseUrl") or "")
    source = f"{provider}'s API ({base})"
    try:
        sent = time.time()
        response = await http.get(base)
        received = time.time()
    except httpx.HTTPError as exc:
        return clock_check(provider=provider, skew_s=None, source=source,
                           error=_error_text(exc))
    date = response.headers.get("date")
    try:
        theirs = email.utils.parsedate_to_datetime(date).timestamp() if date else None
    except (TypeError, ValueError):
        theirs = None
    if theirs is None:
        return clock_check(provider=provider, skew_s=None, source=source,
                           error="its answer had no Date header")
    # Date is cut to the whole second: their clock read theirs..theirs+1 somewhere in the
    # round trip, so compare the middle of the two.
    skew = (sent + received) / 2 - (theirs + 0.5)
    return clock_check(provider=provider, skew_s=skew if abs(skew) > 1.0 else 0.0,
                       source=source)


def _rejections_check(diagnostics: WebhookDiagnostics) -> Check:
    name = "rejected-webhooks"
    rejected = diagnostics.last_foreign
    if rejected is None:
        return Check(name, OK, "no webhook has been rejected since the daemon started")
    ago = max(0, round(time.time() - rejected.at_ms / 1000))
    verified = f"; we checked it against {rejected.verified_url}" if rejected.verified_url \
        else ""
    return Check(name, WARN,
                 f"{diagnostics.foreign_count} rejected; the last, {ago} s ago from "
                 f"{rejected.remote_addr or 'an unknown address'}: {rejected.reason}. It "
                 f"names {rejected.requested_url}{verified}",
                 "if these are your carrier's webhooks, set publicUrl to the URL it calls "
                 "(behind a proxy: webhookSecurity.allowedHosts and trustedProxyIPs)")


def _error_text(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
