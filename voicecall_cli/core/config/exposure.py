"""How a carrier reaches the daemon's webhook: ``publicUrl``, a trusted proxy, or tunnels.

A real carrier calls the webhook from the internet. The daemon gives it ``publicUrl`` when that
is set, else its own listening URL (``http://<serve.bind>:<serve.port><serve.path>``), which
only a carrier on this machine can reach (the bundled simulator: a ``<provider>.apiBaseUrl``
on loopback). Twilio also signs each webhook with the URL it called, and the daemon checks
signatures against that same URL.

Behind a trusted reverse proxy (``webhookSecurity.allowedHosts`` or
``trustForwardingHeaders``, with ``trustedProxyIPs``) inbound webhooks are checked against the
forwarded host, so a number whose console webhook points at the proxy works without
``publicUrl``; outbound calls and media streams still hand the carrier the daemon's own URL.
That setup is a warning; no public URL at all is an error. A tunnel (``tunnel.provider``, or
the legacy ``tailscale`` block) gives the daemon its public URL at start, unless ``publicUrl``
is set, which wins.

Pure functions on validated data (``written`` is the voice-call config as the file had it,
before defaults and environment fallbacks); ``key`` names a path in messages.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from voicecall_cli.core.config.model import normalize_url_path
from voicecall_cli.core.config.validate import lookup

KeyName = Callable[[str], str]
CARRIER_NAMES = {"twilio": "Twilio", "telnyx": "Telnyx", "plivo": "Plivo"}


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_webhook_url(data: Mapping[str, Any]) -> str:
    """The URL the daemon gives the carrier when no ``publicUrl`` is set (as it logs it)."""
    host = lookup(data, "serve.bind") or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    port = lookup(data, "serve.port")
    path = normalize_url_path(str(lookup(data, "serve.path") or "/"))
    return f"http://{host}:{port or '<free port>'}{path}"


def carrier_is_local(data: Mapping[str, Any]) -> bool:
    """True when the carrier's API is on this machine (a simulator), so it reaches the daemon's
    own URL."""
    base = lookup(data, f"{data.get('provider')}.apiBaseUrl")
    return isinstance(base, str) and is_loopback_host(urlsplit(base).hostname)


def reconstructs_public_url(data: Mapping[str, Any]) -> bool:
    """True when inbound webhooks may name their public host through forwarded headers (the
    daemon's rule: allowed hosts or header trust, and proxy addresses to trust them from)."""
    return bool((lookup(data, "webhookSecurity.allowedHosts")
                 or lookup(data, "webhookSecurity.trustForwardingHeaders"))
                and lookup(data, "webhookSecurity.trustedProxyIPs"))


def tunnel_setting(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (key, value) of the tunnel the daemon will start, or None: ``tunnel.provider``,
    else the legacy ``tailscale.mode``; none at all when ``publicUrl`` is set."""
    if data.get("publicUrl"):
        return None
    provider = lookup(data, "tunnel.provider")
    if provider not in (None, "none"):
        return "tunnel.provider", provider
    mode = lookup(data, "tailscale.mode")
    if mode not in (None, "off"):
        return "tailscale.mode", mode
    return None


def _needs_exposure(data: Mapping[str, Any]) -> bool:
    provider = data.get("provider")
    return (provider != "mock" and not data.get("publicUrl") and not carrier_is_local(data)
            and tunnel_setting(data) is None)


def public_url_error(data: Mapping[str, Any], key: KeyName) -> str | None:
    """Why the carrier cannot reach the daemon at all (message for ``publicUrl``), or None."""
    if not _needs_exposure(data) or reconstructs_public_url(data):
        return None
    provider = data["provider"]
    carrier = CARRIER_NAMES.get(provider, provider)
    port = lookup(data, "serve.port")
    return (
        f'{key("publicUrl")} is required with provider "{provider}": {carrier} cannot reach '
        f"the daemon's own webhook URL {local_webhook_url(data)}. Set {key('publicUrl')} to "
        f"the public https URL that forwards to {key('serve.port')} (e.g. run `ngrok http "
        f"{port or 3334}` and use its URL + {lookup(data, 'serve.path')}), or let the daemon "
        f'start a tunnel ({key("tunnel.provider")} "ngrok" or "tailscale-funnel"), or, '
        f"behind a reverse proxy, set {key('webhookSecurity.allowedHosts')} and "
        f"{key('webhookSecurity.trustedProxyIPs')} (inbound calls only)")


def exposure_warnings(data: Mapping[str, Any], written: Mapping[str, Any],
                      key: KeyName) -> list[str]:
    """Warnings for exposure settings that are set but will not act as written."""
    warnings = []
    if _needs_exposure(data) and reconstructs_public_url(data):
        streams = " and media streams" if (lookup(data, "streaming.enabled")
                                           or lookup(data, "realtime.enabled")) else ""
        warnings.append(
            f"{key('publicUrl')} is unset: inbound webhooks through the trusted proxy are "
            f"checked against their forwarded host, but outbound calls{streams} give the "
            f"carrier the daemon's own URL {local_webhook_url(data)}, which it cannot reach; "
            f"set {key('publicUrl')} for them")
    provider = lookup(data, "tunnel.provider")
    mode = lookup(data, "tailscale.mode")
    tunnel_set = provider not in (None, "none")
    if data.get("publicUrl") and (tunnel_set or mode not in (None, "off")):
        named = key("tunnel.provider") if tunnel_set else key("tailscale.mode")
        warnings.append(f"{named} is ignored: {key('publicUrl')} is set, and the daemon starts "
                        "no tunnel when it is")
    elif tunnel_set and mode not in (None, "off"):
        warnings.append(f'{key("tailscale.mode")} "{mode}" is ignored: '
                        f'{key("tunnel.provider")} "{provider}" starts the tunnel')
    written_tunnel = written.get("tunnel") if isinstance(written.get("tunnel"), dict) else {}
    if provider != "ngrok":
        warnings += [f'{key("tunnel." + name)} is not used: {key("tunnel.provider")} is not '
                     '"ngrok"' for name in ("ngrokAuthToken", "ngrokDomain")
                     if name in written_tunnel]
    if data.get("provider") != "mock":
        warnings += _proxy_trust_warnings(data, key)
    return warnings


def _proxy_trust_warnings(data: Mapping[str, Any], key: KeyName) -> list[str]:
    warnings = []
    trusted_ips = lookup(data, "webhookSecurity.trustedProxyIPs")
    for name in ("allowedHosts", "trustForwardingHeaders"):
        if lookup(data, f"webhookSecurity.{name}") and not trusted_ips:
            warnings.append(
                f"{key('webhookSecurity.' + name)} has no effect while "
                f"{key('webhookSecurity.trustedProxyIPs')} is empty: forwarded headers are "
                "trusted only from those proxy addresses")
    bypass = lookup(data, "tunnel.allowNgrokFreeTierLoopbackBypass")
    if bypass and not (lookup(data, "tunnel.provider") == "ngrok"
                       and is_loopback_host(lookup(data, "serve.bind"))):
        warnings.append(
            f"{key('tunnel.allowNgrokFreeTierLoopbackBypass')} has no effect: it applies only "
            f'with {key("tunnel.provider")} "ngrok" and a loopback {key("serve.bind")}')
    return warnings
