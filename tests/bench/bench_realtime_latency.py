"""Benchmark: what the daemon adds between the realtime model's first audio and the caller.

One ``voicecall daemon run`` process (Twilio carrier, ``realtime.enabled``, streaming off)
speaks --calls inbound calls (default 1) through the local fake of OpenAI's Realtime
speech-to-speech API (``tests/speech/fakes/realtime_voice_server.py``, in this process). The
Twilio simulator places the calls and this process is the carrier's end of each media
stream: it sends a 20 ms frame of mu-law silence on an absolute schedule for the whole call
(so the daemon's input path, batching and appends to the session, is on all the time) and
echoes each mark once the audio before it has played out.

Each turn is driven from the fake's side, as its server VAD would: ``speech_stopped()`` then
``commit()``; the daemon answers with ``response.create``; the fake streams a short reply
(--reply-ms, default 200 ms of tone, 100 ms deltas 20 ms apart). A turn starts only once the
previous reply has fully played (the fake finished it, every byte reached the carrier and
every mark was echoed), so turns never overlap. Per turn:

* ``daemon_added``: the fake sent its first ``response.output_audio.delta`` of the response
  (``first_delta_at``) -> the first frame of that response's audio arrived at the carrier's
  websocket. Both ends are this process's trio clock, so the figure is the daemon's work
  (parsing, the feed, the playback's puller and pacer) plus two loopback hops;
* ``commit_to_first_frame``: the commit was sent -> the same arrival (adds the daemon's
  ``response.create`` and the fake's response start);
* ``daemon_waterfall``: the same span measured the other way, on the daemon's clock, from
  its own ``call.latency`` events: ``audioMs - modelAudioMs`` (the model's first audio ->
  the first chunk handed to the stream; whole milliseconds).

Prints one JSON object: p50/p95/p99/max (``voicecall_cli.protocol.latency.percentile``), the
count, whether the target (p99 <= 20 ms) is met, and the daemon log's warnings and errors.
Not a pass/fail test; on a shared machine the tail moves with the other load.

    .venv/bin/python tests/bench/bench_realtime_latency.py [--turns 200] [--calls 1] \
        [--reply-ms 200]

Resource handling: the fake server and the Twilio simulator are ``async with`` blocks of this
process; the daemon is a child process in its own session, killed (SIGTERM, then SIGKILL) in a
``finally`` block; each media stream is closed by its ``async with`` and its silence sender
is cancelled with the call's nursery. The temporary directory is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.speech.fakes.realtime_voice_server import open_realtime_voice_server  # noqa: E402
from voicecall_cli.protocol.latency import percentile  # noqa: E402
from voicecall_cli.simulator.twilio.media import open_twilio_media_stream  # noqa: E402
from voicecall_cli.simulator.twilio.simulator import CalleeScript, run_twilio_simulator  # noqa: E402

KEY = "sk-bench-realtime-0123456789"
SID = "AC" + "0" * 32
TOKEN = "bench-auth-token-0123456789abcd"
SILENCE = b"\xff" * 160
FRAME_S = 0.020
TARGET_P99_MS = 20.0
CONFIG = """provider = "twilio"
fromNumber = "+15550009999"
store = "{store}"
inboundPolicy = "open"
inboundGreeting = "Hello, you reached the bench."
[serve]
bind = "127.0.0.1"
port = 0
[twilio]
accountSid = "{sid}"
authToken = "{token}"
apiBaseUrl = "{api}"
[streaming]
enabled = false
maxInboundStreams = {streams}
[realtime]
enabled = true
apiKey = "{key}"
baseUrl = "{realtime}"
silenceDurationMs = 300
"""


def summary(values_ms: list[float]) -> dict[str, Any]:
    if not values_ms:
        return {"n": 0}
    return {"n": len(values_ms),
            **{f"p{p}_ms": round(percentile(values_ms, p), 2) for p in (50, 95, 99)},
            "max_ms": round(max(values_ms), 2), "min_ms": round(min(values_ms), 2)}


def health(sock: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "voicecall_cli", "--socket", str(sock),
                          "daemon", "status", "--json"], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def daemon_waterfall(sock: Path) -> dict[str, Any]:
    """``audioMs - modelAudioMs`` of the daemon's own ``call.latency`` events (replies)."""
    out = subprocess.run([sys.executable, "-m", "voicecall_cli", "--socket", str(sock), "tail",
                          "--since", "all", "--no-follow", "--json"], capture_output=True,
                         text=True, timeout=120)
    marks = [e["data"] for e in map(json.loads, out.stdout.splitlines())
             if e.get("type") == "call.latency"]
    spans = [m["audioMs"] - m["modelAudioMs"] for m in marks
             if "audioMs" in m and "modelAudioMs" in m]
    return {"model_audio_to_stream": summary(spans),
            "stop_to_stream_audio": summary([m["audioMs"] for m in marks if "audioMs" in m])}


def log_problems(log: Path) -> dict[str, Any]:
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if " WARNING " in line or " ERROR " in line or "Traceback" in line]
    return {"count": len(lines), "first": [line[:240] for line in lines[:5]]}


def audible(payload: bytes) -> bool:
    return payload.count(0xFF) != len(payload)


async def send_silence(stream: Any, lateness: list[float]) -> None:
    """A carrier never stops sending: one 20 ms silence frame on an absolute schedule."""
    start = trio.current_time()
    for n in range(10**9):
        due = start + n * FRAME_S
        await trio.sleep_until(due)
        lateness.append(trio.current_time() - due)
        await stream.send_media(SILENCE, n)


