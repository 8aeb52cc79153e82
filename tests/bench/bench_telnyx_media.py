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

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

REPO = Path(__file__).resolve().parents[2]
GREETING = "This is a long greeting that keeps the daemon speaking for the whole call. " * 40
KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = base64.b64encode(KEY.public_key().public_bytes(Encoding.Raw,
                                                            PublicFormat.Raw)).decode()
FRAME_S = 0.020


class FakeTelnyxRest:
    """``POST /v2/calls/{id}/actions/{action}``: 200 ``{"data":{"result":"ok"}}``; each answer's
    body is handed to whoever waits for that call."""

    def __init__(self) -> None:
        self.answers: dict[str, asyncio.Future] = {}
        self.port = 0

    def answer_of(self, call_control_id: str) -> asyncio.Future:
        return self.answers.setdefault(call_control_id,
                                       asyncio.get_running_loop().create_future())

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                _method, path, _ = lines[0].split(" ", 2)
                length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                               if line.lower().startswith("content-length:")), 0)
                body = json.loads(await reader.readexactly(length)) if length else {}
                parts = path.split("/")  # /v2/calls/<id>/actions/<action>
                if len(parts) == 6 and parts[5] == "answer":
                    future = self.answer_of(unquote(parts[3]))
                    if not future.done():
                        future.set_result(body)
                reply = b'{"data":{"result":"ok"}}'
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(reply), reply))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


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
    target = urlsplit(url)
    timestamp = str(int(time.time()))
    signature = base64.b64encode(KEY.sign(timestamp.encode() + b"|" + body)).decode()
    head = (f"POST {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\n"
            f"Content-Type: application/json\r\ntelnyx-timestamp: {timestamp}\r\n"
            f"telnyx-signature-ed25519: {signature}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    reader, writer = await asyncio.open_connection(target.hostname, target.port)
    try:
        writer.write(head.encode() + body)
        raw = await reader.read()
    finally:
        writer.close()
    return int(raw[9:12])


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
        receiver = asyncio.create_task(media_load.receive(call, ws))
        template = ('{"event":"media","sequence_number":"%d","media":{"track":"inbound",'
                    '"chunk":"%d","timestamp":"%d","payload":"%s"},"stream_id":"' + sid + '"}')
        t0, count = time.monotonic(), int(args.d / FRAME_S)
        try:
            for k in range(count):
                due = t0 + k * FRAME_S
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                call.lateness.append(time.monotonic() - due)
                await ws.send(template % (k + 2, k + 1, k * 20, frames[k % len(frames)]))
            call.t_stop = time.monotonic()
            await ws.send(json.dumps({"event": "stop", "sequence_number": str(count + 2),
                                      "stream_id": sid, "stop": {"call_control_id": pid}}))
            await ws.close()
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:  # a result too
            call.errors.append(f"send: {type(exc).__name__}: {exc}")
        await receiver
        for handle, _ in call.pending_marks:
            handle.cancel()

    return run_call


def start_daemon(exe: str, n: int, tmp: Path, api_port: int) -> tuple[subprocess.Popen, str]:
    sock = tmp / "ctl.sock"
    cfg = tmp / "config.toml"
    cfg.write_text(
        f'provider = "telnyx"\nfromNumber = "+15550001234"\nstore = "{tmp / "store"}"\n'
        f'controlSocket = "{sock}"\ninboundPolicy = "open"\ninboundGreeting = "{GREETING}"\n'
        f'[telnyx]\napiKey = "KEYbench"\nconnectionId = "bench"\npublicKey = "{PUBLIC_KEY}"\n'
        f'apiBaseUrl = "http://127.0.0.1:{api_port}"\n'
        f'[streaming]\nenabled = true\nsttProvider = "scripted"\nmaxInboundStreams = {n + 5}\n'
        f'maxConnections = {n + 50}\n[serve]\nport = 0\nbind = "127.0.0.1"\n'
        'path = "/voice/webhook"\n')
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp), XDG_STATE_HOME=str(tmp / "state"),
               NO_COLOR="1")
    env.pop("OPENAI_API_KEY", None)
    env.pop("ELEVENLABS_API_KEY", None)
    log = open(tmp / "daemon.log", "ab")  # noqa: SIM115 - the daemon's, closed with it
    proc = subprocess.Popen([exe, "--config", str(cfg), "--socket", str(sock), "daemon", "run"],
                            stdout=log, stderr=log, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = (tmp / "daemon.log").read_text(errors="replace")
        for line in text.splitlines():
            if "listening on http://127.0.0.1:" in line:
                return proc, line.split("listening on ", 1)[1].split()[0]
        if proc.poll() is not None:
            sys.exit(f"daemon exited: {text[-800:]}")
        time.sleep(0.2)
    sys.exit("daemon did not report its webhook address in 30 s")


async def measure(args, n: int, media_load) -> dict:
    rest = FakeTelnyxRest()
    server = await asyncio.start_server(rest.handle, "127.0.0.1", 0)
    rest.port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="vc-telnyx-media-") as t:
        tmp = Path(t)
        proc, url = await asyncio.to_thread(start_daemon, args.voicecall, n, tmp, rest.port)
        pidfile = tmp / "daemon.pid"
        pidfile.write_text(str(proc.pid))
        media_load.run_call = telnyx_run_call(rest, media_load)
        load_args = argparse.Namespace(
            url=url, n=n, d=args.d, ramp=0.05, audio="silence", settle=1.0, reanswer=False,
            setup_concurrency=2, server_pidfile=str(pidfile), aux_pidfile=None,
            label=f"voicecall-telnyx-n{n}")
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voicecall", default=str(REPO / ".venv/bin/voicecall"))
    ap.add_argument("--shared-bench", default=str(REPO.parent / "shared" / "bench"))
    ap.add_argument("-n", type=int, nargs="+", default=[20, 50])
    ap.add_argument("-d", type=float, default=20.0, help="seconds each call streams")
    args = ap.parse_args()
    sys.path.insert(0, args.shared_bench)
    os.chdir(args.shared_bench)
    import media_load  # the shared driver's receiving side and statistics

    keep = ("n", "calls_with_server_media", "p50_dev_ms", "p99_dev_ms", "max_dev_ms",
            "steady_p99_dev_ms", "drift_ms_max_abs", "underruns", "underrun_ms_total", "errors",
            "first_errors", "server_cpu_pct", "server_rss_mb_peak", "client_cpu_pct")
    for n in args.n:
        result = asyncio.run(measure(args, n, media_load))
        result["n"] = n
        print(json.dumps({k: result.get(k) for k in keep}), flush=True)


if __name__ == "__main__":
    main()
