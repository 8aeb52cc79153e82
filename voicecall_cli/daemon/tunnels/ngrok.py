"""The ngrok tunnel, run two ways: through the ngrok Python SDK, or the ngrok agent executable.

Both are :class:`~voicecall_cli.daemon.tunnels.base.Tunnel` objects of kind ``"ngrok"``;
:func:`open_ngrok_tunnel` picks one. ngrok forwards the whole port, so every route of the
target is reachable at the same path; a route mounted at another public path cannot be
expressed and is refused before anything starts.

* :class:`NgrokSdkTunnel` (``via="ngrok-sdk"``) calls the ``ngrok`` module (PyPI ``ngrok``):
  ``forward("host:port", authtoken=..., domain=...)`` in a worker thread (without an asyncio
  loop, the SDK's calls block), then ``disconnect(url)`` on the way out. It owns the one
  listener it opened and closes it itself, even when its start is abandoned.
* :class:`NgrokAgentTunnel` (``via="ngrok-agent"``) runs ``ngrok http <port> --log stdout
  --log-format json [--domain <d>]`` and reads its JSON log
  (:mod:`voicecall_cli.core.tunnels.ngrok`). The token goes to the agent in its environment
  (``NGROK_AUTHTOKEN``), never on its command line nor into the user's ngrok config file. It
  owns the process and both pipes: it drains them while the agent runs and, when it stops for
  any reason, sends SIGTERM, waits up to 2 s, then kills, so no agent outlives it.

Every error message goes through :func:`~voicecall_cli.core.tunnels.ngrok.mask`, which hides
the auth token (ngrok quotes a malformed token back in ``ERR_NGROK_105``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import trio

from voicecall_cli.core.tunnels.ngrok import (
    STARTUP_TIMEOUT_S,
    AgentRefused,
    TunnelStarted,
    agent_args,
    error_message,
    exit_message,
    mask,
    parse_log_line,
    public_base,
    spawn_failed_message,
    stderr_refusal,
    timeout_message,
)
from voicecall_cli.daemon.tunnels.base import Route, Tunnel, TunnelError, TunnelStatus, TunnelTarget
from voicecall_cli.daemon.tunnels.commands import find_executable

log = logging.getLogger("voicecall.tunnels.ngrok")

INSTALL_HINT = "install the ngrok agent from https://ngrok.com/download"
NO_TOKEN_MESSAGE = "ngrok needs an auth token: set tunnel.ngrokAuthToken or NGROK_AUTHTOKEN"
NOT_AVAILABLE_MESSAGE = (
    "ngrok is not available: install the SDK with `pip install 'voicecall[ngrok]'` or put "
    "the ngrok agent on PATH (https://ngrok.com/download)")
STOP_GRACE_S = 2.0  # SIGTERM, then this long before SIGKILL
REAP_TIMEOUT_S = 5.0  # waiting for a killed agent to be reaped
SDK_CLOSE_TIMEOUT_S = 5.0  # sdk.disconnect in its worker thread
EXIT_DRAIN_S = 1.0  # after the agent exits, how long its last lines may take to arrive
CHUNK = 65536
LINE_LIMIT = 65536  # a longer line is cut (it is not a line that matters)
STDERR_TAIL = 40  # stderr lines kept for the error message


def _check_routes(routes: Sequence[Route]) -> None:
    for route in routes:
        if route.public_path != route.local_path:
            raise TunnelError(
                f"ngrok serves paths as they are: it cannot serve {route.local_path} at "
                f"{route.public_path} (use serve.path to choose the webhook path)")


def _host_port(target: TunnelTarget) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{host}:{target.port}"


# ------------------------------------------------------------------------------ the SDK


class _ForwardCall:
    """One ``sdk.forward`` in a worker thread. When the trio side gives up first (timeout or
    cancellation: the thread is abandoned), exactly one side disconnects the listener the
    call still produces: the thread if it finishes later, else the trio side."""

    def __init__(self, sdk: Any, addr: str, options: dict[str, str]) -> None:
        self._sdk, self._addr, self._options = sdk, addr, options
        self._lock = threading.Lock()
        self._abandoned = False
        self._url: str | None = None

    def run(self) -> str:
        """(worker thread) Forward; returns the listener's URL."""
        listener = self._sdk.forward(self._addr, **self._options)
        url = str(listener.url())
        with self._lock:
            self._url = url
            abandoned = self._abandoned
        if abandoned:
            _disconnect_quietly(self._sdk, url)
        return url

    def abandon(self) -> str | None:
        """(trio side) Give up; returns a URL the thread finished with before it could see
        that, which the caller now owns and must disconnect."""
        with self._lock:
            self._abandoned = True
            return self._url


