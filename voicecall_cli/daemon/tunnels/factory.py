"""Which tunnel object a tunnel kind means, with its settings from the configuration."""

from __future__ import annotations

from typing import Any

from voicecall_cli.daemon.tunnels.base import Tunnel, TunnelError


def tunnel_factory(config: Any):
    """A ``kind -> Tunnel`` function for :class:`~voicecall_cli.daemon.tunnels.exposure.Exposure`:
    ``ngrok`` (``tunnel.ngrokAuthToken``/``NGROK_AUTHTOKEN``, ``tunnel.ngrokDomain``),
    ``tailscale-serve`` and ``tailscale-funnel``. Each call makes a fresh tunnel."""

    def make(kind: str) -> Tunnel:
        if kind == "ngrok":
            from voicecall_cli.daemon.tunnels.ngrok import open_ngrok_tunnel
            return open_ngrok_tunnel(config.get("tunnel.ngrokAuthToken") or None,
                                     config.get("tunnel.ngrokDomain") or None)
        if kind in ("tailscale-serve", "tailscale-funnel"):
            from voicecall_cli.daemon.tunnels.tailscale import TailscaleTunnel
            return TailscaleTunnel(kind.removeprefix("tailscale-"))
        raise TunnelError(f"unknown tunnel {kind!r}")

    return make
