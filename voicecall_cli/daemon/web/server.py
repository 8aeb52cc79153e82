"""The webhook HTTP server: a lean HTTP/1.1 front, hypercorn (trio worker) behind it.

Routing, first match wins:

* the provider's static pages (any method, unauthenticated; Twilio's ``/voice/hold-music``
  hold TwiML): 200 with the page.
* exactly the configured webhook path (after normalisation): the pipeline of :mod:`.pipeline`
  (reference section 6.1). Plain HTTP/1.1 requests (every carrier's) are served by the front
  (:mod:`.http1`) without any framework: hypercorn's per-request machinery alone would cost as
  much CPU as the reference spends on a whole webhook (DESIGN section 8).
* everything else (websocket upgrades for the media streams, other paths, requests the front
  leaves alone), and the ASGI lifespan: the front hands the connection to hypercorn, which
  serves it through :class:`WebDispatcher`: the stream app, the same pipeline (:mod:`.asgi`),
  else a quart-trio app (``GET /healthz`` -> ``{"ok": true}``; other paths 404). Prefix
  look-alikes such as ``/voice/webhook-evil`` land there and get 404.

Webhook events are stored by :class:`~.commit.GroupCommit` before the webhook is answered.

Resource handling: :func:`serve_webhooks` owns the listening socket, the committer task,
hypercorn's lifespan task and every connection; nothing outlives it. Shutdown is by
cancellation: cancel the scope around it (for example the daemon's root nursery) and it closes
the listener and all connections and returns promptly without waiting for idle keep-alive
clients or a graceful period.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from quart_trio import QuartTrio

from voicecall_cli.core.config import normalize_url_path
from voicecall_cli.core.events import NormalizedEvent
from voicecall_cli.daemon.loglimit import RateLimitFilter
from voicecall_cli.daemon.web.asgi import AsgiWebhook, Receive, Scope, Send, send_response
from voicecall_cli.daemon.web.commit import GroupCommit
from voicecall_cli.daemon.web.diagnostics import PROBE_HEADER, PROBE_REPLY, WebhookDiagnostics
from voicecall_cli.daemon.web.http1 import Http1Front
from voicecall_cli.daemon.web.pipeline import WebhookPipeline
from voicecall_cli.providers.base import StaticPage, WebhookCodec
from voicecall_cli.providers.replay import ReplayCache

logger = logging.getLogger("voicecall.web")

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]



@dataclass(frozen=True)
class WebhookServerInfo:
    """Where the webhook server listens; ``url`` is the full local webhook URL."""

    url: str  # http://<bound host>:<actual port><webhook path>, IPv6 host in brackets
    port: int
    host: str  # without brackets


def create_app() -> QuartTrio:
    """The framework side of the server: everything that is not the webhook hot path."""
    app = QuartTrio("voicecall_cli.daemon.web.server")

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


class WebDispatcher:
    """ASGI entry point: static pages, the webhook pipeline, else the Quart app."""

    def __init__(self, webhook_path: str, pipeline: AsgiWebhook, app: QuartTrio, *,
                 static_pages: tuple[StaticPage, ...] = (), stream_path: str | None = None,
                 stream_app: ASGIApp | None = None,
                 diagnostics: WebhookDiagnostics | None = None) -> None:
        self._pages = {page.path: ([(b"content-type", page.content_type.encode())], page.body)
                       for page in static_pages}
        self._webhook_path = normalize_url_path(webhook_path)
        self._pipeline = pipeline
        self._app = app
        self._stream_path = stream_path if stream_app is not None else None
        self._stream_app = stream_app
        self._diagnostics = diagnostics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "websocket" and self._stream_app is not None
                and scope["path"] == self._stream_path):
            await self._stream_app(scope, receive, send)
            return
        if scope["type"] == "http":
            path = scope["path"]
            page = self._pages.get(path)
            if page is not None:
                await send_response(send, 200, *page)
                return
            if normalize_url_path(path) == self._webhook_path:
                await self._pipeline(scope, receive, send)
                return
            if path == self._stream_path and self._answers_probe(scope):
                await send_response(send, 200, [], PROBE_REPLY)
                return
        await self._app(scope, receive, send)

    def _answers_probe(self, scope: Scope) -> bool:
        """A ``doctor`` probe of the stream path (its nonce must be one doctor just made)."""
        if self._diagnostics is None:
            return False
        for name, value in scope["headers"]:
            if name.lower() == PROBE_HEADER.encode():
                return self._diagnostics.answer_probe(value.decode("latin-1"), scope["path"])
        return False


async def serve_webhooks(
    *,
    bind: str,
    port: int,
    path: str,
    codec: WebhookCodec,
    on_events: Callable[[list[NormalizedEvent]], None],
    replay: ReplayCache,
    clock_ms: Callable[[], int],
    skip_signature_verification: bool = False,
    body_timeout_s: float = 5.0,
    max_body: int = 64 * 1024,
    max_in_flight_per_ip: int = 8,
    stream_path: str | None = None,
    stream_app: ASGIApp | None = None,
    diagnostics: WebhookDiagnostics | None = None,
    batch: Callable[[], AbstractContextManager[Any]] | None = None,
    task_status: trio.TaskStatus[WebhookServerInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve webhooks for ``codec`` on ``bind:port`` until cancelled.

    Reports a :class:`WebhookServerInfo` through ``task_status`` once the socket listens (port 0
    picks a free port; the info holds the real one). With ``skip_signature_verification`` the
    header gate and ``codec.verify`` are skipped and the request key is
    ``<codec>:skip:sha256(method, url, body)``, so exact duplicates are still replays.

    With ``stream_app``, websocket upgrades whose path equals ``stream_path`` go to it (the
    media streams); other upgrades are refused as before. ``diagnostics`` (shared with
    ``doctor``) remembers rejected webhooks and answers ``doctor``'s probes.

    ``on_events`` gets each non-replayed delivery's events, synchronously, inside ``batch()``
    (the store's transaction, shared by the deliveries of one group: see
    :class:`~.commit.GroupCommit`); a delivery is answered only once that batch committed,
    503 if it did not.

    Error handling: a bind failure (address in use, bad host) raises ``OSError`` before
    readiness is reported. Per-request errors never escape: they become HTTP status codes.
    Cancellation closes everything and returns (no graceful drain).
    """
    webhook_path = normalize_url_path(path)
    commit = GroupCommit(on_events, batch)
    pipeline = WebhookPipeline(
        codec=codec, commit=commit, replay=replay, clock_ms=clock_ms,
        skip_signature_verification=skip_signature_verification, body_timeout_s=body_timeout_s,
        max_body=max_body, max_in_flight_per_ip=max_in_flight_per_ip, diagnostics=diagnostics)
    dispatcher = WebDispatcher(webhook_path, AsgiWebhook(pipeline), create_app(),
                               static_pages=codec.static_pages, stream_path=stream_path,
                               stream_app=stream_app, diagnostics=diagnostics)
    config = Config()
    config.accesslog = None
    config.errorlog = logging.getLogger("voicecall.web.server")
    config.include_server_header = False
    # Twilio's media messages are ~250 bytes; an unauthenticated socket must not get 16 MiB.
    config.websocket_max_message_size = 64 * 1024
    listener = _bound_socket(bind, port)
    # Each refused webhook is a log line and strangers choose how many arrive: any one kind of
    # line is capped (after a burst), as on the media endpoint, so a flood cannot fill the disk.
    flood_guard = RateLimitFilter()
    logger.addFilter(flood_guard)
    try:
        listener.listen(config.backlog)
        info = server_info(listener.getsockname(), listener.family, webhook_path)
        hypercorn = _Hypercorn(dispatcher, config)
        front = Http1Front(pipeline, webhook_path, hypercorn.serve_connection,
                           pages={page.path: ([(b"content-type", page.content_type.encode())],
                                              page.body) for page in codec.static_pages},
                           keep_alive_timeout_s=config.keep_alive_timeout)
        async with trio.open_nursery() as nursery:
            await nursery.start(commit.run)
            await nursery.start(hypercorn.run)
            await nursery.start(front.serve, listener)
            logger.info("webhook server for %s listening on %s", codec.name, info.url)
            task_status.started(info)
    finally:
        logger.removeFilter(flood_guard)
        listener.close()


