"""Hostile media-stream input for the reliability tests: malformed frames of every kind, each
carrier's frames with every field replaced by a wrong value, and a raw websocket client that
can send what no websocket library will (invalid UTF-8 in a text frame).

Everything here is data and loopback I/O; nothing is carrier-specific except the templates.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import struct
from collections.abc import Iterator
from typing import Any

import trio

# Frames no carrier's codec can decode, one of every kind (within hypercorn's 64 KB message
# limit: a larger one is hypercorn's to refuse, 1009, see OVERSIZED).
BAD_FRAMES: dict[str, str | bytes] = {
    "not JSON": "hello",
    "deep nesting, 60 KB": "[" * 60_000,
    "deep nesting in a field": '{"event":"start","start":' + "[" * 30_000 + "}",
    "deep objects": '{"a":' * 10_000 + "1" + "}" * 10_000,
    "huge string, 60 KB": json.dumps({"event": "media", "media": {"payload": "!" * 60_000}}),
    "a JSON array": "[1, 2, 3]",
    "a JSON string": '"start"',
    "event not a string": '{"event": 5}',
    "no event": '{"start": {}}',
    "payload not base64": '{"event":"media","media":{"payload":"%%%"}}',
    "chunk is Infinity": '{"event":"media","media":{"payload":"","chunk":Infinity}}',
    "lone surrogate escape": '{"event":"\\ud800","media":{"payload":"\\udfff"}}',
    "truncated": '{"event":"media","media":{"payload":"/w=',
    "binary: invalid UTF-8": b'{"event":"media","media":{"payload":"\xff\xfe"}}',
    "binary: garbage": bytes(range(256)) * 4,
    "binary: UTF-16 JSON": '{"event": 5}'.encode("utf-16"),
}

OVERSIZED = b"[" * 70_000

# Values that are the wrong type (or an absurd value) for every field of every frame.
WRONG_VALUES: list[Any] = [None, True, 0, -1, 10**30, 1e308, float("inf"), float("nan"), "",
                           "x" * 4096, "\ud800", [], {}, [[[[]]]], {"a": {"b": {}}}, "9" * 5000]

PAYLOAD = base64.b64encode(b"\xff" * 160).decode()

# A carrier's frames as it sends them (wire facts), without its stop: a valid stop would end
# the stream on purpose, which is not hostile.
TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "twilio": [
        {"event": "connected", "protocol": "Call", "version": "1.0.0"},
        {"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
            "accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA-unknown",
            "tracks": ["inbound"], "customParameters": {"token": "t"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}},
        {"event": "media", "sequenceNumber": "2", "streamSid": "MZ1", "media": {
            "track": "inbound", "chunk": "1", "timestamp": "5", "payload": PAYLOAD}},
        {"event": "mark", "sequenceNumber": "3", "streamSid": "MZ1", "mark": {"name": "m1"}},
        {"event": "dtmf", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": "1"}},
    ],
    "telnyx": [
        {"event": "connected", "version": "1.0.0", "x-telnyx-streaming-auth-token": "t"},
        {"event": "start", "sequence_number": "1", "stream_id": "s1", "start": {
            "user_id": "u", "call_control_id": "v3:unknown", "call_session_id": "cs",
            "from": "+15550001111", "to": "+15550002222", "client_state": "dW5rbm93bg==",
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}},
        {"event": "media", "sequence_number": "2", "stream_id": "s1", "media": {
            "track": "inbound", "chunk": "1", "timestamp": "5", "payload": PAYLOAD}},
        {"event": "mark", "sequence_number": "3", "stream_id": "s1", "mark": {"name": "m1"}},
        {"event": "dtmf", "sequence_number": "4", "stream_id": "s1", "dtmf": {"digit": "1"}},
        {"event": "error", "sequence_number": "5", "stream_id": "s1", "payload": {
            "code": 100002, "title": "unknown_error", "detail": "x"}},
    ],
    "plivo": [
        {"event": "start", "sequenceNumber": 1, "extra_headers": "token=abcd", "start": {
            "callId": "unknown", "streamId": "s1", "accountId": "MA1", "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}}},
        {"event": "media", "sequenceNumber": 2, "streamId": "s1", "media": {
            "track": "inbound", "timestamp": "5", "chunk": 1, "payload": PAYLOAD}},
        {"event": "dtmf", "sequenceNumber": 3, "streamId": "s1", "dtmf": {
            "track": "inbound", "digit": "1"}},
        {"event": "playedStream", "sequenceNumber": 4, "streamId": "s1", "name": "m1"},
        {"event": "clearedAudio", "sequenceNumber": 5, "streamId": "s1"},
    ],
}


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))


def mutations(carrier: str) -> Iterator[str]:
    """Each template with each field (at any depth, ``event`` included) replaced by each wrong
    value, then with each field left out."""
    for template in TEMPLATES[carrier]:
        for path in _paths(template):
            for value in [*WRONG_VALUES, _MISSING]:
                frame = copy.deepcopy(template)
                parent = frame
                for key in path[:-1]:
                    parent = parent[key]
                if value is _MISSING:
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = value
                yield json.dumps(frame)


_MISSING = object()


def every_bad_frame(carrier: str) -> list[str | bytes]:
    return [*BAD_FRAMES.values(), *mutations(carrier)]


# -- a raw websocket client ------------------------------------------------------------------------


class RawSocket:
    """A client websocket written by hand (RFC 6455), so a test can send frames that websocket
    libraries refuse to: a text frame that is not UTF-8, say."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = b""

    @classmethod
    async def connect(cls, port: int, path: str, host: bytes = b"127.0.0.1"
                      ) -> tuple[RawSocket, int]:
        """(the socket, the HTTP status of the upgrade answer)."""
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16))
        await stream.send_all(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host
                              + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              b"Sec-WebSocket-Key: " + key
                              + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        sock = cls(stream)
        head = await sock._read_until(b"\r\n\r\n")
        return sock, int(head.split(b" ", 2)[1])

    async def send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        await self._stream.send_all(head + mask + masked)

    async def close_code(self) -> int | None:
        """Read until the server's close frame; its code (None if the connection just ends)."""
        while True:
            try:
                head = await self._read_exactly(2)
            except EOFError:
                return None
            opcode, size = head[0] & 0x0F, head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", await self._read_exactly(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", await self._read_exactly(8))[0]
            payload = await self._read_exactly(size)
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    async def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
