"""The media endpoint with Plivo's framing: the stream token comes hex-encoded in the start
frame's ``extra_headers`` (as the ``<Stream extraHeaders>`` attribute gave it), and a stream
the provider reports over out of band (Plivo's StopStream callback, through the registry's
``end``) ends as if its socket had closed."""

from __future__ import annotations

import base64

import pytest
import trio
import trio.testing

from tests.daemon.asgi_socket import AsgiWebsocket
from voicecall_cli.daemon.media.endpoint import MediaStreams
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.providers.plivo.media import PlivoMediaCodec, token_for_xml

CALL_UUID = "4c1f1f4e-5d7c-4d1e-9a0b-3c2d1e0f9a8b"
STREAM = "8a2f1c0e-1111-2222-3333-444455556666"


class Socket(AsgiWebsocket):
    """One websocket into ``MediaStreams.asgi`` from Plivo's side."""

    def __init__(self) -> None:
        super().__init__(client_ip="198.51.100.30")

    def start(self, extra_headers: str) -> None:
        self.push({"event": "start", "sequenceNumber": 1, "start": {
            "callId": CALL_UUID, "streamId": STREAM, "accountId": "MAXXXXXXXXXXXXXXXXXX",
            "tracks": ["inbound"], "mediaFormat": {"encoding": "audio/x-mulaw",
                                                   "sampleRate": 8000}},
            "extra_headers": extra_headers})

    def media(self, chunk: int, extra_headers: str) -> None:
        payload = base64.b64encode(bytes([chunk]) * 160).decode()
        self.push({"event": "media", "sequenceNumber": chunk + 1, "streamId": STREAM,
                   "media": {"track": "inbound", "timestamp": str(chunk * 20), "chunk": chunk,
                             "payload": payload}, "extra_headers": extra_headers})


class Endpoint:
    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.registry = StreamRegistry()
        self.starts: list[tuple[str, str]] = []
        self.stops: list[tuple[str, str]] = []
        self.audio: list[int] = []
        self.streams = MediaStreams(
            registry=self.registry, codec=PlivoMediaCodec(), max_connections=4,
            max_pending=4, max_pending_per_ip=4, pre_start_timeout_s=5.0,
            on_start=lambda *a: self.starts.append(a), on_stop=lambda *a: self.stops.append(a),
            on_audio=lambda _pid, audio: self.audio.append(audio[0]))

    def extra_headers(self) -> str:
        """What the daemon's ``<Stream extraHeaders>`` says for the call."""
        return f"token={token_for_xml(self.registry.token(CALL_UUID))}"

    async def connect(self) -> Socket:
        sock = Socket()
        self.nursery.start_soon(self.streams.asgi, sock.scope, sock.receive, sock.send)
        await trio.testing.wait_all_tasks_blocked()
        return sock


@pytest.fixture
async def endpoint(env_nursery) -> Endpoint:
    e = Endpoint(env_nursery)
    await env_nursery.start(e.streams.run)
    return e


async def test_the_token_in_extra_headers_starts_the_stream_and_audio_flows(endpoint,
                                                                          clock) -> None:
    sock = await endpoint.connect()
    sock.start(endpoint.extra_headers())
    for chunk in (1, 2, 3):
        sock.media(chunk, endpoint.extra_headers())
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close is None
    assert endpoint.starts == [(CALL_UUID, STREAM)] and endpoint.streams.has_stream(CALL_UUID)
    assert endpoint.audio == [1, 2, 3]


@pytest.mark.parametrize("extra_headers", ["", "token=", "token=00ff", "token=not-hex",
                                           "other=1"])
async def test_a_start_without_the_calls_token_is_refused(endpoint, clock,
                                                          extra_headers: str) -> None:
    sock = await endpoint.connect()
    sock.start(extra_headers)
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close == (1008, "Unknown call")
    assert endpoint.starts == [] and not endpoint.streams.has_stream(CALL_UUID)


async def test_a_stream_plivo_reports_stopped_ends_and_its_socket_closes(endpoint,
                                                                        clock) -> None:
    sock = await endpoint.connect()
    sock.start(endpoint.extra_headers())
    await trio.testing.wait_all_tasks_blocked()
    endpoint.registry.end(CALL_UUID, "another-stream")  # not this stream: nothing happens
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close is None and endpoint.streams.has_stream(CALL_UUID)

    endpoint.registry.end(CALL_UUID, STREAM)
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close == (1000, "Stream stopped")
    assert endpoint.stops == [(CALL_UUID, STREAM)]
    assert not endpoint.streams.has_stream(CALL_UUID)
    endpoint.registry.end(CALL_UUID)  # already over: harmless
    await trio.testing.wait_all_tasks_blocked()
    assert endpoint.stops == [(CALL_UUID, STREAM)]
