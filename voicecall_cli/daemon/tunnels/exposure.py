"""The daemon's exposure: which tunnel runs, and the public URLs that follow from it.

:class:`Exposure` owns at most one running tunnel and the daemon's one
:class:`~voicecall_cli.daemon.endpoints.DaemonEndpoints` public URL. Its service,
:meth:`Exposure.run`, starts after the webhook server (it needs the bound port) and before the
control socket; it starts the configured tunnel (``tunnel.provider``, else the legacy
``tailscale.mode``; none when ``publicUrl`` is set) and fails the daemon's start when that
tunnel cannot start. Cancelling the service stops the tunnel, which removes what it added,
before the webhook server stops (the root nursery cancels in reverse start order).

:meth:`Exposure.expose` (``voicecall expose``) switches between Tailscale serve, funnel and off
at run time: the webhook, signed and stream URLs change together, in one assignment, and a
``daemon.exposed`` event says so. A tunnel that dies later leaves its URL in place (the
carrier has it) and publishes ``daemon.tunnel_down``; ``doctor`` reports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from voicecall_cli.core.config import normalize_url_path
from voicecall_cli.core.config.exposure import tunnel_setting
from voicecall_cli.daemon.endpoints import DaemonEndpoints
from voicecall_cli.daemon.tunnels.base import Route, Tunnel, TunnelError, TunnelTarget
from voicecall_cli.protocol import events as ev

log = logging.getLogger("voicecall.tunnels")

TunnelFactory = Callable[[str], Tunnel]  # kind ("ngrok", "tailscale-funnel"...) -> tunnel
Publish = Callable[[str, dict[str, Any]], None]  # (event type, data)
EXPOSE_MODES = ("funnel", "serve", "off")
_WILDCARD_BINDS = ("", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True, slots=True)
class ExposureSettings:
    """What :class:`Exposure` needs of the configuration.

    ``tunnel_kind``: the tunnel to start with the daemon (None: none). ``webhook_public_path``:
    where that tunnel mounts the webhook (``tailscale.path`` for the legacy block, else
    ``serve.path``). ``configured_public_url``: ``publicUrl``, which ``expose off`` returns to.
    ``tunnel_key`` and ``tunnel_setting`` name the setting that chose the tunnel, for errors.
    """

    webhook_path: str
    stream_path: str | None
    tunnel_kind: str | None
    webhook_public_path: str
    configured_public_url: str | None
    tunnel_key: str = "tunnel.provider"
    tunnel_setting: str = "none"

    @classmethod
    def from_config(cls, config: Any, stream_path: str | None) -> ExposureSettings:
        chosen = tunnel_setting(config.data)  # the rule `config validate` applies
        kind, public_path, key, setting = None, config.serve_path, "tunnel.provider", "none"
        if chosen is not None:
            key, setting = chosen
            kind = f"tailscale-{setting}" if key == "tailscale.mode" else setting
            if key == "tailscale.mode":
                public_path = _public_path(config.get("tailscale.path")) or public_path
        return cls(webhook_path=config.serve_path, stream_path=stream_path, tunnel_kind=kind,
                   webhook_public_path=public_path,
                   configured_public_url=config.get("publicUrl") or None, tunnel_key=key,
                   tunnel_setting=setting)

@dataclass(slots=True)
class _Running:
    """One tunnel's run in the exposure's nursery; ``scope`` stops it, ``done`` says it has."""

    tunnel: Tunnel
    public_path: str
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    base_url: str | None = None
    error: str | None = None


class _StartedFlag:
    """A ``task_status`` that remembers whether ``started`` was called."""

    def __init__(self, inner: trio.TaskStatus[str]) -> None:
        self.inner = inner
        self.started_already = False

    def started(self, value: str) -> None:
        self.started_already = True
        self.inner.started(value)


class Exposure:
    """Owns the running tunnel and the public URL in ``endpoints`` (see the module doc)."""

    def __init__(self, settings: ExposureSettings, endpoints: DaemonEndpoints,
                 make_tunnel: TunnelFactory, publish: Publish) -> None:
        self.settings = settings
        self.endpoints = endpoints
        self._make_tunnel = make_tunnel
        self._publish = publish
        self._nursery: trio.Nursery | None = None
        self._running: _Running | None = None
        self._lock = trio.Lock()
        self._target_host = "127.0.0.1"
        self._port: int | None = None

    # ---------------------------------------------------------------- service

    async def run(self, bind: str, port: int, *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The service: start the configured tunnel for the webhook server on ``bind:port``,
        report started, then hold the tunnel until cancelled. Raises :class:`TunnelError`
        (before ``started``) when the configured tunnel cannot start."""
        self._target_host = "127.0.0.1" if bind in _WILDCARD_BINDS or bind == "localhost" \
            else bind.strip("[]")
        self._port = port
        failure: TunnelError | None = None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                kind = self.settings.tunnel_kind
                if kind is not None:
                    await self._start(kind, self.settings.webhook_public_path)
                    self._announce(_mode_of(kind))
                task_status.started()
                await trio.sleep_forever()
            except TunnelError as exc:  # raised here, not from inside the nursery's group
                failure = exc
                nursery.cancel_scope.cancel()
            finally:
                self._nursery = None
                if self._running is not None:
                    self._running.scope.cancel()
        if failure is not None:
            raise failure

    # ---------------------------------------------------------------- expose

    async def expose(self, mode: str, path: str | None) -> dict[str, Any]:
        """Switch to Tailscale ``serve`` or ``funnel`` (the webhook mounted at ``path``), or
        ``off``. Returns the ``voicecall.expose`` answer: ``{ok, mode, path, localUrl,
        publicUrl, streamUrl}`` plus ``error`` and ``hint`` when the switch failed (then the
        previous exposure is kept, or restored)."""
        if mode not in EXPOSE_MODES:
            raise ValueError(f"mode must be one of {', '.join(EXPOSE_MODES)}")
        async with self._lock:
            current = self._running
            public_path = _public_path(path) or (
                current.public_path if current is not None and
                current.tunnel.kind.startswith("tailscale") else self.settings.webhook_path)
            if mode == "off":
                await self._stop_current()
                self.endpoints.public_url = self.settings.configured_public_url
                self._announce("off")
                return self._answer(True, "off", public_path)
            kind = f"tailscale-{mode}"
            # Tailscale serve and funnel share one configuration: the old routes go first, or
            # removing them would remove the new ones. Anything else goes after the new one is up.
            old_shares_config = current is not None and current.tunnel.kind.startswith("tailscale")
            if old_shares_config:
                await self._stop_current()
            try:
                await self._start(kind, public_path, replaced=current)
            except TunnelError as exc:
                if old_shares_config and current is not None:
                    await self._restore(current)
                return self._answer(False, mode, public_path, error=str(exc), hint=exc.hint)
            self._announce(mode)
            return self._answer(True, mode, public_path)

    async def stop(self) -> None:
        """Stop the running tunnel (its routes removed) and wait until it has; the daemon calls
        this before it closes the webhook server. Safe to call more than once."""
        async with self._lock:
            await self._stop_current()

    def describe(self) -> dict[str, Any]:
        """The exposure for health and ``doctor``: ``{tunnel, via, state, publicBase, routes,
        tailnetOnly, error}`` (``tunnel`` None when none runs)."""
        running = self._running
        if running is None:
            return {"tunnel": None, "state": "none"}
        status = running.tunnel.status()
        return {
            "tunnel": running.tunnel.kind,
            "via": status.via,
            "state": "down" if running.error else "up",
            "publicBase": running.base_url,
            "routes": [{"publicPath": r.public_path, "localPath": r.local_path}
                       for r in status.routes],
            "tailnetOnly": status.public_only_to_tailnet,
            "error": running.error,
        }

    # ---------------------------------------------------------------- internals

    def _target(self, public_path: str) -> TunnelTarget:
        assert self._port is not None, "the exposure service is not running"
        routes = [Route(public_path, self.settings.webhook_path)]
        stream = self.settings.stream_path
        if stream is not None:
            routes.append(Route(stream, stream))
        return TunnelTarget(self._target_host, self._port, tuple(routes))

    async def _start(self, kind: str, public_path: str, replaced: _Running | None = None
                     ) -> None:
        """Start a ``kind`` tunnel; once it is up, point the endpoints at it and stop
        ``replaced`` (unless that was stopped before). Raises :class:`TunnelError`."""
        if self._nursery is None:
            raise TunnelError("the daemon is shutting down")
        running = _Running(self._make_tunnel(kind), public_path)
        running.base_url = await self._nursery.start(self._serve, running,
                                                     self._target(public_path))
        self.endpoints.public_url = running.base_url + public_path
        self._running = running
        if replaced is not None and not replaced.done.is_set():
            replaced.scope.cancel()
            await replaced.done.wait()

    async def _restore(self, previous: _Running) -> None:
        try:
            await self._start(previous.tunnel.kind, previous.public_path)
        except TunnelError as exc:
            log.warning("could not restore the %s tunnel: %s", previous.tunnel.kind, exc)
            self.endpoints.public_url = self.settings.configured_public_url
            self._announce("off")

    async def _serve(self, running: _Running, target: TunnelTarget, *,
                     task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        flag = _StartedFlag(task_status)
        try:
            with running.scope:
                await running.tunnel.serve(target, task_status=flag)
        except TunnelError as exc:
            if not flag.started_already:
                raise
            running.error = str(exc)
            log.error("the %s tunnel is down: %s", running.tunnel.kind, exc)
            self._publish(ev.DAEMON_TUNNEL_DOWN, {"tunnel": running.tunnel.kind,
                                                  "error": str(exc)})
        finally:
            running.done.set()

    async def _stop_current(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.scope.cancel()
            await running.done.wait()

    def _announce(self, mode: str) -> None:
        running = self._running
        self._publish(ev.DAEMON_EXPOSED, {
            "mode": mode,
            "tunnel": running.tunnel.kind if running else None,
            "localUrl": self.endpoints.local_url,
            "publicUrl": self.endpoints.public_url,
            "webhookUrl": self.endpoints.webhook_url,
            "streamUrl": self.endpoints.stream_url,
        })

    def _answer(self, ok: bool, mode: str, path: str, *, error: str | None = None,
                hint: dict[str, Any] | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "ok": ok, "mode": mode, "path": path,
            "localUrl": self.endpoints.local_url,
            "publicUrl": self.endpoints.public_url,
            "streamUrl": self.endpoints.stream_url,
        }
        if error is not None:
            answer["error"] = error
        if hint:
            answer["hint"] = hint
        return answer


def _mode_of(kind: str) -> str:
    return kind.removeprefix("tailscale-")



def _public_path(path: str | None) -> str | None:
    """``path`` as served (:func:`normalize_url_path`), or None when it is unset or blank."""
    return normalize_url_path(path) if path and path.strip() else None