def _disconnect_quietly(sdk: Any, url: str) -> None:
    try:
        sdk.disconnect(url)
    except Exception as exc:  # closing is best effort; the daemon is stopping this tunnel
        log.warning("ngrok: could not disconnect %s: %s", url, type(exc).__name__)


class NgrokSdkTunnel:
    """ngrok through the Python SDK (the network edge is ``sdk``, the ``ngrok`` module by
    default). The token is ``auth_token``, else ``NGROK_AUTHTOKEN``; ``domain`` asks for a
    reserved domain. Owns one listener per run, closed when :meth:`serve` ends."""

    kind = "ngrok"
    via = "ngrok-sdk"

    def __init__(self, auth_token: str | None, domain: str | None, *, sdk: Any = None,
                 startup_timeout_s: float = STARTUP_TIMEOUT_S,
                 close_timeout_s: float = SDK_CLOSE_TIMEOUT_S) -> None:
        self._auth_token = auth_token or None
        self._domain = domain or None
        self._sdk = sdk
        self._startup_timeout_s = startup_timeout_s
        self._close_timeout_s = close_timeout_s
        self._public_base: str | None = None
        self._routes: list[Route] = []

    async def serve(self, target: TunnelTarget, *,
                    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Forward ``target``'s port; ``started(https base)``; wait until cancelled, then
        disconnect (shielded, bounded). Raises :class:`TunnelError` when the SDK refuses."""
        _check_routes(target.routes)
        token = self._auth_token or os.environ.get("NGROK_AUTHTOKEN") or None
        if token is None:
            raise TunnelError(NO_TOKEN_MESSAGE)
        sdk = self._sdk if self._sdk is not None else _import_sdk()
        if sdk is None:
            raise TunnelError(NOT_AVAILABLE_MESSAGE)
        options = {"authtoken": token}
        if self._domain:
            options["domain"] = self._domain
        call = _ForwardCall(sdk, _host_port(target), options)
        try:
            with trio.fail_after(self._startup_timeout_s):
                url = await trio.to_thread.run_sync(call.run, abandon_on_cancel=True)
        except BaseException as exc:
            if isinstance(exc, (trio.Cancelled, trio.TooSlowError)):
                leftover = call.abandon()
                if leftover is not None:
                    await self._disconnect(sdk, leftover)
            if isinstance(exc, trio.TooSlowError):
                raise TunnelError(timeout_message(self._startup_timeout_s)) from None
            if isinstance(exc, Exception):
                text = str(exc) or type(exc).__name__
                raise TunnelError(mask(error_message(text), [token])) from None
            raise
        try:
            base = public_base(url)
            if base is None:
                raise TunnelError(mask(f"ngrok error: unexpected tunnel URL {url!r}", [token]))
            self._public_base, self._routes = base, list(target.routes)
            log.info("ngrok (SDK): %s forwards to %s", base, _host_port(target))
            task_status.started(base)
            await trio.sleep_forever()
        finally:
            self._public_base, self._routes = None, []
            await self._disconnect(sdk, url)

    async def _disconnect(self, sdk: Any, url: str) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(self._close_timeout_s):
            await trio.to_thread.run_sync(_disconnect_quietly, sdk, url,
                                          abandon_on_cancel=True)

    def status(self) -> TunnelStatus:
        return TunnelStatus(kind=self.kind, via=self.via, public_base=self._public_base,
                            routes=list(self._routes))


# ---------------------------------------------------------------------------- the agent


async def _read_lines(stream: trio.abc.ReceiveStream, on_line: Callable[[str], None]) -> None:
    """Call ``on_line`` with each line of ``stream`` until it ends (or breaks)."""
    buffer, skipping = b"", False
    while True:
        try:
            chunk = await stream.receive_some(CHUNK)
        except (trio.ClosedResourceError, trio.BrokenResourceError, OSError):
            chunk = b""
        if not chunk:
            if buffer and not skipping:
                on_line(buffer.decode("utf-8", "replace").rstrip("\r"))
            return
        *lines, buffer = (buffer + chunk).split(b"\n")
        for raw in lines:
            if not skipping:
                on_line(raw.decode("utf-8", "replace").rstrip("\r"))
            skipping = False
        if len(buffer) > LINE_LIMIT:
            if not skipping:
                on_line(buffer[:LINE_LIMIT].decode("utf-8", "replace"))
            buffer, skipping = b"", True


class _AgentRun:
    """What one agent process has said: its URL, or why it failed (first answer wins), and
    whether it has exited. Fed by the reader tasks; read by :meth:`NgrokAgentTunnel.serve`."""

    def __init__(self, proc: trio.Process, secrets: list[str]) -> None:
        self.proc = proc
        self.secrets = secrets
        self.url: str | None = None
        self.failure: str | None = None
        self.decided = trio.Event()  # URL or failure
        self.exited = trio.Event()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._stdout_done = trio.Event()
        self._stderr_done = trio.Event()

    def _decide(self, *, url: str | None = None, failure: str | None = None) -> None:
        if self.url is None and self.failure is None:
            self.url, self.failure = url, failure
            self.decided.set()

    def on_stdout(self, line: str) -> None:
        result = parse_log_line(line)
        if isinstance(result, TunnelStarted):
            self._decide(url=result.base_url)
        elif isinstance(result, AgentRefused):
            if self.url is not None:
                log.warning("ngrok: %s", mask(result.message, self.secrets))
            self._decide(failure=result.message)
        log.debug("ngrok: %s", mask(line, self.secrets))

    def on_stderr(self, line: str) -> None:
        self.stderr_tail.append(line)
        if self.url is None and (refusal := stderr_refusal(self.stderr_tail)) is not None:
            self._decide(failure=refusal.message)
        log.debug("ngrok stderr: %s", mask(line, self.secrets))

    async def read_stdout(self) -> None:
        assert self.proc.stdout is not None
        await _read_lines(self.proc.stdout, self.on_stdout)
        self._stdout_done.set()

    async def read_stderr(self) -> None:
        assert self.proc.stderr is not None
        await _read_lines(self.proc.stderr, self.on_stderr)
        self._stderr_done.set()

    async def watch_exit(self) -> None:
        code = await self.proc.wait()
        with trio.move_on_after(EXIT_DRAIN_S):  # its last words explain the exit
            await self._stdout_done.wait()
            await self._stderr_done.wait()
        message = exit_message(code, self.stderr_tail)
        if self.url is not None and self.failure is None:
            self.failure = message  # died after it started
        self._decide(failure=message)
        self.exited.set()


async def _stop_process(proc: trio.Process, grace_s: float) -> None:
    """SIGTERM, up to ``grace_s`` for it to exit, then SIGKILL (``grace_s`` 0: kill at once);
    then close its pipes. Call shielded: it is bounded by itself."""
    if proc.returncode is None and grace_s > 0:
        with contextlib.suppress(OSError):
            proc.terminate()
        with trio.move_on_after(grace_s):
            await proc.wait()
    if proc.returncode is None:
        with contextlib.suppress(OSError):
            proc.kill()
        with trio.move_on_after(REAP_TIMEOUT_S):
            await proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(trio.ClosedResourceError, OSError):
                await stream.aclose()


class NgrokAgentTunnel:
    """ngrok through the agent executable on PATH (see the module doc). ``auth_token``, when
    set, reaches the agent as ``NGROK_AUTHTOKEN`` (else the agent uses its own environment
    and config file). Owns one agent process per run, stopped when :meth:`serve` ends."""

    kind = "ngrok"
    via = "ngrok-agent"

    def __init__(self, auth_token: str | None, domain: str | None, *,
                 startup_timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        self._auth_token = auth_token or None
        self._domain = domain or None
        self._startup_timeout_s = startup_timeout_s
        self._public_base: str | None = None
        self._routes: list[Route] = []
        self.pid: int | None = None  # the running agent's, for diagnostics

    async def serve(self, target: TunnelTarget, *,
                    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the agent for ``target``'s port; ``started(https base)`` once its log names
        the tunnel; then drain its output until it exits (:class:`TunnelError`) or the task is
        cancelled. Whatever ends it, the agent is stopped (shielded, bounded)."""
        _check_routes(target.routes)
        executable = find_executable("ngrok", INSTALL_HINT)
        argv = [executable, *agent_args(target.port, self._domain, host=target.host)]
        env = {**os.environ, "NGROK_AUTHTOKEN": self._auth_token} if self._auth_token else None
        secrets = [self._auth_token or "", os.environ.get("NGROK_AUTHTOKEN", "")]
        try:
            proc = await trio.lowlevel.open_process(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env)
        except OSError as exc:
            raise TunnelError(mask(spawn_failed_message(exc.strerror or str(exc)),
                                   secrets)) from None
        self.pid = proc.pid
        run = _AgentRun(proc, secrets)
        grace_s = STOP_GRACE_S
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run.read_stdout)
                nursery.start_soon(run.read_stderr)
                nursery.start_soon(run.watch_exit)
                with trio.move_on_after(self._startup_timeout_s):
                    await run.decided.wait()
                if run.failure is None and run.url is None:
                    run.failure, grace_s = timeout_message(self._startup_timeout_s), 0.0
                elif run.failure is None and run.url is not None:
                    self._public_base, self._routes = run.url, list(target.routes)
                    log.info("ngrok (agent pid %d): %s forwards to %s", proc.pid, run.url,
                             argv[2])
                    task_status.started(run.url)
                    await run.exited.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._public_base, self._routes = None, []
            with trio.CancelScope(shield=True):
                await _stop_process(proc, grace_s)
            self.pid = None
        raise TunnelError(mask(run.failure or "ngrok stopped", secrets))

    def status(self) -> TunnelStatus:
        return TunnelStatus(kind=self.kind, via=self.via, public_base=self._public_base,
                            routes=list(self._routes))


