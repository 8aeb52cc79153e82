"""What the carrier media benchmarks (``bench_telnyx_media.py``, ``bench_plivo_media.py``)
share: a real ``voicecall daemon run`` per N, a stand-in carrier REST API in this process,
the shared load driver (``../shared/bench/media_load.py``) with the carrier's per-call driver
plugged in, and the one-JSON-line-per-N report.

A carrier script supplies a :class:`Carrier`: its daemon config block, its REST stand-in's
request handler and its ``run_call`` (media_load's per-call driver speaking the carrier's
wire). Everything runs on loopback; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from daemon_process import spawn_daemon

REPO = Path(__file__).resolve().parents[2]
GREETING = "This is a long greeting that keeps the daemon speaking for the whole call. " * 40
FRAME_S = 0.020
KEEP = ("n", "calls_with_server_media", "p50_dev_ms", "p99_dev_ms", "max_dev_ms",
        "steady_p99_dev_ms", "drift_ms_max_abs", "underruns", "underrun_ms_total", "errors",
        "first_errors", "server_cpu_pct", "server_rss_mb_peak", "client_cpu_pct")

# (method, path, JSON body or {}) -> (status, JSON reply bytes)
RestHandler = Callable[[str, str, dict[str, Any]], Awaitable[tuple[int, bytes]]]


@dataclass
class Carrier:
    """One carrier's part of a benchmark.

    ``config(api_port)``: the daemon config lines naming the carrier (``provider`` and its
    block, pointed at the REST stand-in); ``rest``: the stand-in's handler; ``run_call(
    media_load)``: the per-call driver (``async def run_call(call, args, frames, setup,
    t_start)``, see media_load).
    """

    name: str
    config: Callable[[int], str]
    rest: RestHandler
    run_call: Callable[[Any], Any]


async def stream_call(call: Any, media_load: Any, ws: Any, receiving: Any, frames: list[str],
                      seconds: float, frame: Callable[[int, str], str],
                      last: str | None = None) -> None:
    """The caller's side of one started stream: ``media_load.receive`` reads ``receiving``
    (``ws`` or a wrapper of it) while ``frame(k, payload)`` goes out every 20 ms for
    ``seconds`` on an absolute schedule (lateness recorded), then ``last`` (the carrier's stop
    frame, if it has one) and the close. Failures are the call's results, never raised."""
    receiver = asyncio.create_task(media_load.receive(call, receiving))
    t0, count = time.monotonic(), int(seconds / FRAME_S)
    try:
        for k in range(count):
            due = t0 + k * FRAME_S
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            call.lateness.append(time.monotonic() - due)
            await ws.send(frame(k, frames[k % len(frames)]))
        call.t_stop = time.monotonic()
        if last is not None:
            await ws.send(last)
        await ws.close()
    except media_load.websockets.ConnectionClosed:
        pass
    except Exception as exc:  # a result too
        call.errors.append(f"send: {type(exc).__name__}: {exc}")
    await receiver
    for handle, _ in call.pending_marks:
        handle.cancel()


async def post_webhook(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """One POST of ``body`` to the daemon's ``url`` on its own connection, as a carrier sends
    a webhook; (status, response body)."""
    target = urlsplit(url)
    path = f"{target.path}?{target.query}" if target.query else target.path
    lines = [f"POST {path} HTTP/1.1", f"Host: {target.netloc}",
             *(f"{name}: {value}" for name, value in headers.items()),
             f"Content-Length: {len(body)}", "Connection: close"]
    reader, writer = await asyncio.open_connection(target.hostname, target.port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        raw = await reader.read()
    finally:
        writer.close()
    return int(raw[9:12]), raw.split(b"\r\n\r\n", 1)[1]


async def serve_rest(handler: RestHandler, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    """A minimal HTTP/1.1 keep-alive server for the daemon's REST requests."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                           if line.lower().startswith("content-length:")), 0)
            raw = await reader.readexactly(length) if length else b""
            body = json.loads(raw) if raw.strip().startswith(b"{") else {}
            status, reply = await handler(method, path, body)
            reason = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}.get(
                status, "Error")
            writer.write(f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                         f"content-length: {len(reply)}\r\n\r\n".encode() + reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def start_daemon(exe: str, carrier_config: str, n: int, tmp: Path) -> tuple[subprocess.Popen,
                                                                             str]:
    """A ``voicecall daemon run`` taking every inbound call (the greeting lasts the whole
    call), streaming on with scripted STT and no TTS key; returns it and its webhook URL."""
    return spawn_daemon(exe, (
        f'fromNumber = "+15550001234"\nstore = "{tmp / "store"}"\n'
        f'controlSocket = "{tmp / "ctl.sock"}"\ninboundPolicy = "open"\n'
        f'inboundGreeting = "{GREETING}"\n{carrier_config}'
        f'[streaming]\nenabled = true\nsttProvider = "scripted"\nmaxInboundStreams = {n + 5}\n'
        f'maxConnections = {n + 50}\n[serve]\nport = 0\nbind = "127.0.0.1"\n'
        'path = "/voice/webhook"\n'), tmp)


async def measure(carrier: Carrier, args: argparse.Namespace, n: int, media_load: Any) -> dict:
    server = await asyncio.start_server(
        lambda r, w: serve_rest(carrier.rest, r, w), "127.0.0.1", 0)
    api_port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory(prefix=f"vc-{carrier.name}-media-") as t:
        tmp = Path(t)
        proc, url = await asyncio.to_thread(start_daemon, args.voicecall,
                                            carrier.config(api_port), n, tmp)
        pidfile = tmp / "daemon.pid"
        pidfile.write_text(str(proc.pid))
        media_load.run_call = carrier.run_call(media_load)
        load_args = argparse.Namespace(
            url=url, n=n, d=args.d, ramp=0.05, audio="silence", settle=1.0, reanswer=False,
            setup_concurrency=2, server_pidfile=str(pidfile), aux_pidfile=None,
            label=f"voicecall-{carrier.name}-n{n}")
        try:
            result = await asyncio.wait_for(media_load.main(load_args), args.d * 4 + 120)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            server.close()
    result.pop("per_call", None)
    return result


def main(carrier_factory: Callable[[], Carrier], description: str | None) -> None:
    """Parse ``--voicecall``, ``--shared-bench``, ``-n``, ``-d``; print one JSON line per N."""
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voicecall", default=str(REPO / ".venv/bin/voicecall"))
    ap.add_argument("--shared-bench", default=str(REPO.parent / "shared" / "bench"))
    ap.add_argument("-n", type=int, nargs="+", default=[20, 50])
    ap.add_argument("-d", type=float, default=20.0, help="seconds each call streams")
    args = ap.parse_args()
    args.voicecall = str(Path(args.voicecall).resolve())  # before the chdir below
    sys.path.insert(0, args.shared_bench)
    os.chdir(args.shared_bench)
    import media_load  # the shared driver's receiving side and statistics

    for n in args.n:
        result = asyncio.run(measure(carrier_factory(), args, n, media_load))
        result["n"] = n
        print(json.dumps({k: result.get(k) for k in KEEP}), flush=True)
