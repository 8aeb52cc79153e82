"""The daemon's root nursery: start order, readiness, signals, clean shutdown (DESIGN 5).

Start order: store, event bus, provider (and its media side), call manager, webhook server,
tunnel (the :class:`Exposure`), control socket; the socket appears only once the daemon can
serve, then ``READY=1`` goes to systemd. A tunnel that cannot start fails the start (exit 1,
one line saying why). SIGTERM, SIGINT or ``daemon.stop``: ``STOPPING=1``, stop accepting,
cancel every service (the tunnel removes its routes before the webhook server closes), close
the bus and the store (calls stay persisted and are restored on the next start), return
normally. SIGHUP or ``daemon.reload``: the config file is read again and what can change live
is switched in (:mod:`voicecall_cli.daemon.reload`); calls go on.
"""

from __future__ import annotations

import gc
import logging
import signal
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import trio

from voicecall_cli import __version__
from voicecall_cli.core.config.exposure import reconstructs_public_url
from voicecall_cli.daemon import sdnotify
from voicecall_cli.daemon.bus import EventBus
from voicecall_cli.daemon.calls.autoreply import open_auto_responder
from voicecall_cli.daemon.calls.manager import CallManager
from voicecall_cli.daemon.calls.service import new_call_manager, run_calls
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.calls.speech import SpeechRouter
from voicecall_cli.daemon.clock import WallClock
from voicecall_cli.daemon.control.backend import DaemonBackend
from voicecall_cli.daemon.control.server import serve_control
from voicecall_cli.daemon.doctor import DoctorContext
from voicecall_cli.daemon.endpoints import DaemonEndpoints
from voicecall_cli.daemon.hooks import HookSettings
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.daemon.media.wiring import open_media
from voicecall_cli.daemon.reload import ConfigLoader, open_reloader
from voicecall_cli.daemon.startup import StartupError, webhook_bind_error
from voicecall_cli.daemon.store import Store, StoreError
from voicecall_cli.daemon.tunnels.base import TunnelError
from voicecall_cli.daemon.tunnels.exposure import Exposure, ExposureSettings
from voicecall_cli.daemon.tunnels.factory import tunnel_factory
from voicecall_cli.daemon.web.diagnostics import WebhookDiagnostics
from voicecall_cli.daemon.web.server import WebhookServerInfo, serve_webhooks
from voicecall_cli.protocol import events as ev
from voicecall_cli.providers import registry
from voicecall_cli.providers.replay import ReplayCache

log = logging.getLogger("voicecall.daemon")
STREAM_DRAIN_S = 1.0