class _Hypercorn:
    """hypercorn without its listener: the ASGI lifespan of ``app``, and a connection handler
    for the connections the front hands over (hypercorn's own per-connection server)."""

    def __init__(self, app: ASGIApp, config: Config) -> None:
        self._app = ASGIWrapper(app)
        self._config = config
        self._state: dict[str, Any] = {}
        self._context = WorkerContext(None)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Run the app's lifespan; ready once it started up; until cancelled."""
        lifespan = Lifespan(self._app, self._config, self._state)
        async with trio.open_nursery() as nursery:
            await nursery.start(lifespan.handle_lifespan)
            await lifespan.wait_for_startup()
            task_status.started()
            await trio.sleep_forever()

    async def serve_connection(self, stream: trio.abc.HalfCloseableStream) -> None:
        await TCPServer(self._app, self._config, self._context,  # type: ignore[arg-type]
                        ConnectionState(self._state.copy()), stream).run()


def _bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``: binding here makes a bind failure a plain OSError."""
    host = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def server_info(address: Any, family: int, webhook_path: str) -> WebhookServerInfo:
    """Info from a bound socket's address (``getsockname()``) and family."""
    host, port = str(address[0]), int(address[1])
    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    return WebhookServerInfo(url=f"http://{url_host}:{port}{webhook_path}", port=port,
                             host=host)
