"""Can a carrier on the internet call this URL? Pure judgements for ``voicecall doctor``.

Each check returns a :class:`Check`: a name, a status (``ok``, ``warn``, ``fail`` or ``skip``),
a one-line summary and, unless ok, what to change. No I/O: the daemon measures (probes, clocks)
and passes the results in.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
STATUSES = (OK, WARN, FAIL, SKIP)
# Names that never resolve on the public internet (RFC 6761/6762/8375, common LAN suffixes).
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".test",
                   ".invalid", ".example", ".intranet", ".corp")
_TAILNET_RANGE = ipaddress.ip_network("100.64.0.0/10")  # Tailscale/CGNAT: tailnet-only
TELNYX_MAX_SKEW_S = 300  # Telnyx webhooks older than this are refused (reference 6.4)
CLOCK_WARN_S = 30


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    summary: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status,
                                "summary": self.summary}
        if self.fix:
            data["fix"] = self.fix
        return data


def unreachable_host_reason(host: str) -> str | None:
    """Why carriers cannot call ``host`` (loopback, private, link-local, tailnet-only or a
    local-only name), or None when it may be public. Names are not resolved."""
    bare = host.strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        if bare == "localhost" or bare.endswith(_LOCAL_SUFFIXES):
            return f"{bare} is a local-only name"
        if "." not in bare:
            return f"{bare} is a single-label name, which only your network resolves"
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"{bare} is a loopback address"
    if ip.is_unspecified:
        return f"{bare} is not an address anyone can call"
    if ip.is_link_local:
        return f"{bare} is a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _TAILNET_RANGE:
        return f"{bare} is a tailnet (CGNAT) address, reachable only inside your tailnet"
    if ip.is_private:
        return f"{bare} is a private address"
    return None


def public_url_check(*, provider: str, public_url: str | None, local_url: str | None,
                     carrier_is_local: bool, tailnet_only: bool) -> Check:
    """Whether the URL the carrier is given can be called from the internet."""
    name = "public-url"
    if provider == "mock":
        return Check(name, SKIP, "the mock carrier runs inside the daemon and needs no public "
                                 "URL")
    if public_url is None:
        if carrier_is_local:
            return Check(name, OK, f"the carrier's API is on this machine (a simulator), so "
                                   f"it reaches the daemon at {local_url}")
        return Check(name, FAIL, f"no public URL: {provider} cannot reach the daemon's own "
                                 f"URL {local_url}",
                     "set publicUrl, or tunnel.provider (ngrok, tailscale-funnel), or run "
                     "`voicecall expose --mode funnel`")
    parts = urlsplit(public_url)
    reason = unreachable_host_reason(parts.hostname or "")
    if reason is not None:
        return Check(name, FAIL, f"{public_url}: {reason}; carriers on the internet cannot "
                                 "call it",
                     "set publicUrl to an address the internet reaches, or use a tunnel "
                     "(tunnel.provider, `voicecall expose --mode funnel`)")
    if tailnet_only:
        return Check(name, WARN, f"{public_url} is Tailscale serve: only your tailnet reaches "
                                 "it, not the carrier",
                     "run `voicecall expose --mode funnel` (or set tunnel.provider "
                     "\"tailscale-funnel\")")
    if parts.scheme != "https":
        return Check(name, WARN, f"{public_url} is plain http: webhooks and their signatures "
                                 "cross the internet unencrypted",
                     "put https in front of the daemon and set publicUrl to the https URL")
    return Check(name, OK, f"carriers are given {public_url}")


def clock_check(*, provider: str, skew_s: float | None, source: str | None,
                error: str | None = None) -> Check:
    """The local clock against the carrier API's ``Date`` header (``skew_s`` = local minus
    theirs). Telnyx refuses webhooks signed more than five minutes from our clock."""
    name = "clock"
    if provider == "mock":
        return Check(name, SKIP, "the mock carrier shares the daemon's clock")
    if skew_s is None:
        return Check(name, WARN, f"could not read the clock of {source or provider}"
                                 f"{': ' + error if error else ''}",
                     "check that this machine reaches the carrier's API")
    direction = "ahead of" if skew_s > 0 else "behind"
    summary = f"this machine's clock is {abs(skew_s):.0f} s {direction} {source}"
    if abs(skew_s) >= TELNYX_MAX_SKEW_S:
        status = FAIL if provider == "telnyx" else WARN
        return Check(name, status, summary + (" (Telnyx webhooks will be refused as stale)"
                                              if provider == "telnyx" else ""),
                     "synchronise the clock (e.g. `timedatectl set-ntp true`)")
    if abs(skew_s) > CLOCK_WARN_S:
        return Check(name, WARN, summary, "synchronise the clock (e.g. `timedatectl set-ntp "
                                          "true`)")
    return Check(name, OK, f"clock within {abs(skew_s):.0f} s of {source}")
