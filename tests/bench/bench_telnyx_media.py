"""Benchmark: media-stream capacity of a real ``voicecall daemon run`` on Telnyx framing.

The Telnyx twin of ``../shared/bench/voicecall_media.py`` + ``media_load.py``: for each N a
fresh daemon (provider ``telnyx``, streaming on, scripted STT, no TTS key so speech is a tone
as long as its words, an inbound greeting that lasts the whole call, ``maxInboundStreams``
above N) whose Telnyx REST API is a small stand-in in this process (it answers the daemon's
``answer``/``hangup`` commands and hands the stream URL and ``stream_auth_token`` of each
answer to the call). Each of the N calls is what Telnyx does for an inbound call:

1. an Ed25519-signed ``call.initiated`` (incoming) to the daemon's webhook; the daemon answers
   it with a REST ``answer`` carrying the stream fields;
2. a signed ``call.answered``; then the media websocket with the token in the
   ``x-telnyx-streaming-auth-token`` header, ``connected``, ``start`` (``call_control_id``,
   the ``client_state`` of the answer) and 50 ``media`` frames/s (``chunk`` numbered) for -d s,
   then ``stop``.

The receiving side, the playout model (marks echoed when the audio before them has played,
``clear``), the steady-window statistics and the CPU/RSS sampling are ``media_load.py``'s own
(imported from ``--shared-bench``; its per-call driver is replaced by the Telnyx one below), so
the figures compare one to one with the Twilio runs.

Runs with the shared bench's Python plus ``cryptography``:

    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install \\
        -r ../shared/bench/requirements.txt cryptography
    /tmp/bench-venv/bin/python tests/bench/bench_telnyx_media.py \\
        --voicecall .venv/bin/voicecall -n 20 50 [-d 20]

Prints one JSON line per N. Not a pass/fail test; loopback only, every run bounded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from carrier_media import FRAME_S, Carrier, main, post_webhook, stream_call
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = base64.b64encode(KEY.public_key().public_bytes(Encoding.Raw,
                                                            PublicFormat.Raw)).decode()


class FakeTelnyxRest:
    """``POST /v2/calls/{id}/actions/{action}``: 200 ``{"data":{"result":"ok"}}``; each answer's
    body is handed to whoever waits for that call."""

    def __init__(self) -> None:
        self.answers: dict[str, asyncio.Future] = {}

    def answer_of(self, call_control_id: str) -> asyncio.Future:
        return self.answers.setdefault(call_control_id,
                                       asyncio.get_running_loop().create_future())

    async def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        parts = path.split("/")  # /v2/calls/<id>/actions/<action>
        if len(parts) == 6 and parts[5] == "answer":
            future = self.answer_of(unquote(parts[3]))
            if not future.done():
                future.set_result(body)
        return 200, b'{"data":{"result":"ok"}}'


def event(event_type: str, call_control_id: str, index: int, client_state: str | None) -> bytes:
    return json.dumps({"data": {
        "record_type": "event", "event_type": event_type, "id": str(uuid.uuid4()),
        "occurred_at": "2026-12-01T00:00:00Z", "payload": {
            "call_control_id": call_control_id, "call_leg_id": str(uuid.uuid4()),
            "call_session_id": str(uuid.uuid4()), "client_state": client_state,
            "connection_id": "bench", "direction": "incoming",
            "from": f"+1555{7000000 + index:07d}", "to": "+15550001234", "state": "parked"}},
        "meta": {"attempt": 1}}, separators=(",", ":")).encode()


async def post_event(url: str, body: bytes) -> int:
    timestamp = str(int(time.time()))
    signature = base64.b64encode(KEY.sign(timestamp.encode() + b"|" + body)).decode()
    status, _ = await post_webhook(url, {
        "Content-Type": "application/json", "telnyx-timestamp": timestamp,
        "telnyx-signature-ed25519": signature}, body)
    return status


def telnyx_run_call(rest: FakeTelnyxRest, media_load):
    """media_load's per-call driver, speaking Telnyx."""
    websockets = media_load.websockets

    async def run_call(call, args, frames, setup, t_start):
        await asyncio.sleep(max(0.0, t_start - time.monotonic()))
        pid = f"v3:bench-{call.index}-{uuid.uuid4().hex[:8]}"
        async with setup:
            try:
                status = await post_event(args.url, event("call.initiated", pid, call.index, None))
                if status != 200:
                    call.errors.append(f"call.initiated answered {status}")
                    return
                answer = await asyncio.wait_for(rest.answer_of(pid), 10)
                call.twiml_kind = "stream" if answer.get("stream_url") else "no-stream"
                client_state = answer.get("client_state")
                await post_event(args.url, event("call.answered", pid, call.index, client_state))
                stream_path = urlsplit(answer["stream_url"]).path
                ws = await websockets.connect(
                    f"ws://{urlsplit(args.url).netloc}{stream_path}", compression=None,
                    ping_interval=None, max_size=2 ** 20, open_timeout=10,
                    additional_headers={"x-telnyx-streaming-auth-token":
                                        answer["stream_auth_token"]})
                sid = str(uuid.uuid4())
                await ws.send('{"event":"connected","version":"1.0.0"}')
                await ws.send(json.dumps({
                    "event": "start", "sequence_number": "1", "stream_id": sid, "start": {
                        "user_id": str(uuid.uuid4()), "call_control_id": pid,
                        "call_session_id": str(uuid.uuid4()), "from": "", "to": "",
                        "tags": [], "client_state": client_state, "custom_parameters": {},
                        "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                         "channels": 1}}}))
            except Exception as exc:  # every failure is a result here
                call.errors.append(f"setup: {type(exc).__name__}: {exc}")
                return
        template = ('{"event":"media","sequence_number":"%d","media":{"track":"inbound",'
                    '"chunk":"%d","timestamp":"%d","payload":"%s"},"stream_id":"' + sid + '"}')
        count = int(args.d / FRAME_S)
        stop = json.dumps({"event": "stop", "sequence_number": str(count + 2),
                           "stream_id": sid, "stop": {"call_control_id": pid}})
        await stream_call(call, media_load, ws, ws, frames, args.d,
                          lambda k, payload: template % (k + 2, k + 1, k * 20, payload), stop)

    return run_call


def telnyx() -> Carrier:
    rest = FakeTelnyxRest()
    return Carrier(
        name="telnyx",
        config=lambda port: (
            f'provider = "telnyx"\n[telnyx]\napiKey = "KEYbench"\nconnectionId = "bench"\n'
            f'publicKey = "{PUBLIC_KEY}"\napiBaseUrl = "http://127.0.0.1:{port}"\n'),
        rest=rest.handle, run_call=lambda media_load: telnyx_run_call(rest, media_load))


if __name__ == "__main__":
    main(telnyx, __doc__)
