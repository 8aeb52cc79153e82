"""The media-stream upgrade request, before the endpoint accepts it: is it well formed, which
token does it present, and how an upgrade is refused with an HTTP status.

Pure functions of the ASGI scope, plus :func:`refuse`, which answers the upgrade request
(nothing is held: the caller returns right after).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Any]

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_PORT = re.compile(r"[0-9]{1,5}\Z")


def valid_host(value: bytes) -> bool:
    """Whether a ``Host`` header value is ``host[:port]``: a DNS name of RFC 1123 labels (253
    characters at most, one trailing dot allowed), an IPv4 address, or an IPv6 address in
    brackets; a port is 0-65535 in decimal. No user info, spaces or other characters."""
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return False
    if text.startswith("["):
        end = text.find("]")
        if end == -1 or "%" in text[:end]:  # no zone ids: they mean nothing to a peer
            return False
        try:
            ipaddress.IPv6Address(text[1:end])
        except ValueError:
            return False
        rest = text[end + 1:]
        return rest == "" or (rest.startswith(":") and _valid_port(rest[1:]))
    host, colon, port = text.partition(":")
    if colon and not _valid_port(port):
        return False
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def _valid_port(port: str) -> bool:
    return bool(_PORT.match(port)) and int(port) <= 65535


def upgrade_problem(scope: Scope) -> str | None:
    """Why the upgrade request is malformed (the body of a 400), or None when it is fine:
    HTTP/1.1 needs exactly one valid ``Host`` and one ``Sec-WebSocket-Key`` that is 16 bytes
    in base64 (RFC 6455 section 4.2.1); HTTP/2 names the authority elsewhere and has no key
    (RFC 8441), but a ``Host`` it sends must still be valid."""
    headers = scope.get("headers") or ()
    hosts = [value for name, value in headers if name.lower() == b"host"]
    http2 = str(scope.get("http_version", "")).startswith("2")
    if len(hosts) > 1:
        return "More than one Host header"
    if not hosts and not http2:
        return "No Host header"
    if hosts and not valid_host(hosts[0]):
        return "Invalid Host header"
    keys = [value for name, value in headers if name.lower() == b"sec-websocket-key"]
    if not http2 and (len(keys) != 1 or not _valid_key(keys[0])):
        return "Invalid Sec-WebSocket-Key header"
    return None


def _valid_key(value: bytes) -> bool:
    try:
        return len(base64.b64decode(value.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def presented_token(scope: Scope, header: str | None) -> str | None:
    """The token the upgrade request presents: in the codec's header, else ``?token=``."""
    if header is not None:
        wanted = header.encode("latin-1")
        for name, value in scope.get("headers") or ():
            if name.lower() == wanted and value:
                return value.decode("latin-1")
    query = scope.get("query_string") or b""
    values = parse_qs(query.decode("latin-1")).get("token")
    return values[0] if values else None


async def refuse(scope: Scope, send: Send, status: int, body: bytes) -> None:
    """Answer the upgrade with HTTP ``status`` and a text body instead of accepting it, through
    the ASGI ``websocket.http.response`` extension (hypercorn has it); without it, close before
    accepting (the server answers 403)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1013 if status == 503 else 1008})
