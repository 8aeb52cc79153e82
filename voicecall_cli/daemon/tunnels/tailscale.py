"""Tailscale serve (tailnet only) or funnel (internet) as a tunnel, driven by the ``tailscale`` CLI.

:class:`TailscaleTunnel` mounts each route of its target on ``https://<node>.<tailnet>.ts.net
[:port]<public_path>`` with ``tailscale serve|funnel --bg``: tailscaled, not this process,
serves them, so what this run owns is a set of entries in the node's serve config. It owns
exactly the paths it mounted (or adopted: left by a crashed run, pointing at our target) and
removes those, and only those, when its task ends for any reason: cancellation, a failed start,
a route that vanished. Removal is shielded and bounded (a few seconds per command) and never
raises. A path the user serves with another target is never touched: the start is refused.

Funnel is set per host:port by every ``serve``/``funnel`` command, so a start is also refused
when it would change whether the user's own routes on that host:port are public.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Literal

import trio

from voicecall_cli.core.tunnels import tailscale as ts
from voicecall_cli.daemon.tunnels.base import Route, TunnelError, TunnelStatus, TunnelTarget
from voicecall_cli.daemon.tunnels.commands import find_executable, run_command

log = logging.getLogger("voicecall.tunnels")

INSTALL_HINT = "install it from https://tailscale.com/download"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines of the ``tailscale`` commands, in seconds, and the route re-check period."""

    status_s: float = 2.5  # tailscale status --json
    serve_status_s: float = 5.0  # tailscale serve status --json
    command_s: float = 10.0  # tailscale serve|funnel --bg ... (one route)
    cleanup_s: float = 5.0  # each command while removing our routes
    recheck_s: float = 30.0  # how often a running tunnel checks that its routes still exist