# ---------------------------------------------------------------------------- selection


def _import_sdk() -> Any:
    """The ngrok SDK module, or None when it cannot be imported (or is not the SDK)."""
    try:
        module = importlib.import_module("ngrok")
    except Exception:  # not installed, or its native part does not load on this platform
        return None
    forward = getattr(module, "forward", None)
    return module if callable(forward) and callable(getattr(module, "disconnect", None)) \
        else None


def open_ngrok_tunnel(auth_token: str | None, domain: str | None) -> Tunnel:
    """The SDK tunnel when ``import ngrok`` works, else the agent tunnel when ``ngrok`` is on
    PATH, else :class:`TunnelError` saying how to get either. One exception: with no token
    at all (neither ``auth_token`` nor ``NGROK_AUTHTOKEN``) and the agent on PATH, the agent
    is used, since it may hold a token in its own config file."""
    sdk = _import_sdk()
    on_path = shutil.which("ngrok") is not None
    has_token = bool(auth_token or os.environ.get("NGROK_AUTHTOKEN"))
    if sdk is not None and (has_token or not on_path):
        return NgrokSdkTunnel(auth_token, domain, sdk=sdk)
    if on_path:
        return NgrokAgentTunnel(auth_token, domain)
    raise TunnelError(NOT_AVAILABLE_MESSAGE)
