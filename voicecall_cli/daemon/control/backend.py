"""The control socket's view of the daemon: health, the RPC methods, events, stop."""

from __future__ import annotations

import os
import time
from typing import Any

import trio

from voicecall_cli import __version__
from voicecall_cli.core.config import ConfigError
from voicecall_cli.daemon.bus import EventBus
from voicecall_cli.daemon.calls import dtmf, operations
from voicecall_cli.daemon.calls.manager import CallManager
from voicecall_cli.daemon.control.latency import latency
from voicecall_cli.daemon.doctor import DoctorContext, run_checks
from voicecall_cli.daemon.endpoints import DaemonEndpoints
from voicecall_cli.daemon.reload import Reloader
from voicecall_cli.daemon.tunnels.exposure import Exposure
from voicecall_cli.protocol import (
    PROTOCOL_VERSION,
    ApiError,
    CallsRequest,
    ContinueRequest,
    DoctorRequest,
    DtmfRequest,
    EndRequest,
    ErrorCode,
    ExposeRequest,
    InitiateRequest,
    LatencyRequest,
    ReloadRequest,
    Request,
    SpeakRequest,
    StatusRequest,
)
from voicecall_cli.protocol.views import HealthView


class DaemonBackend:
    """Answers control requests from the call manager; ``stop_requested`` ends the daemon."""

    def __init__(self, manager: CallManager, bus: EventBus, provider: str,
                 endpoints: DaemonEndpoints, *, exposure: Exposure | None = None,
                 doctor: DoctorContext | None = None, reloader: Reloader | None = None) -> None:
        self.manager = manager
        self.bus = bus
        self.provider = provider
        self.endpoints = endpoints
        self.exposure = exposure
        self.doctor = doctor
        self.reloader = reloader
        self.started = time.monotonic()
        self.stop_requested = trio.Event()

    def health(self) -> dict[str, Any]:
        return HealthView(
            ok=True,
            version=__version__,
            protocol=PROTOCOL_VERSION,
            pid=os.getpid(),
            uptimeS=round(time.monotonic() - self.started, 3),
            provider=self.provider,
            localUrl=self.endpoints.local_url,
            webhookUrl=self.endpoints.webhook_url,
            publicUrl=self.endpoints.public_url,
            streamUrl=self.endpoints.stream_url,
            exposure=(self.exposure.describe() if self.exposure
                      else {"tunnel": None, "state": "none"}),
            activeCalls=len(self.manager.calls),
        ).to_json()

    async def call_method(self, request: Request) -> dict[str, Any]:
        m = self.manager
        if isinstance(request, InitiateRequest):
            return await operations.initiate(m, request)
        if isinstance(request, ContinueRequest):
            return await operations.continue_call(m, request)
        if isinstance(request, SpeakRequest):
            return await operations.speak(m, request)
        if isinstance(request, EndRequest):
            return await operations.end(m, request)
        if isinstance(request, DtmfRequest):
            return await dtmf.send(m, request)
        if isinstance(request, StatusRequest):
            return operations.status(m, request)
        if isinstance(request, CallsRequest):
            return operations.calls(m, request)
        if isinstance(request, LatencyRequest):
            return latency(m, request)
        if isinstance(request, ExposeRequest):
            if self.exposure is None:
                raise ApiError(ErrorCode.OPERATION_FAILED, "this daemon cannot change exposure")
            return await self.exposure.expose(request.mode, request.path)
        if isinstance(request, DoctorRequest):
            if self.doctor is None:
                raise ApiError(ErrorCode.OPERATION_FAILED, "this daemon has no doctor")
            return {"checks": [check.to_json() for check in await run_checks(self.doctor)]}
        if isinstance(request, ReloadRequest):
            return await self._reload()
        raise ApiError(ErrorCode.NOT_FOUND, f"unknown method {request.METHOD}")

    async def _reload(self) -> dict[str, Any]:
        """``daemon.reload``: an invalid file is ``config_error`` with every issue (its key
        path and message) in ``details.issues``; the running config is kept."""
        if self.reloader is None:
            raise ApiError(ErrorCode.OPERATION_FAILED, "this daemon cannot reload its config")
        try:
            return await self.reloader.reload()
        except ConfigError as exc:
            raise ApiError(ErrorCode.CONFIG_ERROR,
                           f"the config was not reloaded (the running one is kept):\n{exc}",
                           {"issues": [{"path": issue.path, "message": issue.message}
                                       for issue in exc.issues]}) from None

    def subscribe(self, since: int | str | None, call_id: str | None) -> Any:
        """The event stream, of one call when ``call_id`` is given (a unique prefix will do;
        an ambiguous one raises ``bad_request``)."""
        if call_id:
            call_id = operations.resolve_call_id(self.manager, call_id)
        return self.bus.subscribe(since, call_id)

    def request_stop(self) -> None:
        self.stop_requested.set()
