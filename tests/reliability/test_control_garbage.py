"""Garbage on a real daemon's control socket (issue #14, the control part of the reliability
suite): random bytes, truncated and oversized HTTP, wrong methods, bad JSON, deep nesting,
absurd values in every field of every request type, lone surrogates and huge numbers.

Every answer must be a 4xx with a JSON error object (never a 500, never a hang: each exchange
has a generous socket timeout as a hang guard only), the daemon must stay up, and its state
must be intact: the call placed before the garbage is still there with the same transcript,
no call was placed or ended, and the daemon logged no failed request.

The generators only make requests that must be refused (each JSON body carries at least one
value its field cannot take), so a valid ``daemon.stop`` or ``voicecall.initiate`` is never
sent by chance. The fast parts run in the normal suite; the long runs are marked
``reliability``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Daemon, make_daemon
from tests.e2e.test_call_flow import place_answered_call
from tests.protocol.test_hostile_values import VALID  # one valid body per request type
from voicecall_cli.daemon.control.transport import MAX_BODY_BYTES, MAX_HEAD_BYTES
from voicecall_cli.protocol import REQUESTS
from voicecall_cli.protocol.messages import _FIELD_TYPES, INT_RANGES

HANG_GUARD_S = 30.0
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
LONG = settings(FAST, max_examples=1000)

PATHS = ["/v1/health", "/v1/events", *(f"/v1/{m}" for m in REQUESTS), "/", "/v1/", "/v2/health",
         "/v1/voicecall.nope", "/v1/health/../events", "//v1/health"]
ALLOWED = {"/v1/health": "GET", "/v1/events": "GET", **{f"/v1/{m}": "POST" for m in REQUESTS}}


def wire_fields(method: str) -> list[str]:
    cls = REQUESTS[method]
    return [cls.WIRE_NAMES.get(f.name, f.name) for f in dataclasses.fields(cls)]


# ---- the daemon and one exchange -------------------------------------------------------------

@dataclasses.dataclass
class Target:
    daemon: Daemon
    call_id: str
    before: dict[str, Any]

    def state(self) -> dict[str, Any]:
        call = self.daemon.call_state(self.call_id)
        calls = self.daemon.cli_json("calls", "--limit", "1000")["calls"]
        return {"pid": self.daemon.health()["pid"], "ended": call["endedAt"],
                "transcript": call["transcript"], "calls": sorted(c["callId"] for c in calls)}

    def assert_intact(self) -> None:
        assert self.daemon.proc is not None and self.daemon.proc.poll() is None
        assert self.state() == self.before
        log = self.daemon.log.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
        assert "control connection failed" not in log and "control request" not in log


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    daemon = make_daemon()
    try:
        daemon.start()
        call_id = place_answered_call(daemon)
        yield Target(daemon, call_id, {})
    finally:
        daemon.stop()
        shutil.rmtree(daemon.root, ignore_errors=True)


@pytest.fixture
def ready(target: Target) -> Iterator[Target]:
    """The module's daemon, its state checked intact after the test."""
    if not target.before:
        target.before = target.state()
    yield target
    target.assert_intact()


