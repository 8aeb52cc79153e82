"""Benchmark: the real-clock figures that tests used to check with pass/fail bounds (#14, item 21).

Tests never compare the real clock with a bound (a loaded 2-core CI machine makes any such bound
flaky); the figures they used to check are measured here and printed, never judged:

* ``media_loopback``: one full-duplex Twilio stream on MediaStreams behind serve_webhooks in
  this process (was tests/daemon/test_media.py): arrival jitter p50/p99/max and cumulative drift
  of the 150 played frames of a 3 s tone.
* ``daemon_greeting``: a real ``voicecall daemon run`` with the Twilio simulator, its greeting
  over the stream (was tests/e2e/test_twilio_streams.py, test_speech_streams.py and the
  conformance suite): jitter, drift, and first audio after the stream opened.
* ``completion_no_daemon``: call-id completion when no daemon runs (was
  tests/cli/test_call_id_completion.py): milliseconds per lookup.

    .venv/bin/python tests/bench/bench_pacing.py [--rounds 3]

Loopback only; every part bounded by a trio.fail_after. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.daemon.test_media import CALL, media_server  # noqa: E402
from tests.e2e.test_twilio import call_with_stream, twilio_daemon, wait_call  # noqa: E402
from tests.e2e.test_twilio_streams import STREAMING  # noqa: E402
from voicecall_cli.cli.call_ids import active_calls  # noqa: E402
from voicecall_cli.providers.audio import SILENCE_FRAME, tone_source  # noqa: E402
from voicecall_cli.simulator.twilio.media import Tone, open_twilio_media_stream  # noqa: E402


async def media_loopback() -> dict:
    with trio.fail_after(60):
        async with media_server() as server:
            token = server.registry.token(CALL)
            async with open_twilio_media_stream(server.url, call_sid=CALL,
                                                token=token) as stream:
                await server.wait_for_stream()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(stream.send_audio, Tone(300, 3))
                    await server.streams.play(CALL, tone_source(440, 3))
    return stream.stats().as_dict()


async def daemon_greeting() -> dict:
    greeting = "Hi, this is the clinic calling about tomorrow."
    with trio.fail_after(120):
        async with twilio_daemon(extra_config=STREAMING) as (daemon, sim):
            call_id, sid, request = await call_with_stream(daemon, sim, greeting)
            opened = trio.current_time()
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                await wait_call(daemon, call_id,
                                lambda c: any(t["speaker"] == "bot" for t in c["transcript"]),
                                "the greeting to finish")
    first = next((m.at for m in stream.media if m.payload != SILENCE_FRAME), None)
    return {**stream.stats().as_dict(),
            "first_audio_ms": None if first is None else round(1000 * (first - opened), 1)}


def completion_no_daemon(rounds: int = 20) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        missing = Path(tmp) / "no-daemon.sock"
        took = []
        for _ in range(rounds):
            started = time.perf_counter()
            active_calls(missing)
            took.append(1000 * (time.perf_counter() - started))
    return {"rounds": rounds, "median_ms": round(statistics.median(took), 3),
            "max_ms": round(max(took), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each stream measurement")
    args = parser.parse_args()
    result = {
        "media_loopback": [trio.run(media_loopback) for _ in range(args.rounds)],
        "daemon_greeting": [trio.run(daemon_greeting) for _ in range(args.rounds)],
        "completion_no_daemon": completion_no_daemon(),
        "note": "figures move with the machine's load; never a pass/fail check",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
