"""The CLI's small HTTP/1.1 reader against canned server bytes on a real Unix socket."""

from __future__ import annotations

import socket
import tempfile
import threading
from pathlib import Path

import pytest

from voicecall_cli.client.unix_http import (
    IncompleteResponse,
    MalformedResponse,
    UnixHttpConnection,
)


def serve_once(reply: bytes) -> tuple[Path, threading.Thread, list[bytes]]:
    path = Path(tempfile.mkdtemp(prefix="vch", dir="/tmp")) / "s.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    received: list[bytes] = []

    def run() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            received.append(data)
            try:
                for i in range(0, len(reply), 7):  # dribble it out in small pieces
                    conn.sendall(reply[i:i + 7])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: it refused what it had seen so far

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return path, thread, received


def exchange(reply: bytes, body: bytes | None = None):
    path, thread, received = serve_once(reply)
    conn = UnixHttpConnection(path, timeout=5)
    try:
        conn.request("POST", "/v1/x", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response, response.read(), received
    finally:
        conn.close()
        thread.join(5)


def test_content_length_body_and_request_shape() -> None:
    response, body, received = exchange(
        b"HTTP/1.1 200 OK\r\nX-Voicecall-Protocol: 1\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
        b"{}")
    assert response.status == 200 and body == b'{"ok":true}'
    assert response.getheader("x-voicecall-protocol") == "1"
    head = received[0].decode()
    assert head.startswith("POST /v1/x HTTP/1.1\r\n") and "Content-Length: 2\r\n" in head


def test_chunked_lines_are_decoded_across_chunk_boundaries() -> None:
    payload = b'{"a":1}\n{"b":2}\n'
    chunks = b"5\r\n" + payload[:5] + b"\r\n" + b"b;ext=1\r\n" + payload[5:] + b"\r\n0\r\n\r\n"
    path, thread, _ = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 + chunks)
    conn = UnixHttpConnection(path, timeout=5)
    conn.request("GET", "/v1/events")
    response = conn.getresponse()
    assert [response.readline(), response.readline(), response.readline()] == [
        b'{"a":1}\n', b'{"b":2}\n', b""]
    conn.close()
    thread.join(5)


def test_body_until_eof_without_framing() -> None:
    _, body, _ = exchange(b"HTTP/1.0 200 OK\r\n\r\nplain")
    assert body == b"plain"


@pytest.mark.parametrize("reply", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n",
                                   b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"])
def test_not_http_is_malformed(reply: bytes) -> None:
    with pytest.raises(MalformedResponse):
        exchange(reply)


@pytest.mark.parametrize("reply", [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                                   b"HTTP/1.1 200 OK\r\nContent-",
                                   b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"])
def test_early_close_is_incomplete(reply: bytes) -> None:
    with pytest.raises(IncompleteResponse):
        exchange(reply)