def exchange(daemon: Daemon, payload: bytes) -> bytes:
    """Send ``payload``, close our side, read the whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(HANG_GUARD_S)
        sock.connect(str(daemon.socket))
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we were done sending (too large): the answer is still read
        answer = bytearray()
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return bytes(answer)


def assert_refused(answer: bytes, payload: bytes) -> dict[str, Any]:
    """``answer`` is one 4xx response whose body is ``{"error": {"code", "message"}}``."""
    if not payload.strip(b"\r\n") and not answer:
        return {}  # nothing asked, nothing answered
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line[:10] == b"HTTP/1.1 4", (status_line, payload[:300])
    if payload.startswith(b"HEAD "):
        return {}  # a HEAD answer has no body
    error = json.loads(body)["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert error["code"] != "internal"
    return error


def refused(target: Target, payload: bytes) -> dict[str, Any]:
    return assert_refused(exchange(target.daemon, payload), payload)


def http(method: str, path: str, body: bytes | None = None,
         headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode("utf-8", "surrogateescape"), b"Host: voicecall"]
    lines += [k + b": " + v for k, v in headers or []]
    if body is not None:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


# ---- strategies -------------------------------------------------------------------------------

SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
# Text with at least one lone surrogate in it.
BAD_TEXT = st.tuples(st.text(max_size=30), SURROGATES, st.text(max_size=30)).map("".join)


def huge_int() -> st.SearchStrategy[str]:
    """A JSON integer literal with 20 to 9000 digits (Python parses at most 4300)."""
    return st.tuples(st.sampled_from(["", "-"]), st.integers(20, 9000),
                     st.sampled_from("123456789")).map(lambda t: t[0] + t[2] * t[1])


def json_value(value: Any) -> st.SearchStrategy[str]:
    return st.just(json.dumps(value))


NOT_A_STRING = st.one_of(
    st.integers(-(2**70), 2**70).map(str), huge_int(),
    st.floats(allow_nan=False).map(json.dumps), st.sampled_from(["NaN", "Infinity", "1e400"]),
    st.booleans().map(json.dumps),
    st.lists(st.text(max_size=5), max_size=3).map(json.dumps),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(json.dumps))
BAD_STRING = st.one_of(NOT_A_STRING, BAD_TEXT.map(json.dumps))


def bad_int(field: str) -> st.SearchStrategy[str]:
    low, high, _ = INT_RANGES[field]
    return st.one_of(
        st.integers(max_value=low - 1).map(str), st.integers(min_value=high + 1).map(str),
        st.integers(high + 1, 10**400).map(str), huge_int().filter(lambda t: len(t) > 25),
        st.floats().map(lambda f: json.dumps(f)),  # 1.5, NaN, Infinity: not integers
        st.sampled_from(['"12"', "true", "false", "[]", "{}", "1e400", "-0.0", "1.0"]),
        BAD_TEXT.map(json.dumps))


# What a flag (``record``) cannot take: anything but true, false (or null: absent).
BAD_BOOL = st.one_of(st.sampled_from(['"true"', '"false"', "1", "0", "1.0", "[]", "{}"]),
                     BAD_TEXT.map(json.dumps))


def bad_value(field: str) -> st.SearchStrategy[str]:
    kind = _FIELD_TYPES.get(field)
    return bad_int(field) if kind is int else BAD_BOOL if kind is bool else BAD_STRING


@st.composite
def absurd_body(draw: st.DrawFn) -> tuple[str, bytes]:
    """A request type and a JSON body with one value its field cannot take."""
    method = draw(st.sampled_from(sorted(REQUESTS)))
    fields = wire_fields(method)
    base = dict(VALID[method])
    how = draw(st.sampled_from(["field", "field", "field", "unknown", "surrogate-key"]
                               if fields else ["unknown", "surrogate-key"]))
    if how == "field":
        field = draw(st.sampled_from(fields))
        fragment = draw(bad_value(field))
    elif how == "unknown":
        field = draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in fields))
        fragment = draw(st.one_of(json_value(None), BAD_STRING))
    else:
        field = draw(BAD_TEXT)
        fragment = "1"
    base.pop(field, None)
    rest = json.dumps(base)[1:-1]
    text = "{" + (rest + ", " if rest else "") + json.dumps(field) + ": " + fragment + "}"
    body = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # surrogates as (invalid) UTF-8 bytes rather than \u escapes
        body = re.sub(rb"\\u(d[89a-f][0-9a-f]{2})",
                      lambda m: chr(int(m[1], 16)).encode("utf-8", "surrogatepass"), body,
                      flags=re.IGNORECASE)
    return method, body


def means_no_fields(payload: bytes) -> bool:
    """An empty body, ``null`` or ``{}``: a complete request to a method without fields."""
    try:
        return not payload.strip() or json.loads(payload) in (None, {})
    except (ValueError, RecursionError):
        return False


def nested(depth: int, opener: str) -> bytes:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return (opener * depth + "1" + closer * depth).encode()


BAD_JSON = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"{", b"}", b"[]", b"null", b"1", b'"x"', b"true", b"{'a': 1}",
                     b'{"callId": }', b"\xef\xbb\xbf{}", b"{\"a\":1,}", b"NaN", b"\x00"]),
    st.tuples(st.integers(900, 200_000), st.sampled_from(["[", '{"a":'])).map(
        lambda t: nested(*t)),
    huge_int().map(str.encode))


def not_a_request(payload: bytes) -> bool:
    """Random bytes that do not happen to open with a request line of the API (HTTP/1.1 lets
    a line end in a bare LF and the Host be empty, so a few such bytes make a valid
    ``voicecall.status`` with no body, which is rightly answered 200)."""
    return re.match(rb"(GET|POST) /v1/\S+ HTTP/1\.[01]\r?\n", payload) is None


@st.composite
def wrong_method(draw: st.DrawFn) -> bytes:
    path = draw(st.sampled_from(PATHS))
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO"]
    method = draw(st.sampled_from([m for m in methods if m != ALLOWED.get(path)]))
    body = draw(st.one_of(st.none(), st.binary(max_size=50)))
    return http(method, path, body)


@st.composite
def broken_http(draw: st.DrawFn) -> bytes:
    """A request cut short, or one whose framing lies or overflows a limit."""
    path = draw(st.sampled_from([f"/v1/{m}" for m in REQUESTS if m != "daemon.stop"]))
    kind = draw(st.sampled_from(["truncated", "short-body", "huge-length", "too-large",
                                 "long-head", "bad-chunks", "bad-header", "bad-version"]))
    if kind == "truncated":
        whole = http("POST", path, b'{"callId": "abc"}')
        return whole[:draw(st.integers(1, len(whole) - 1))]
    if kind == "short-body":
        size = draw(st.integers(5, 5000))
        return http("POST", path, None, [(b"Content-Length", str(size).encode())]) + b"{}"
    if kind == "huge-length":
        digits = draw(st.integers(8, 6000))
        return http("POST", path, None, [(b"Content-Length", b"9" * digits)]) + b"{}"
    if kind == "too-large":
        return http("POST", path, None, [(b"Content-Length", str(MAX_BODY_BYTES + 1).encode())]
                    ) + b"{" * 1000
    if kind == "long-head":
        return http("POST", path, b"{}", [(b"X-Pad", b"a" * (MAX_HEAD_BYTES + draw(
            st.integers(1, 4000))))])
    if kind == "bad-chunks":
        chunks = draw(st.sampled_from([b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{}", b"ffffffffff\r\n",
                                       b"-1\r\n\r\n", b"2\r\n{}\r\n"]))
        return http("POST", path, None, [(b"Transfer-Encoding", b"chunked")]) + chunks
    if kind == "bad-header":
        # a name holding a line break would end the head early, leaving a valid request
        name = draw(st.binary(min_size=1, max_size=20).filter(
            lambda n: b"\n" not in n and b"\r" not in n))
        return http("POST", path, None, [(name + b" :", b"x\x00y")]) + b"{}"
    version = draw(st.sampled_from([b"HTTP/9.9", b"HTTP/0.0", b"HTTP/2.0", b"HTTX/1.1",
                                    b"HTTP/1", b""]))
    return b"POST " + path.encode() + b" " + version + b"\r\nHost: v\r\n\r\n"


@st.composite
def bad_events_query(draw: st.DrawFn) -> bytes:
    """``GET /v1/events`` with a query it must refuse (never one that opens a stream)."""
    since = draw(st.one_of(
        huge_int().filter(lambda t: not t.startswith("-") and len(t) > 19),
        st.sampled_from(["-1", "1.5", "ALL", "%00", "%ED%B3%A9", "\uff13", "1e3", ""]).filter(
            bool),
        st.text(min_size=1, max_size=10).filter(lambda t: not (t.isascii() and t.isdigit())
                                                and t != "all")))
    extra = draw(st.sampled_from(["", "&since=1", "&zzz=1", "&callId=a&callId=b"]))
    quoted = since.encode("utf-8", "surrogatepass").replace(b"%", b"%25").replace(
        b" ", b"%20").replace(b"&", b"%26").replace(b"#", b"%23").replace(b"+", b"%2B")
    query = b"since=" + quoted + extra.encode()
    return b"GET /v1/events?" + query + b" HTTP/1.1\r\nHost: v\r\n\r\n"


# ---- the tests ---------------------------------------------------------------------------------

@FAST
@given(body=absurd_body())
def test_absurd_values_in_every_field_are_refused_naming_a_field(ready: Target, body) -> None:
    method, payload = body
    error = refused(ready, http("POST", f"/v1/{method}", payload))
    assert error["code"] in ("bad_request", "payload_too_large"), error


@FAST
@given(payload=BAD_JSON)
def test_bodies_that_are_not_a_json_object_are_refused(ready: Target, payload: bytes) -> None:
    for method in ("voicecall.status", "daemon.stop", "voicecall.initiate"):
        if method != "voicecall.initiate" and means_no_fields(payload):
            continue  # a valid status or stop, not garbage
        error = refused(ready, http("POST", f"/v1/{method}", payload))
        assert error["code"] == "bad_request"


@FAST
@given(payload=st.one_of(st.binary(max_size=300), wrong_method(), broken_http(),
                         bad_events_query()))
def test_broken_http_is_refused(ready: Target, payload: bytes) -> None:
    refused(ready, payload)


def test_every_request_type_refuses_a_lone_surrogate_and_a_5000_digit_number(ready: Target):
    """The deterministic corner of the above: each field of each request type once."""
    for method, fields in ((m, wire_fields(m)) for m in sorted(REQUESTS)):
        for field in fields:
            fragment = ("9" * 5000) if field in _FIELD_TYPES else json.dumps("caf\udce9")
            body = json.dumps({k: v for k, v in VALID[method].items() if k != field})
            body = body[:-1] + (", " if len(body) > 2 else "") + f'"{field}": {fragment}}}'
            error = refused(ready, http("POST", f"/v1/{method}", body.encode()))
            assert error["code"] == "bad_request" and (
                field in error["message"] or "number out of range" in error["message"]), error
    for version in (b"0.0", b"0.9", b"2.0", b"3.0"):  # a valid request but for its version
        error = refused(ready, b"GET /v1/health HTTP/" + version + b"\r\nHost: v\r\n\r\n")
        assert error["code"] == "bad_request"


@pytest.mark.reliability
@LONG
@given(body=absurd_body())
def test_long_absurd_values(ready: Target, body) -> None:
    method, payload = body
    refused(ready, http("POST", f"/v1/{method}", payload))


@pytest.mark.reliability
@LONG
@given(payload=st.one_of(st.binary(max_size=2000).filter(not_a_request), wrong_method(),
                         broken_http(), bad_events_query(), BAD_JSON.map(
                             lambda b: http("POST", "/v1/voicecall.speak", b))))
def test_long_garbage(ready: Target, payload: bytes) -> None:
    refused(ready, payload)