async def _signals(stop: trio.Event, on_reload: Callable[[], None], *,
                   task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Set ``stop`` on SIGTERM/SIGINT, call ``on_reload`` on SIGHUP; reports started once the
    handlers are installed, so no signal sent after READY=1 can hit the default (killing)
    action."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as received:
        task_status.started()
        async for signum in received:
            if signum == signal.SIGHUP:
                log.info("received SIGHUP; reading the config again")
                on_reload()
                continue
            log.info("received %s; shutting down", signal.Signals(signum).name)
            stop.set()
            return


async def _watchdog(interval_s: float) -> None:
    while True:
        sdnotify.notify("WATCHDOG=1")
        await trio.sleep(interval_s)


async def run_daemon(config: Any, socket_path: Path, *, load_config: ConfigLoader | None = None,
                     task_status: trio.TaskStatus[DaemonBackend] = trio.TASK_STATUS_IGNORED
                     ) -> None:
    """Serve until asked to stop. ``config`` is a validated ``VoiceCallConfig``;
    ``load_config`` reads and checks its file again (``daemon reload``, SIGHUP)."""
    clock = WallClock()
    spec = registry.load(config.provider)
    endpoints = DaemonEndpoints(public_url=config.get("publicUrl"),
                                reconstructs=reconstructs_public_url(config.data))
    streams = StreamRegistry(max_inbound_streams=int(config.get("streaming.maxInboundStreams")))
    with Store.open(config.store_dir) as store:
        manager: CallManager | None = None
        bus = EventBus(store, lambda: manager.snapshot() if manager else [],
                       clock_ms=clock.now_ms)
        try:
            async with spec.open(config, endpoints, streams) as provider, \
                    open_media(config, provider, streams) as media, \
                    open_auto_responder(config) as auto_responder, \
                    open_reloader(config, load_config) as reloader, \
                    trio.open_nursery() as nursery:
                speech = SpeechRouter(provider.client, provider.capabilities,
                                      streams=streams if media else None,
                                      player=media.player if media else None)
                manager = new_call_manager(CallSettings.from_config(config), store, bus,
                                           provider, clock, endpoints=endpoints, speech=speech)
                if auto_responder is not None:
                    manager.auto_responder = auto_responder
                    auto_responder.manager = manager
                reloader.bind(manager, bus, media)
                await nursery.start(partial(run_calls, manager,
                                            hooks=HookSettings.from_config(config)))
                if media is not None:
                    endpoints.stream_path = media.path
                    media.bind(manager)
                    await nursery.start(media.endpoint.run)
                diagnostics = WebhookDiagnostics()
                info = await _start_webhooks(nursery, config, provider, manager, media,
                                             diagnostics, clock)
                endpoints.local_url = info.url
                exposure = Exposure(
                    ExposureSettings.from_config(config, endpoints.stream_path), endpoints,
                    tunnel_factory(config), lambda kind, data: bus.publish(None, kind, data))
                try:
                    await nursery.start(exposure.run, config.serve_bind, info.port)
                except TunnelError as exc:
                    raise _tunnel_startup_error(exposure, exc) from None
                try:
                    manager.resume_restored_calls()
                    backend = DaemonBackend(manager, bus, config.provider, endpoints,
                                            exposure=exposure, doctor=DoctorContext(
                                                config, endpoints, exposure, diagnostics,
                                                provider.webhooks), reloader=reloader)
                    await _serve_until_stopped(nursery, backend, socket_path, info,
                                               task_status)
                finally:
                    # The tunnel goes before the webhook server it forwards to (its routes
                    # removed), also when a later start step failed.
                    with trio.CancelScope(shield=True):
                        await exposure.stop()
                nursery.cancel_scope.cancel()
        finally:
            bus.close()


async def _start_webhooks(nursery: trio.Nursery, config: Any, provider: Any,
                          manager: CallManager, media: Any, diagnostics: WebhookDiagnostics,
                          clock: WallClock) -> WebhookServerInfo:
    """The webhook server (and the media streams' websocket path) in ``nursery``."""
    try:
        return await nursery.start(partial(
            serve_webhooks, bind=config.serve_bind, port=config.serve_port,
            path=config.serve_path, codec=provider.webhooks, on_events=manager.handle_events,
            replay=ReplayCache(), clock_ms=clock.now_ms,
            skip_signature_verification=bool(config.get("skipSignatureVerification")),
            stream_path=media.path if media is not None else None,
            stream_app=media.endpoint.asgi if media is not None else None,
            diagnostics=diagnostics, batch=manager.store.batch))
    except OSError as exc:
        raise webhook_bind_error(exc, config.serve_bind, config.serve_port) from None


async def _serve_until_stopped(nursery: trio.Nursery, backend: DaemonBackend,
                               socket_path: Path, info: WebhookServerInfo,
                               task_status: trio.TaskStatus[DaemonBackend]) -> None:
    """Open the control socket, say READY, serve until ``daemon.stop`` or a signal, then
    drain the event streams."""
    bus, endpoints = backend.bus, backend.endpoints
    await nursery.start(serve_control, socket_path, backend)
    reload = backend.reloader.reload_logged if backend.reloader else None
    await nursery.start(_signals, backend.stop_requested,
                        lambda: nursery.start_soon(reload) if reload else None)
    interval = sdnotify.watchdog_interval_s()
    if interval:
        nursery.start_soon(_watchdog, interval)
    bus.publish(None, ev.DAEMON_STARTED, {"pid": backend.health()["pid"],
                                          "version": __version__,
                                          "provider": backend.provider,
                                          "webhookUrl": endpoints.webhook_url,
                                          "localUrl": info.url})
    # Start-up's objects (imports, config, apps) live as long as the daemon: keep
    # the collector from rescanning them; its 30-60 ms pauses cost media streams
    # their 20 ms pacing at ~100 streams a core (tests/bench/bench_media_streams.py).
    gc.freeze()
    sdnotify.notify(f"READY=1\nSTATUS=serving {endpoints.webhook_url}")
    log.info("voicecall daemon ready: webhooks at %s, control socket %s",
             endpoints.webhook_url, socket_path)
    task_status.started(backend)
    await backend.stop_requested.wait()
    sdnotify.notify("STOPPING=1")
    try:
        bus.publish(None, ev.DAEMON_STOPPING, {})
    except StoreError as exc:  # a full disk must not turn a clean stop into a failure
        log.error("daemon.stopping not recorded: %s", exc)
    bus.close()  # event streams deliver what they hold, then end cleanly
    with trio.move_on_after(STREAM_DRAIN_S):
        await bus.wait_readers_done()


def _tunnel_startup_error(exposure: Exposure, exc: TunnelError) -> StartupError:
    """The configured tunnel did not start: exit 1 (systemd retries: the network or tailscaled
    may come up), naming the setting."""
    settings = exposure.settings
    hint = exc.hint or {}
    link = f" (enable it: {hint['enableUrl']})" if hint.get("enableUrl") else ""
    return StartupError(f'{settings.tunnel_key} "{settings.tunnel_setting}": the tunnel did '
                        f"not start: {exc}{link}", exit_code=1)