class TailscaleTunnel:
    """One run of Tailscale serve or funnel for one :class:`TunnelTarget` (see the module doc).

    ``await nursery.start(tunnel.serve, target)`` returns ``https://<dns>[:port]`` once every
    route is mounted and verified; the task then re-checks the routes every
    ``timeouts.recheck_s`` and raises :class:`TunnelError` if one vanished.
    """

    def __init__(self, mode: Literal["serve", "funnel"], *, https_port: int = 443,
                 timeouts: Timeouts = Timeouts()) -> None:
        if mode not in ("serve", "funnel"):
            raise ValueError(f"Tailscale mode must be 'serve' or 'funnel', not {mode!r}")
        self.mode: ts.Mode = mode
        self.kind = f"tailscale-{mode}"
        self.https_port = https_port
        self.timeouts = timeouts
        self._public_base: str | None = None
        self._routes: list[Route] = []

    def status(self) -> TunnelStatus:
        return TunnelStatus(kind=self.kind, via="tailscale-cli", public_base=self._public_base,
                            routes=list(self._routes),
                            public_only_to_tailnet=self.mode == "serve")

    async def serve(self, target: TunnelTarget, *,
                    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        exe = find_executable("tailscale", INSTALL_HINT)
        owned: list[str] = []  # public paths this run may have mounted: removed at the end
        wanted = {route.public_path: target.local_url(route.local_path)
                  for route in target.routes}
        host_port = ""
        try:
            dns, node = await self._node(exe)
            host_port = ts.host_port(dns, self.https_port)
            self._refuse_conflicts(await self._serve_config(exe), host_port, wanted)
            for path, url in wanted.items():
                owned.append(path)  # before the command: a cancelled one may still have landed
                await self._mount(exe, path, url, node)
            self._verify(await self._serve_config(exe), host_port, wanted)
            self._public_base = ts.public_base(dns, self.https_port)
            self._routes = list(target.routes)
            log.info("Tailscale %s: %s serves %s", self.mode, self._public_base,
                     ", ".join(wanted))
            task_status.started(self._public_base)
            await self._watch(exe, host_port, wanted)
        finally:
            self._public_base = None
            self._routes = []
            with trio.CancelScope(shield=True):
                await self._remove(exe, host_port, {path: wanted[path] for path in owned})

    # -- start ---------------------------------------------------------------------------------

    async def _node(self, exe: str) -> tuple[str, str | None]:
        """The node's DNS name and id from ``tailscale status --json``."""
        prefix = "Could not get Tailscale DNS name"
        try:
            result = await run_command([exe, "status", "--json"],
                                       timeout_s=self.timeouts.status_s)
        except TunnelError as exc:
            raise TunnelError(f"{prefix}: {exc}. Is Tailscale running?") from None
        try:
            status = json.loads(result.stdout)
        except ValueError:
            detail = (f"`tailscale status --json` exited with code {result.returncode}: "
                      f"{result.output()}" if result.returncode else
                      "`tailscale status --json` printed no JSON")
            raise TunnelError(f"{prefix}: {detail}. Is Tailscale running?") from None
        dns = ts.dns_name(status)
        if dns is None:
            raise TunnelError(ts.no_dns_message(status))
        return dns, ts.node_id(status)

    async def _serve_config(self, exe: str, timeout_s: float | None = None) -> object:
        """The node's serve config (``{}`` when empty); :class:`TunnelError` when unreadable."""
        result = await run_command([exe, "serve", "status", "--json"],
                                   timeout_s=timeout_s or self.timeouts.serve_status_s)
        if result.returncode != 0:
            raise TunnelError(f"`tailscale serve status` failed with code {result.returncode}: "
                              f"{result.output()}")
        if not result.stdout.strip():
            return {}
        try:
            return json.loads(result.stdout)
        except ValueError:
            raise TunnelError("`tailscale serve status --json` printed something that is not "
                              "JSON") from None

    def _refuse_conflicts(self, config: object, host_port: str, wanted: dict[str, str]) -> None:
        handlers = ts.serve_handlers(config)
        for path, url in wanted.items():
            other = ts.foreign_route(config, host_port, path, url)
            if other is not None:
                raise TunnelError(
                    f"Tailscale already serves {path} on {host_port} with {other}; remove it "
                    f"with `tailscale serve --https={self.https_port} --set-path={path} off` "
                    "or pick another path")
            if (host_port, path) in handlers:
                log.info("Tailscale: adopting %s on %s (left over, same target %s)",
                         path, host_port, url)
        conflict = ts.exposure_conflict(config, host_port, self.mode, wanted)
        if conflict is not None:
            ports = " (funnel allows 443, 8443 or 10000)" if self.mode == "funnel" else ""
            raise TunnelError(f"Refusing to start Tailscale {self.mode}: {conflict}; move those "
                              f"routes or use another HTTPS port{ports}")

    async def _mount(self, exe: str, path: str, url: str, node: str | None) -> None:
        argv = [exe, *ts.serve_command(self.mode, path, url, self.https_port)]
        try:
            result = await run_command(argv, timeout_s=self.timeouts.command_s)
        except TunnelError as exc:
            message, hint = ts.failure(self.mode, None, str(exc), node)
            raise TunnelError(message, hint=hint) from None
        if result.returncode != 0:
            message, hint = ts.failure(self.mode, result.returncode, result.output(), node)
            raise TunnelError(message, hint=hint)

    def _verify(self, config: object, host_port: str, wanted: dict[str, str]) -> None:
        handlers = ts.serve_handlers(config)
        for path, url in wanted.items():
            if not ts.same_target(handlers.get((host_port, path), ""), url):
                raise TunnelError(f"Tailscale {self.mode} route {path} on {host_port} is "
                                  f"missing from `tailscale serve status` (expected {url})")
        if self.mode == "funnel" and not ts.funnel_allowed(config, host_port):
            raise TunnelError(f"Tailscale funnel is not on for {host_port} after "
                              f"`tailscale funnel`. {ts.FUNNEL_NEEDS}")

    # -- running -------------------------------------------------------------------------------

    async def _watch(self, exe: str, host_port: str, wanted: dict[str, str]) -> None:
        """Re-check the routes forever; a route that vanished ends the tunnel. A status
        command that fails once is only logged (tailscaled may be restarting)."""
        while True:
            await trio.sleep(self.timeouts.recheck_s)
            try:
                config = await self._serve_config(exe)
            except TunnelError as exc:
                log.warning("Tailscale %s: could not re-check routes: %s", self.mode, exc)
                continue
            self._verify(config, host_port, wanted)

    # -- cleanup -------------------------------------------------------------------------------

    async def _remove(self, exe: str, host_port: str, owned: dict[str, str]) -> None:
        """Remove the owned paths that still point at our targets; log, never raise. Runs
        shielded; every command has its own ``timeouts.cleanup_s`` deadline."""
        if not owned:
            return
        try:
            handlers = ts.serve_handlers(
                await self._serve_config(exe, timeout_s=self.timeouts.cleanup_s))
        except Exception as exc:  # unknown state: remove every owned path
            log.warning("Tailscale %s: could not read serve status before cleanup: %s",
                        self.mode, exc)
            handlers = None
        for path, url in owned.items():
            if handlers is not None:
                now = handlers.get((host_port, path))
                if now is None:
                    continue
                if not ts.same_target(now, url):
                    log.warning("Tailscale: leaving %s on %s alone: it now serves %s",
                                path, host_port, now)
                    continue
            await self._remove_one(exe, path)

    async def _remove_one(self, exe: str, path: str) -> None:
        # `tailscale funnel ... off` checks funnel access first; `serve ... off` removes the
        # same handler without it, so it is the fallback when funnel was revoked meanwhile.
        verbs: list[ts.Mode] = [self.mode] if self.mode == "serve" else ["funnel", "serve"]
        for verb in verbs:
            argv = [exe, *ts.off_command(verb, path, self.https_port)]
            try:
                result = await run_command(argv, timeout_s=self.timeouts.cleanup_s)
            except Exception as exc:
                log.warning("Tailscale: could not remove %s: %s", path, exc)
                return
            if result.returncode == 0:
                log.info("Tailscale: removed %s", path)
                return
            log.warning("Tailscale: `tailscale %s ... off` for %s failed with code %d: %s",
                        verb, path, result.returncode, result.output())
