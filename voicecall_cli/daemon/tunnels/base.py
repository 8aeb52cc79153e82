"""What every tunnel is: a service that exposes the daemon's webhook server and says where.

A tunnel (ngrok, Tailscale serve or funnel) is an object with one method, :meth:`Tunnel.serve`,
run as a trio service: ``url = await nursery.start(tunnel.serve, target)``. It exposes the
routes of a :class:`TunnelTarget`, reports the public base URL through ``task_status`` once
they answer, and keeps them up until its task is cancelled. On cancellation, on a failed start
and when it dies, it removes exactly what it added, in bounded time, even though its scope is
cancelled (a shielded cleanup), and leaves nothing running: no process, no route.

The owner (:class:`~voicecall_cli.daemon.tunnels.exposure.Exposure`) decides which tunnel runs
and puts its URL into the daemon's endpoints; a tunnel never touches them itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import trio


@dataclass(frozen=True, slots=True)
class Route:
    """One path the tunnel makes public: ``public_path`` on the public host is served by
    ``local_path`` on the daemon's webhook server (the same path, except when the user mounts
    the webhook elsewhere with ``tailscale.path`` or ``expose --path``)."""

    public_path: str
    local_path: str


@dataclass(frozen=True, slots=True)
class TunnelTarget:
    """What to expose: the webhook server listening on ``host:port`` of this machine, and the
    routes the carrier needs (the webhook path, and the media-stream path when streams are
    on). ``host`` is the address to forward to (``127.0.0.1`` when the server listens on a
    wildcard address)."""

    host: str
    port: int
    routes: tuple[Route, ...]

    def local_url(self, path: str = "") -> str:
        """``http://<host>:<port><path>`` (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"


class TunnelError(Exception):
    """A tunnel could not start (or died). ``str(err)`` is one line for the user that says
    what failed and what to change; it never holds a secret. ``hint`` is extra structured
    advice (``{"note": str, "enableUrl": str | None}`` when Tailscale refuses)."""

    def __init__(self, message: str, *, hint: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(slots=True)
class TunnelStatus:
    """What a running tunnel reports about itself (health, ``doctor``)."""

    kind: str  # "ngrok" | "tailscale-serve" | "tailscale-funnel"
    via: str  # how it runs: "ngrok-sdk", "ngrok-agent", "tailscale-cli"
    public_base: str | None = None  # https://host[:port], no path
    routes: list[Route] = field(default_factory=list)
    public_only_to_tailnet: bool = False  # Tailscale serve: carriers on the internet cannot call it


class Tunnel(Protocol):
    """A tunnel implementation. One instance serves one run (start, serve, stop)."""

    kind: str

    async def serve(self, target: TunnelTarget, *,
                    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Expose ``target``'s routes; ``task_status.started(base_url)`` with the public base
        URL (``https://host[:port]``, no path, no trailing slash) once they are up; then wait.

        Raises :class:`TunnelError` when it cannot start (before ``started``) or when it dies
        later (the process exits, the route vanishes). Cancellation stops it. In every case
        it first removes what it added (shielded, bounded by a few seconds).
        """

    def status(self) -> TunnelStatus:
        """What it exposes now (after ``started``)."""
