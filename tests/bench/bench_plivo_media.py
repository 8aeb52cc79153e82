"""Benchmark: media-stream capacity of a real ``voicecall daemon run`` on Plivo framing.

The Plivo twin of ``bench_telnyx_media.py`` (shared parts: ``carrier_media.py``): for each N a
fresh daemon (provider ``plivo``, streaming on, scripted STT, no TTS key so speech is a tone as
long as its words, an inbound greeting that lasts the whole call, ``maxInboundStreams`` above
N) whose Plivo REST API is a stand-in in this process (it answers the daemon's hang-ups). Each
of the N calls is what Plivo does for an inbound call:

1. a V3-signed answer request (the Plivo application's answer URL, ``Direction=inbound``,
   ``Event=StartApp``), signed with the plivo SDK's own functions; the daemon answers with
   ``<Stream>`` XML: the websocket URL as the element's text and the stream token in
   ``extraHeaders``;
2. the websocket to that URL, ``start`` (``callId``, ``streamId``, ``extra_headers`` exactly as
   the XML gave them) and 50 ``media`` frames/s (``chunk`` numbered) for -d s; then the socket
   closes (Plivo sends no ``stop``).

Our ``playAudio``/``checkpoint``/``clearAudio`` frames are handed to the shared driver's
receiving side (``media_load.receive``) as the Twilio-shaped frames it reads, and its mark
echoes go back as Plivo's ``playedStream``, so the playout model, the steady-window statistics
and the CPU/RSS sampling are the shared driver's own and compare one to one with the Twilio and
Telnyx runs.

Runs with the shared bench's Python plus ``plivo``:

    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install \\
        -r ../shared/bench/requirements.txt cryptography plivo
    /tmp/bench-venv/bin/python tests/bench/bench_plivo_media.py \\
        --voicecall .venv/bin/voicecall -n 20 50 [-d 20]

Prints one JSON line per N. Not a pass/fail test; loopback only, every run bounded.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode, urlsplit

from carrier_media import Carrier, main, post_webhook, stream_call
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

AUTH_ID = "MABENCHBENCHBENCH000"
AUTH_TOKEN = "plivo-bench-auth-token"


async def rest(method: str, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    """Hang-ups (``DELETE /Call/{uuid}/``) and anything else the daemon asks: done."""
    if method == "DELETE":
        return 204, b""
    return 200, b'{"api_id":"bench","message":"ok"}'


async def post_answer(url: str, call_uuid: str, index: int) -> tuple[int, str]:
    """The V3-signed answer request of an inbound call; (status, XML reply)."""
    params = {"CallUUID": call_uuid, "From": f"1555{7000000 + index:07d}",
              "To": "15550001234", "Direction": "inbound", "CallStatus": "in-progress",
              "Event": "StartApp", "CallerName": "bench"}
    nonce = secrets.token_hex(10)
    signature = get_signature_v3(AUTH_TOKEN.encode(), construct_post_url(url, dict(params))
                                 .decode(), nonce.encode()).decode()
    status, reply = await post_webhook(url, {
        "Content-Type": "application/x-www-form-urlencoded", "X-Plivo-Signature-V3": signature,
        "X-Plivo-Signature-V3-Nonce": nonce}, urlencode(params).encode())
    return status, reply.decode()


class PlivoSocket:
    """A Plivo stream socket as ``media_load.receive`` reads it: our frames in Twilio's shape,
    its mark echoes sent back as ``playedStream``."""

    def __init__(self, ws: Any, stream_id: str) -> None:
        self.ws = ws
        self.stream_id = stream_id

    @property
    def state(self) -> Any:
        return self.ws.state

    @property
    def close_code(self) -> Any:
        return self.ws.close_code

    async def __aiter__(self):
        async for raw in self.ws:
            message = json.loads(raw)
            event = message.get("event")
            if event == "playAudio":
                yield json.dumps({"event": "media", "media": message.get("media", {})})
            elif event == "checkpoint":
                yield json.dumps({"event": "mark", "mark": {"name": message.get("name")}})
            elif event == "clearAudio":
                yield '{"event":"clear"}'
            else:
                yield raw

    async def send(self, text: str) -> None:
        name = json.loads(text).get("mark", {}).get("name")
        await self.ws.send(json.dumps({"event": "playedStream", "sequenceNumber": 0,
                                       "streamId": self.stream_id, "name": name}))


def plivo_run_call(media_load):
    """media_load's per-call driver, speaking Plivo."""
    websockets = media_load.websockets

    async def run_call(call, args, frames, setup, t_start):
        await asyncio.sleep(max(0.0, t_start - time.monotonic()))
        call_uuid = str(uuid.uuid4())
        async with setup:
            try:
                status, reply = await post_answer(args.url + "?flow=answer", call_uuid,
                                                  call.index)
                if status != 200:
                    call.errors.append(f"answer request answered {status}")
                    return
                stream = ET.fromstring(reply).find("Stream")
                call.twiml_kind = "stream" if stream is not None else "no-stream"
                if stream is None:
                    call.errors.append(f"no <Stream> in {reply[:200]}")
                    return
                path = urlsplit((stream.text or "").strip()).path
                ws = await websockets.connect(
                    f"ws://{urlsplit(args.url).netloc}{path}", compression=None,
                    ping_interval=None, max_size=2 ** 20, open_timeout=10)
                sid = str(uuid.uuid4())
                await ws.send(json.dumps({
                    "event": "start", "sequenceNumber": 1, "start": {
                        "callId": call_uuid, "streamId": sid, "accountId": AUTH_ID,
                        "tracks": ["inbound"],
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}},
                    "extra_headers": stream.get("extraHeaders", "")}))
            except Exception as exc:  # every failure is a result here
                call.errors.append(f"setup: {type(exc).__name__}: {exc}")
                return
        extra = json.dumps(stream.get("extraHeaders", ""))
        template = ('{"event":"media","sequenceNumber":%d,"streamId":"' + sid + '","media":'
                    '{"track":"inbound","timestamp":"%d","chunk":%d,"payload":"%s"},'
                    '"extra_headers":' + extra + '}')
        await stream_call(call, media_load, ws, PlivoSocket(ws, sid), frames, args.d,
                          lambda k, payload: template % (k + 2, k * 20, k + 1, payload))

    return run_call


def plivo() -> Carrier:
    return Carrier(
        name="plivo",
        config=lambda port: (
            f'provider = "plivo"\n[plivo]\nauthId = "{AUTH_ID}"\nauthToken = "{AUTH_TOKEN}"\n'
            f'apiBaseUrl = "http://127.0.0.1:{port}"\n'),
        rest=rest, run_call=plivo_run_call)


if __name__ == "__main__":
    main(plivo, __doc__)
