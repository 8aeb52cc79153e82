"""A server answering with numbers no header can mean (superscript digits, 5,000 digits) gets
a clean error from the CLI's client, never a ValueError (issue #14 item 8, the client's side)."""

from __future__ import annotations

import pytest

from voicecall_cli.client.control import ControlClient
from voicecall_cli.client.unix_http import MalformedResponse
from voicecall_cli.protocol import ApiError, ErrorCode

from .test_unix_http import exchange, serve_once


@pytest.mark.parametrize("length", ["\u00b2", "9" * 5000, "1\u00b9"])
def test_a_content_length_that_is_no_ascii_number_is_malformed(length: str) -> None:
    with pytest.raises(MalformedResponse, match="bad Content-Length"):
        exchange(b"HTTP/1.1 200 OK\r\nContent-Length: " + length.encode("latin-1")
                 + b"\r\n\r\n{}")


@pytest.mark.parametrize("version", ["\u00b2", "9" * 5000])
def test_a_protocol_header_that_is_no_ascii_number_is_a_protocol_mismatch(version: str) -> None:
    path, thread, _ = serve_once(b"HTTP/1.1 200 OK\r\nX-Voicecall-Protocol: "
                                 + version.encode("latin-1")
                                 + b"\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
    try:
        with pytest.raises(ApiError) as err:
            ControlClient(path, timeout=5).health()
    finally:
        thread.join(5)
    assert err.value.code is ErrorCode.PROTOCOL_MISMATCH
