"""The media endpoint with Telnyx's framing: the stream token minted for our call id (dial
time) and presented in the upgrade header or the ``connected`` frame, and caller audio put
back in order before it reaches the transcriber (``on_audio``)."""

from __future__ import annotations

import base64

import pytest
import trio
import trio.testing

from tests.daemon.asgi_socket import AsgiWebsocket
from voicecall_cli.daemon.media.endpoint import MediaStreams
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.providers.telnyx.media import TOKEN_HEADER, TelnyxMediaCodec
from voicecall_cli.providers.telnyx.state import encode_client_state

CALL_ID = "0f6b2f4e-5d7c-4d1e-9a0b-3c2d1e0f9a8b"
PID = "v3:call-control-7"
STREAM = "stream-1"


class Socket(AsgiWebsocket):
    """One websocket into ``MediaStreams.asgi`` from Telnyx's side."""

    def __init__(self, header_token: str | None) -> None:
        super().__init__(client_ip="198.51.100.20", headers=[
            (TOKEN_HEADER.encode(), header_token.encode())] if header_token else [])

    def start(self, client_state: str | None = encode_client_state(CALL_ID)) -> None:
        self.push({"event": "start", "sequence_number": "1", "stream_id": STREAM,
                   "start": {"call_control_id": PID, "client_state": client_state,
                             "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                              "channels": 1}}})

    def media(self, chunk: int) -> None:
        payload = base64.b64encode(bytes([chunk]) * 160).decode()
        self.push({"event": "media", "sequence_number": str(chunk + 1), "stream_id": STREAM,
                   "media": {"track": "inbound", "chunk": str(chunk),
                             "timestamp": str(chunk * 20), "payload": payload}})


class Endpoint:
    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.registry = StreamRegistry()
        self.starts: list[tuple[str, str]] = []
        self.audio: list[int] = []
        self.streams = MediaStreams(
            registry=self.registry, codec=TelnyxMediaCodec(), max_connections=4,
            max_pending=4, max_pending_per_ip=4, pre_start_timeout_s=5.0,
            on_start=lambda *a: self.starts.append(a), on_stop=lambda *a: None,
            on_audio=lambda _pid, audio: self.audio.append(audio[0]))

    async def connect(self, header_token: str | None) -> Socket:
        sock = Socket(header_token)
        self.nursery.start_soon(self.streams.asgi, sock.scope, sock.receive, sock.send)
        await trio.testing.wait_all_tasks_blocked()
        return sock


@pytest.fixture
async def endpoint(env_nursery) -> Endpoint:
    e = Endpoint(env_nursery)
    await env_nursery.start(e.streams.run)
    return e


async def test_the_header_token_minted_for_our_call_id_starts_the_stream(endpoint,
                                                                       clock) -> None:
    sock = await endpoint.connect(endpoint.registry.token(CALL_ID))
    sock.start()
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close is None
    assert endpoint.starts == [(PID, STREAM)] and endpoint.streams.has_stream(PID)


async def test_the_token_may_come_in_the_connected_frame(endpoint, clock) -> None:
    sock = await endpoint.connect(None)
    sock.push({"event": "connected", "version": "1.0.0",
               TOKEN_HEADER: endpoint.registry.token(CALL_ID)})
    sock.start()
    await trio.testing.wait_all_tasks_blocked()
    assert endpoint.starts == [(PID, STREAM)]


@pytest.mark.parametrize("case", ["no token", "wrong token", "token of the control id",
                                  "no client_state", "another call's client_state"])
async def test_refused_starts_close_1008(endpoint, clock, case: str) -> None:
    token = {"no token": None, "wrong token": "nope",
             "token of the control id": endpoint.registry.token(PID)}.get(
                 case, endpoint.registry.token(CALL_ID))
    sock = await endpoint.connect(token)
    sock.start(client_state={"no client_state": None,
                             "another call's client_state": encode_client_state("other")}.get(
                                 case, encode_client_state(CALL_ID)))
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close == (1008, "Unknown call")
    assert endpoint.starts == []


async def test_out_of_order_caller_frames_reach_on_audio_in_order(endpoint, clock) -> None:
    sock = await endpoint.connect(endpoint.registry.token(CALL_ID))
    sock.start()
    for chunk in [1, 2, 3, 5, 4, 6, 8, 7, 9, 10, 12, 11]:
        sock.media(chunk)
    sock.push({"event": "stop", "sequence_number": "99", "stream_id": STREAM,
               "stop": {"call_control_id": PID}})
    await trio.testing.wait_all_tasks_blocked()
    assert endpoint.audio == list(range(1, 13))  # the last ones flushed by the stop
