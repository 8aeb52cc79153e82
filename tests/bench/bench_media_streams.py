"""Benchmark: concurrent full-duplex Twilio media streams on one server process.

For each N (default 25, 50, 75, 100, 150, 200) it starts a fresh server process pinned to CPU 0
(MediaStreams behind serve_webhooks on hypercorn, 127.0.0.1 port 0) and a client process
pinned to CPU 1 that opens N simulated Twilio streams. Each stream sends 50 media frames/s to
the server (``send_audio`` of a tone) while the server plays a long tone into it (``play``:
paced chunks of up to 100 ms back). After a warm-up the chunks of a steady window are played
out as a carrier would (each chunk's audio after the one before, 8000 bytes a second):

* client side: gaps (a chunk that arrived after the audio before it had finished playing: what
  the caller hears as silence; count, total and longest) and the margin (the least audio still
  queued when a chunk arrived: how much later the server could have been) -- what Twilio sees;
* server side: the same figures for the moment each chunk was handed to the socket (the ASGI
  ``send`` returned), which leaves out the client's own scheduling delay;
* server CPU % (from /proc over the window) and CPU per stream-second, RSS growth per stream
  and the collector's pauses over 5 ms; client CPU % too, so a saturated load driver is visible.

It stops after the first N with a server-side gap (the client-side figure also holds the load
driver's own delays: watch its CPU %). Loopback only; every
run is bounded (``--seconds`` per N, default 10, plus set-up). Prints one JSON document.

    .venv/bin/python tests/bench/bench_media_streams.py [--counts 25,50,100] [--seconds 10] \
        [--gc-freeze]

Not a pass/fail test; figures move with the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import trio

WARMUP_S = 2.0


def call_sid(i: int) -> str:
    return f"CA{i:032x}"


def pooled(streams: list[list[tuple[float, int]]], window: tuple[float, float]
           ) -> dict[str, float]:
    """The carrier's playout of the chunks inside ``window`` (absolute trio times), all streams:
    each stream is a list of (arrival, payload bytes)."""
    gaps: list[float] = []
    margins: list[float] = []
    frames = messages = 0
    for chunks in streams:
        end = None
        for at, size in chunks:
            if not window[0] <= at <= window[1]:
                continue
            if end is not None:
                margins.append(end - at)
                if at > end + 1e-6:
                    gaps.append((at - end) * 1000)
            end = max(at, end if end is not None else at) + size / 8000
            frames += size // 160
            messages += 1
    if not messages:
        return {"frames": 0}
    return {"frames": frames, "messages": messages, "gaps": len(gaps),
            "gap_ms_total": round(sum(gaps), 1), "gap_max_ms": round(max(gaps, default=0), 1),
            "margin_min_ms": round(min(margins, default=0) * 1000, 1),
            "margin_p1_ms": round(float(np.percentile(margins, 1)) * 1000, 1) if margins
            else None}


# -- the server process ---------------------------------------------------------------------------


async def serve(count: int, seconds: float, freeze_gc: bool) -> None:
    from voicecall_cli.daemon.media.endpoint import MediaStreams
    from voicecall_cli.daemon.media.registry import StreamRegistry
    from voicecall_cli.daemon.web.server import serve_webhooks
    from voicecall_cli.providers.audio import tone_source
    from voicecall_cli.providers.mock.webhooks import MockWebhookCodec
    from voicecall_cli.providers.replay import ReplayCache
    from voicecall_cli.providers.twilio.media import TwilioMediaCodec

    gc_pauses = watch_gc()
    registry = StreamRegistry()
    tokens = {call_sid(i): registry.token(call_sid(i)) for i in range(count)}
    sent: list[list[tuple[float, int]]] = []
    inbound = [0]

    async def play(sid: str) -> None:
        await streams.play(sid, tone_source(440, seconds + 30))

    async def timed_asgi(scope, receive, send):
        times: list[tuple[float, int]] = []
        sent.append(times)

        async def timed_send(message):
            await send(message)
            text = message.get("text") or ""
            if message["type"] == "websocket.send" and text.startswith('{"event":"media"'):
                b64 = len(text) - text.index('"payload":"') - len('"payload":"') - 3
                times.append((trio.current_time(), b64 * 3 // 4 - text.count("=")))

        await streams.asgi(scope, receive, timed_send)

    async with trio.open_nursery() as nursery:
        streams = MediaStreams(
            registry=registry, codec=TwilioMediaCodec(), max_connections=count + 16,
            max_pending=count + 16,
            max_pending_per_ip=count + 16, pre_start_timeout_s=30,
            on_start=lambda sid, _stream: nursery.start_soon(_quiet, play(sid)),
            on_stop=lambda *_: None,
            on_audio=lambda _sid, payload: inbound.__setitem__(0, inbound[0] + 1))
        await nursery.start(streams.run)
        if freeze_gc:
            gc.freeze()  # start-up objects leave the collector's scans (shorter gen-2 pauses)
        info = await nursery.start(partial(
            serve_webhooks, bind="127.0.0.1", port=0, path="/voice/webhook",
            codec=MockWebhookCodec(), on_events=lambda _e: None, replay=ReplayCache(),
            clock_ms=lambda: 0, stream_path="/voice/stream", stream_app=timed_asgi))
        print(json.dumps({"port": info.port, "tokens": tokens, "now": trio.current_time()}),
              flush=True)
        window = json.loads(await trio.to_thread.run_sync(sys.stdin.readline))
        result = pooled(sent, (window["window"][0], window["window"][1]))
        result["inbound_frames"] = inbound[0]
        result["gc_pauses_over_5ms"] = [round(p, 1) for p in gc_pauses if p > 5]
        print(json.dumps(result), flush=True)
        nursery.cancel_scope.cancel()


def watch_gc() -> list[float]:
    """Pause lengths (ms) of the cyclic garbage collector from now on."""
    pauses: list[float] = []
    began = [0.0]

    def callback(phase: str, _info: dict) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append((time.perf_counter() - began[0]) * 1000)

    gc.callbacks.append(callback)
    return pauses


async def _quiet(awaitable) -> None:
    with contextlib.suppress(Exception):
        await awaitable


# -- the client process ---------------------------------------------------------------------------


async def clients(port: int, tokens: dict[str, str], seconds: float) -> None:
    from voicecall_cli.simulator.twilio.media import Tone, open_twilio_media_stream

    url = f"ws://127.0.0.1:{port}/voice/stream"
    arrivals: list[list[tuple[float, int]]] = []
    failures: list[str] = []

    async def one(sid: str, token: str) -> None:
        try:
            async with open_twilio_media_stream(url, call_sid=sid, token=token) as stream:
                with trio.move_on_at(began + seconds):
                    await stream.send_audio(Tone(300, seconds + 5))
                arrivals.append([(m.at, len(m.payload)) for m in stream.media])
        except Exception as exc:  # reported, not fatal to the other streams
            failures.append(repr(exc))

    began = trio.current_time()
    cpu_before = os.times()
    async with trio.open_nursery() as nursery:
        for sid, token in tokens.items():
            nursery.start_soon(one, sid, token)
            await trio.sleep(0.005)  # a realistic ramp, not a thundering herd
    cpu_after = os.times()
    window = (began + WARMUP_S + 1.0, began + seconds - 0.5)
    result = pooled(arrivals, window)
    wall = trio.current_time() - began
    result["client_cpu_percent"] = round(100 * ((cpu_after.user + cpu_after.system)
                                                - (cpu_before.user + cpu_before.system)) / wall, 1)
    result["failures"] = failures[:5]
    result["streams_connected"] = len(arrivals)
    print(json.dumps(result), flush=True)


# -- the driver -----------------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run_one(count: int, seconds: float, freeze_gc: bool) -> dict:
    script = [sys.executable, __file__]
    server = subprocess.Popen([*script, "--role", "server", "--count", str(count),
                               "--seconds", str(seconds), *(["--gc-freeze"] * freeze_gc)],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        hello = json.loads(server.stdout.readline())
        time.sleep(0.5)
        rss_idle = proc_rss_kb(server.pid)
        client = subprocess.Popen([*script, "--role", "clients", "--port", str(hello["port"]),
                                   "--seconds", str(seconds)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        client.stdin.write(json.dumps(hello["tokens"]) + "\n")
        client.stdin.flush()
        time.sleep(WARMUP_S + 1.0)
        cpu0, t0 = proc_cpu_s(server.pid), time.monotonic()
        time.sleep(max(1.0, seconds - WARMUP_S - 2.0))
        cpu1, t1 = proc_cpu_s(server.pid), time.monotonic()
        rss_busy = proc_rss_kb(server.pid)
        client_out, _ = client.communicate(timeout=seconds + 60)
        client_result = json.loads(client_out.strip().splitlines()[-1])
        # the server's own clock is trio's; measure its window from its start report
        now = hello["now"]
        window = [now + WARMUP_S + 2.5, now + seconds]  # ~ the clients' steady window
        server.stdin.write(json.dumps({"window": window}) + "\n")
        server.stdin.flush()
        server_result = json.loads(server.stdout.readline())
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    return {
        "streams": count,
        "client_observed": {k: v for k, v in client_result.items()
                            if k not in ("client_cpu_percent", "failures")},
        "server_send": server_result,
        "server_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
        "server_cpu_ms_per_stream_s": round(1000 * (cpu1 - cpu0) / (t1 - t0) / count, 2),
        "server_rss_idle_mb": round(rss_idle / 1024, 1),
        "server_rss_busy_mb": round(rss_busy / 1024, 1),
        "rss_per_stream_kb": round((rss_busy - rss_idle) / count, 1),
        "client_cpu_percent": client_result["client_cpu_percent"],
        "client_failures": client_result["failures"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["driver", "server", "clients"], default="driver")
    parser.add_argument("--counts", default="25,50,75,100,150,200")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() in the server after start-up")
    args = parser.parse_args()
    if args.role == "server":
        os.sched_setaffinity(0, {0})
        trio.run(serve, args.count, args.seconds, args.gc_freeze)
        return
    if args.role == "clients":
        os.sched_setaffinity(0, {1 % os.cpu_count()})
        gc.disable()  # the load driver's collector pauses would show up as server jitter
        tokens = json.loads(sys.stdin.readline())
        trio.run(clients, args.port, tokens, args.seconds)
        return
    results = []
    for count in (int(c) for c in args.counts.split(",")):
        result = run_one(count, args.seconds, args.gc_freeze)
        results.append(result)
        print(json.dumps(result), file=sys.stderr, flush=True)
        if result["server_send"].get("gaps", 0):
            break
    print(json.dumps({"benchmark": "media_streams", "cpus": os.cpu_count(),
                      "seconds_per_run": args.seconds,
                      "gc_freeze": args.gc_freeze,
                      "server_cpu": 0, "client_cpu": 1 % os.cpu_count(),
                      "runs": results}, indent=2))


if __name__ == "__main__":
    main()