def played_out(stream: Any, since: int) -> bool:
    """Every mark received so far was echoed, and one came after the last frame since
    ``since`` (the playback's end-of-item mark)."""
    marks = sum(1 for kind, _ in stream.kinds if kind == "mark")
    last_media = max((i for i, (kind, _) in enumerate(stream.kinds) if kind == "media"),
                     default=-1)
    last_mark = max((i for i, (kind, _) in enumerate(stream.kinds) if kind == "mark"),
                    default=-1)
    return len(stream.marks_echoed) >= marks and last_mark > last_media and \
        len(stream.media) > since


async def one_call(sim: Any, fake: Any, webhook: str, number: int, turns: int,
                   out: dict[str, list[float]]) -> None:
    call_sid = await sim.place_inbound(from_=f"+1555000{number:04d}", to="+15550009999",
                                       webhook_url=webhook)
    request = await sim.wait_for_stream(call_sid)
    async with open_twilio_media_stream(request.url, call_sid=call_sid, token=request.token,
                                        account_sid=SID) as stream, \
            trio.open_nursery() as nursery:
        nursery.start_soon(send_silence, stream, out["lateness"])
        session = await fake.wait_for_session(number + 1)  # calls start in order, see run
        greeting = await session.wait_for_response(1, finished=True)
        await stream.wait_for(lambda s: played_out(s, 0))
        await trio.sleep(0.3)  # the greeting is over for the daemon too
        assert greeting.first_delta_at is not None
        for _ in range(turns):
            start, responses = len(stream.media), len(session.responses)
            t_commit = trio.current_time()
            await session.speech_stopped()
            await session.commit()
            record = await session.wait_for_response(responses + 1, finished=True)

            def arrived(s: Any, start: int = start, size: int = record.audio_bytes) -> bool:
                return sum(len(m.payload) for m in s.media[start:] if audible(m.payload)) \
                    >= size - 160  # the last frame is padded with silence
            await stream.wait_for(arrived)
            first = next(m.at for m in stream.media[start:] if audible(m.payload))
            assert record.first_delta_at is not None
            out["daemon_added"].append((first - record.first_delta_at) * 1000)
            out["commit_to_first_frame"].append((first - t_commit) * 1000)
            await stream.wait_for(lambda s, start=start: played_out(s, start))
            await trio.sleep(0.03)  # the echo reaches the daemon; its reply settles
        nursery.cancel_scope.cancel()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="vcrtl", dir="/tmp"))
    sock, log = root / "control.sock", root / "daemon.log"
    out: dict[str, list[float]] = {"daemon_added": [], "commit_to_first_frame": [],
                                   "lateness": []}
    result: dict[str, Any] = {}
    try:
        async with open_realtime_voice_server(KEY) as fake, \
                run_twilio_simulator(account_sid=SID, auth_token=TOKEN,
                                     callee=CalleeScript()) as sim:
            fake.reply_ms, fake.delta_ms, fake.delta_interval_s = args.reply_ms, 100, 0.02
            (root / "config.toml").write_text(CONFIG.format(
                store=root / "state", sid=SID, token=TOKEN, api=sim.base_url, key=KEY,
                realtime=fake.base_url, streams=args.calls + 2))
            env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
            env["VOICECALL_LOG_LEVEL"] = "WARNING"
            with log.open("ab") as log_file:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "voicecall_cli.daemon", "run", "--config",
                     str(root / "config.toml"), "--socket", str(sock)], env=env,
                    stdout=log_file, stderr=log_file, start_new_session=True)
            try:
                deadline = time.monotonic() + 30
                while not (info := await trio.to_thread.run_sync(health, sock)):
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("daemon did not start:\n" + log.read_text()[-2000:])
                    await trio.sleep(0.1)
                per_call = [args.turns // args.calls + (i < args.turns % args.calls)
                            for i in range(args.calls)]
                with trio.fail_after(60 + args.turns * 5):
                    async with trio.open_nursery() as nursery:
                        for i, turns in enumerate(per_call):
                            nursery.start_soon(one_call, sim, fake, info["webhookUrl"], i,
                                               turns, out)
                            await fake.wait_for_session(i + 1)  # one session per call, in order
                result["daemon_waterfall"] = await trio.to_thread.run_sync(
                    daemon_waterfall, sock)
                # one session per call, one greeting + one reply per turn, else say why
                result["fake"] = {"sessions": len(fake.sessions), "responses": sum(
                    len(s.responses) for s in fake.sessions), "expected_responses":
                    args.turns + args.calls, "cancelled": sum(
                        r.status == "cancelled" for s in fake.sessions for r in s.responses)}
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    await trio.to_thread.run_sync(proc.wait, 15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    await trio.to_thread.run_sync(proc.wait)
        result["daemon_log_problems"] = log_problems(log)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    added = summary(out["daemon_added"])
    late = summary([x * 1000 for x in out["lateness"]])
    return {"daemon_added": added, "commit_to_first_frame": summary(out["commit_to_first_frame"]),
            **result, "carrier_send_lateness": late,
            "target": {"daemon_added_p99_ms": TARGET_P99_MS,
                       "met": bool(added["n"]) and added["p99_ms"] <= TARGET_P99_MS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=200, help="turns in all (split over calls)")
    ap.add_argument("--calls", type=int, default=1, help="concurrent realtime calls")
    ap.add_argument("--reply-ms", type=int, default=200, help="audio per reply (and greeting)")
    args = ap.parse_args()
    result = trio.run(run, args)
    print(json.dumps({"benchmark": "realtime_latency", "turns": args.turns,
                      "calls": args.calls, "reply_ms": args.reply_ms, **result,
                      "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
