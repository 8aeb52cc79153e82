"""Benchmark: what the daemon adds to a spoken turn, with instant fakes around it.

One daemon process (Twilio carrier, Media Streams, OpenAI Realtime transcription, OpenAI TTS,
the auto-responder) against local fakes that answer at once: the Twilio simulator and its
media-stream client, a Realtime transcription socket, a speech endpoint (200 ms of tone) and a
chat-completions endpoint. All timestamps come from this process's clock:

* turn overhead: the fake transcriber sends a final transcript -> the first reply audio frame
  arrives at the media client (model, TTS, resampling, pacing and four loopback hops included);
* barge-in reaction: the fake transcriber sends speech_started while a long reply plays ->
  the ``clear`` message arrives at the media client.

Prints one JSON object with p50/p99/max of each over --turns turns (default 200). Not a
pass/fail test. Targets (issue): turn overhead p99 < 30 ms, barge-in p99 < 20 ms.

    .venv/bin/python tests/bench/bench_speech_turns.py --turns 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.speech.fakes.chat_server import ChatScript, run_chat_server  # noqa: E402
from tests.speech.fakes.realtime_server import open_realtime_server  # noqa: E402
from tests.speech.fakes.tts_servers import FakeOpenAISpeech, serve_fake  # noqa: E402
from voicecall_cli.simulator.twilio.media import open_twilio_media_stream  # noqa: E402
from voicecall_cli.simulator.twilio.simulator import CalleeScript, run_twilio_simulator  # noqa: E402

KEY = "sk-bench-0123456789abcdef"
SID = "AC" + "0" * 32
TOKEN = "bench-auth-token-0123456789abcd"
SILENCE = b"\xff" * 160
CONFIG = """provider = "twilio"
fromNumber = "+15550009999"
store = "{store}"
inboundPolicy = "open"
responseBaseUrl = "{chat}"
[serve]
bind = "127.0.0.1"
port = 0
[twilio]
accountSid = "{sid}"
authToken = "{token}"
apiBaseUrl = "{api}"
[streaming]
enabled = true
openaiApiKey = "{key}"
openaiRealtimeUrl = "{stt}"
[tts]
provider = "openai"
[tts.openai]
apiKey = "{key}"
baseUrl = "{tts}"
"""


def summary(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    p99 = ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(p99, 2), "max_ms": round(ordered[-1], 2)}


def health(sock: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "voicecall_cli", "--socket", str(sock),
                          "daemon", "status", "--json"], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def waterfalls(sock: Path) -> dict[str, dict[str, float]]:
    """The daemon's own call.latency waterfalls (ms after the transcript reached it)."""
    out = subprocess.run([sys.executable, "-m", "voicecall_cli", "--socket", str(sock), "tail",
                          "--since", "all", "--no-follow", "--json"], capture_output=True,
                         text=True, timeout=60)
    events = [json.loads(line) for line in out.stdout.splitlines()]
    marks = [e["data"] for e in events if e.get("type") == "call.latency"]
    return {key: summary([m[key] for m in marks if key in m]) for key in ("replyMs", "audioMs")
            if any(key in m for m in marks)}


async def first_audio_after(stream, start: int) -> float:
    """Arrival time of the first non-silence frame at index ``start`` or later."""
    while True:
        for frame in stream.media[start:]:
            if frame.payload != SILENCE:
                return frame.at
        seen = len(stream.media)
        await stream.wait_for(lambda s, seen=seen: len(s.media) > seen)


async def run(turns: int) -> dict:
    tts_fake = FakeOpenAISpeech(KEY, chunk_count=1, chunk_ms=200, chunk_delay_s=0.0)
    long_tts = FakeOpenAISpeech(KEY, chunk_count=10, chunk_ms=500, chunk_delay_s=0.0)
    root = Path(tempfile.mkdtemp(prefix="vcbt", dir="/tmp"))
    sock = root / "control.sock"
    result: dict = {}
    async with serve_fake(tts_fake) as tts, serve_fake(long_tts) as long_voice, \
            open_realtime_server(KEY) as stt, \
            run_chat_server(KEY, ChatScript(pieces=["Okay."])) as chat, \
            run_twilio_simulator(account_sid=SID, auth_token=TOKEN,
                                 callee=CalleeScript()) as sim:
        for label, voice in (("turn", tts), ("barge_in", long_voice)):
            (root / "config.toml").write_text(CONFIG.format(
                store=root / f"state-{label}", chat=chat.base_url, sid=SID, token=TOKEN,
                api=sim.base_url, key=KEY, stt=stt.url, tts=voice.base_url))
            env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
            env["VOICECALL_LOG_LEVEL"] = "WARNING"
            proc = subprocess.Popen([sys.executable, "-m", "voicecall_cli.daemon", "run",
                                     "--config", str(root / "config.toml"), "--socket",
                                     str(sock)], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 30
                while not (info := await trio.to_thread.run_sync(health, sock)):
                    if time.monotonic() > deadline:
                        raise SystemExit("daemon did not start")
                    await trio.sleep(0.1)
                call_sid = await sim.place_inbound(from_="+15550007777", to="+15550009999",
                                                   webhook_url=info["webhookUrl"])
                request = await sim.wait_for_stream(call_sid)
                sessions_before = len(stt.sessions)
                async with open_twilio_media_stream(request.url, call_sid=call_sid,
                                                    token=request.token) as stream:
                    session = await stt.wait_for_session(sessions_before + 1)
                    await stream.wait_for(lambda s: s.marks_echoed)  # the greeting played
                    samples: list[float] = []
                    for i in range(turns):
                        marks = len(stream.marks_echoed)
                        start = len(stream.media)
                        t0 = trio.current_time()
                        await session.completed(f"Question number {i}?")
                        first = await first_audio_after(stream, start)
                        if label == "turn":
                            samples.append((first - t0) * 1000)
                            await stream.wait_for(lambda s, m=marks: len(s.marks_echoed) > m)
                        else:
                            await trio.sleep(0.05)  # the long reply is playing
                            clears = len(stream.clears)
                            t1 = trio.current_time()
                            await session.speech_started()
                            await stream.wait_for(lambda s, c=clears: len(s.clears) > c)
                            samples.append((stream.clears[clears] - t1) * 1000)
                            await trio.sleep(0.05)
                    result[label] = summary(samples)
                    if label == "turn":
                        result["daemon_waterfall"] = await trio.to_thread.run_sync(
                            waterfalls, sock)
            finally:
                proc.terminate()
                await trio.to_thread.run_sync(proc.wait)
    shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--turns", type=int, default=200)
    args = ap.parse_args()
    result = trio.run(run, args.turns)
    print(json.dumps({"benchmark": "speech_turns", "turns": args.turns,
                      "turn_overhead": result.get("turn"),
                      "barge_in_reaction": result.get("barge_in"),
                      "daemon_waterfall": result.get("daemon_waterfall"),
                      "targets": {"turn_overhead_p99_ms": 30, "barge_in_p99_ms": 20},
                      "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
