"""Which public URL a provider signed (reference 6.2), shared by the providers that sign URLs.

Pure functions of the request and the configuration: :func:`reconstruct_public_url` and
:func:`url_variants` (each provider's own signature check lives in its package).

Proxy trust is strict: ``X-Forwarded-*`` headers are believed only when the configuration opts
in (``allowedHosts`` or ``trustForwardingHeaders``) *and* the request's socket peer is one of
``trustedProxyIPs`` (an IPv4-mapped IPv6 address equals its IPv4 form). The one exception is the
ngrok free-tier rule: with an ngrok tunnel on a loopback bind, requests from loopback (ngrok's
agent) may name the public host in forwarding headers. That rule only changes which URL is
checked; a request without a valid signature is never accepted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from voicecall_cli.providers.base import WebhookRequest

_FORWARDED_HOST_HEADERS = ("x-forwarded-host", "x-original-host", "ngrok-forwarded-host")
NGROK_FREE_TIER_DOMAINS = (".ngrok-free.app", ".ngrok-free.dev", ".ngrok.io")
_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class WebhookSecurity:
    """``webhookSecurity.*``: which forwarding headers may name the public host."""

    allowed_hosts: tuple[str, ...] = ()
    trust_forwarding_headers: bool = False
    trusted_proxy_ips: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Any) -> WebhookSecurity:
        """``webhookSecurity.*`` of a validated configuration."""
        return cls(
            allowed_hosts=tuple(config.get("webhookSecurity.allowedHosts") or ()),
            trust_forwarding_headers=bool(config.get("webhookSecurity.trustForwardingHeaders")),
            trusted_proxy_ips=tuple(config.get("webhookSecurity.trustedProxyIPs") or ()))


def ngrok_loopback_bypass_effective(*, allowed: bool, tunnel_provider: str, bind: str) -> bool:
    """Whether ``tunnel.allowNgrokFreeTierLoopbackBypass`` applies: set, with an ngrok tunnel,
    and the webhook server bound to loopback only."""
    return allowed and tunnel_provider == "ngrok" and (bind == "localhost" or is_loopback(bind))


def is_loopback(address: str | None) -> bool:
    ip = _parse_ip(address)
    return ip is not None and ip.is_loopback


def same_ip(first: str, second: str) -> bool:
    """Equal addresses, counting ``::ffff:a.b.c.d`` equal to ``a.b.c.d``."""
    a, b = _parse_ip(first), _parse_ip(second)
    if a is None or b is None:
        return first.strip() == second.strip()
    return a == b


def normalise_host(value: str) -> str | None:
    """A Host-style value as a bare lower-case host name (``[v6]`` keeps its brackets), or None
    when it is not a plausible host: user info (``@``), bad labels, over 253 characters."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return None
        try:
            address = ipaddress.IPv6Address(value[1:end])
        except ValueError:
            return None
        return f"[{address.compressed}]"
    if "@" in value:
        return None
    host = value.split(":", 1)[0].lower()
    if not host or len(host) > 253:
        return None
    if not all(_HOST_LABEL.match(label) for label in host.split(".")):
        return None
    return host


def forwarding_trusted(request: WebhookRequest, security: WebhookSecurity, *,
                       trust_loopback_forwarding: bool = False) -> bool:
    """Whether this request's forwarding headers may name its public scheme and host."""
    remote = request.remote_addr
    if trust_loopback_forwarding and is_loopback(remote):
        return True
    if not (security.allowed_hosts or security.trust_forwarding_headers):
        return False
    if not security.trusted_proxy_ips or not remote:
        return False
    return any(same_ip(remote, proxy) for proxy in security.trusted_proxy_ips)


def reconstruct_public_url(request: WebhookRequest, security: WebhookSecurity, *,
                           public_url: str | None,
                           trust_loopback_forwarding: bool = False) -> str:
    """The URL the carrier requested: ``<scheme>://<host><path>?<query>``.

    With ``public_url`` configured: its scheme, host, port and path (the request's path when
    it has none) with the request's query: the carrier called the public URL, and a tunnel or
    proxy may mount the webhook at another path than the daemon's (``tailscale.path``,
    ``expose --path``). Otherwise the scheme is ``https`` unless a trusted
    ``X-Forwarded-Proto`` says ``http``; the host is the first acceptable trusted forwarded
    host (valid, and in ``allowed_hosts`` when that is set), else the ``Host`` header, else the
    request URL's host; the port is dropped.
    """
    requested = urlsplit(request.url)
    path = requested.path or "/"
    if public_url:
        base = urlsplit(public_url)
        public_path = base.path if base.path not in ("", "/") else path
        return urlunsplit((base.scheme, base.netloc, public_path, requested.query, ""))
    trusted = forwarding_trusted(request, security,
                                 trust_loopback_forwarding=trust_loopback_forwarding)
    scheme = "https"
    host = None
    if trusted:
        proto = _first_value(request.headers.get("x-forwarded-proto", "")).lower()
        if proto in ("http", "https"):
            scheme = proto
        host = _forwarded_host(request, security.allowed_hosts)
    host = (host or normalise_host(request.headers.get("host", ""))
            or normalise_host(requested.netloc) or "")
    return urlunsplit((scheme, host, path, requested.query, ""))


def url_variants(primary: str, public_url: str | None, host_header: str) -> list[str]:
    """``primary`` as signed, without a port, with ``public_url``'s port and with the ``Host``
    header's port: providers sign the URL exactly as it was configured."""
    ports = [_port_of_url(public_url) if public_url else None, _port_of_host(host_header)]
    variants = [primary, _with_port(primary, None)]
    variants += [_with_port(primary, port) for port in ports if port]
    return list(dict.fromkeys(variants))


def url_candidates(primary: str, public_url: str | None, host_header: str) -> Iterator[str]:
    """:func:`url_variants` lazily: ``primary`` (the URL nearly every genuine request was
    signed for) costs nothing more; the others are built only if it did not match."""
    yield primary
    yield from url_variants(primary, public_url, host_header)[1:]


def _with_port(url: str, port: int | None) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _port_of_url(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def _port_of_host(host_header: str) -> int | None:
    value = host_header.strip()
    if value.startswith("["):
        value = value[value.find("]") + 1:]
    _, colon, port = value.rpartition(":")
    if colon and port.isdigit() and 0 < int(port) < 65536:
        return int(port)
    return None


def _forwarded_host(request: WebhookRequest, allowed_hosts: tuple[str, ...]) -> str | None:
    allowed = {host for host in map(normalise_host, allowed_hosts) if host}
    for header in _FORWARDED_HOST_HEADERS:
        host = normalise_host(_first_value(request.headers.get(header, "")))
        if host and (not allowed_hosts or host in allowed):
            return host
    return None


def _first_value(header_value: str) -> str:
    return header_value.split(",", 1)[0].strip()


def _parse_ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
