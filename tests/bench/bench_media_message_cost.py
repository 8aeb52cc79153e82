"""Benchmark: CPU per stream-second of the daemon's own media path, and per message of its parts.

The capacity of a real daemon on a shared machine moves with everything else running; CPU time
per unit of work moves far less. This measures, in one process and with no network:

* ``endpoint``: N Twilio streams through ``MediaStreams`` (fake ASGI sockets where hypercorn
  stands, trio's MockClock so simulated seconds pass at CPU speed), each playing a long tone
  while its peer sends 50 caller frames a second, transcribed by the scripted transcriber, marks
  echoed. Reported: CPU ms per stream-second and the messages each way per stream-second. What
  it leaves out (hypercorn, wsproto, sockets) scales with the number of messages, so fewer,
  larger messages show up there too;
* ``decode_us``: one caller ``media`` frame through the Twilio codec, and through the general
  JSON decoder;
* ``stt_frame_us``: one 20 ms frame through the scripted transcriber's loudness test;
* ``tone_second_us``: one second of the offline voice's tone.

    .venv/bin/python tests/bench/bench_media_message_cost.py [--streams 20] [--seconds 30]

Prints one JSON document. Not a pass/fail test. Run it on two checkouts to compare them.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import timeit
from pathlib import Path

import trio
import trio.testing

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.daemon.asgi_socket import AsgiWebsocket
from voicecall_cli.daemon.media.endpoint import MediaStreams
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.daemon.media.scripted_stt import ScriptedTranscriber
from voicecall_cli.providers.audio import tone_source
from voicecall_cli.providers.twilio.media import TwilioMediaCodec, decode

SID = "MZ0123456789abcdef0123456789abcdef"
PAYLOAD = base64.b64encode(bytes(range(160))).decode()


def media_frame(n: int) -> str:
    """A caller frame as Twilio writes it."""
    return (f'{{"event":"media","sequenceNumber":"{n + 2}","media":{{"track":"inbound",'
            f'"chunk":"{n + 1}","timestamp":"{n * 20}","payload":"{PAYLOAD}"}},'
            f'"streamSid":"{SID}"}}')


class Peer(AsgiWebsocket):
    """Twilio's side: echoes marks at once, counts what it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.received = 0

    def on_frame(self, frame: dict) -> None:
        self.received += 1
        if frame["event"] == "mark":
            self.push({"event": "mark", "streamSid": SID, "mark": frame["mark"]})

    def push_text(self, text: str) -> None:
        self._to_app.send_nowait({"type": "websocket.receive", "text": text})


async def endpoint_run(streams: int, seconds: float) -> dict:
    registry = StreamRegistry()
    transcribers: dict[str, ScriptedTranscriber] = {}
    peers: list[Peer] = []
    sent = [0]

    def on_start(call: str, _stream: str) -> None:
        transcribers[call] = ScriptedTranscriber(
            transcripts=["x"], on_partial=lambda _t: None, on_final=lambda _t: None,
            on_speech_started=lambda: None)
        nursery.start_soon(media.play, call, tone_source(440, seconds + 5))

    async def caller(peer: Peer) -> None:
        start = trio.current_time()
        for n in range(int(seconds / 0.02)):
            await trio.sleep_until(start + n * 0.02)
            peer.push_text(media_frame(n))
            sent[0] += 1

    async with trio.open_nursery() as nursery:
        media = MediaStreams(
            registry=registry, codec=TwilioMediaCodec(), max_connections=streams + 1,
            max_pending=streams + 1, max_pending_per_ip=streams + 1, pre_start_timeout_s=30,
            on_start=on_start, on_stop=lambda *_: None,
            on_audio=lambda call, audio: transcribers[call].send_audio(audio))
        await nursery.start(media.run)
        for i in range(streams):
            call = f"CA{i:032x}"
            peer = Peer()
            peers.append(peer)
            nursery.start_soon(media.asgi, peer.scope, peer.receive, peer.send)
            await trio.testing.wait_all_tasks_blocked()
            peer.push({"event": "start", "streamSid": SID, "start": {
                "streamSid": SID, "callSid": call, "customParameters": {
                    "token": registry.token(call)}}})
        await trio.testing.wait_all_tasks_blocked()
        cpu0 = time.process_time()
        async with trio.open_nursery() as callers:
            for peer in peers:
                callers.start_soon(caller, peer)
        cpu = time.process_time() - cpu0
        nursery.cancel_scope.cancel()
    stream_s = streams * seconds
    return {"streams": streams, "seconds": seconds,
            "cpu_ms_per_stream_s": round(1000 * cpu / stream_s, 3),
            "messages_in_per_stream_s": round(sent[0] / stream_s, 1),
            "messages_out_per_stream_s": round(sum(p.received for p in peers) / stream_s, 1)}


def per_call_us(fn, number: int = 20000) -> float:
    timer = timeit.Timer(fn, timer=time.process_time)  # CPU time: other processes do not count
    return round(min(timer.repeat(number=number, repeat=5)) / number * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    codec, frame = TwilioMediaCodec(), media_frame(7)
    stt = ScriptedTranscriber(transcripts=["x"], on_partial=lambda _t: None,
                              on_final=lambda _t: None, on_speech_started=lambda: None)
    audio = bytes(range(160))

    async def tone_seconds(count: int) -> float:
        began = time.process_time()
        for _ in range(count):
            async for _chunk in tone_source(440, 1.0, amplitude=3000):
                pass
        return round((time.process_time() - began) / count * 1e6, 2)

    result = {
        "benchmark": "media_message_cost", "cpus": os.cpu_count(),
        "endpoint": trio.run(endpoint_run, args.streams, args.seconds,
                             clock=trio.testing.MockClock(autojump_threshold=0)),
        "decode_us": {"codec": per_call_us(lambda: codec.decode(frame)),
                      "general_json": per_call_us(lambda: decode(frame))},
        "stt_frame_us": per_call_us(lambda: stt.send_audio(audio)),
        "tone_second_us": trio.run(tone_seconds, 500),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
