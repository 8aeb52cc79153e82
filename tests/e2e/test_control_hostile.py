"""Hostile input on a real daemon's control socket (issue #14 items 2, 5 and 8): text that is
not UTF-8, absurd numbers and a crowd of ``tail`` followers are refused or served, and the
daemon keeps answering ``status``, ``tail``, ``call``, ``end`` and ``daemon stop``."""

from __future__ import annotations

import json
import socket
from contextlib import ExitStack

from voicecall_cli.daemon.control.server import MAX_FOLLOWERS

from .conftest import Daemon, unix_http
from .test_call_flow import place_answered_call

NOT_UTF8 = "caf\udce9"  # what Python makes of the argv bytes b"caf\xe9"


def post(daemon: Daemon, method: str, body: bytes) -> tuple[int, dict]:
    status, raw = unix_http(daemon.socket, "POST", f"/v1/{method}", body, timeout=30)
    return status, json.loads(raw)


def bad_request(daemon: Daemon, method: str, body: bytes) -> str:
    status, answer = post(daemon, method, body)
    assert (status, answer["error"]["code"]) == (400, "bad_request"), answer
    return answer["error"]["message"]


def transcript(daemon: Daemon, call_id: str) -> list[dict]:
    return daemon.call_state(call_id)["transcript"]


def test_text_that_is_not_utf8_is_refused_and_every_call_stays_reachable(daemon: Daemon):
    call_id = place_answered_call(daemon)
    # The CLI refuses argv bytes that are not UTF-8 itself, as a usage error.
    refused = daemon.cli("call", "--message", NOT_UTF8)
    assert refused.returncode == 2, refused.stderr
    assert "not valid UTF-8" in refused.stderr and "caf\\xe9" in refused.stderr
    spoken = daemon.cli("speak", call_id, "--message", NOT_UTF8, "--json")
    assert spoken.returncode == 2 and json.loads(spoken.stdout)["error"]["code"] == "usage"
    # On the socket, a lone surrogate escape in any string field is a 400 naming the field.
    escaped = json.dumps(NOT_UTF8)  # "caf\udce9", valid JSON
    for method, body in [
        ("voicecall.initiate", f'{{"message": {escaped}}}'),
        ("voicecall.initiate", f'{{"message": "hi", "to": "+15550001111", '
                               f'"idempotencyKey": {escaped}}}'),
        ("voicecall.speak", f'{{"callId": "{call_id}", "message": {escaped}}}'),
        ("voicecall.continue", f'{{"callId": "{call_id}", "message": {escaped}}}'),
        ("voicecall.status", f'{{"callId": {escaped}}}'),
        ("voicecall.end", f'{{"callId": "\\ud800{call_id}"}}'),
    ]:
        message = bad_request(daemon, method, body.encode())
        assert "is not valid UTF-8 text" in message
    assert daemon.cli("calls", "--json", check=True).returncode == 0
    # status, tail and end of the live call still work, and nothing was spoken on it.
    assert [t["text"] for t in transcript(daemon, call_id) if "caf" in t["text"]] == []
    assert [c["callId"] for c in daemon.cli_json("status")["calls"]] == [call_id]
    tail = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True)
    assert call_id in tail.stdout
    assert daemon.cli_json("end", call_id) == {"success": True}
    assert daemon.call_state(call_id)["endedAt"] is not None


def test_absurd_numbers_are_refused_before_anything_is_spoken(daemon: Daemon):
    call_id = place_answered_call(daemon)
    spoken_before = transcript(daemon, call_id)
    huge = "9" * 5000  # beyond the 4300 digits Python parses from text
    for method, body in [
        ("voicecall.continue", f'{{"callId": "{call_id}", "message": "Hi?", '
                               f'"timeoutMs": {huge}}}'),
        ("voicecall.continue", f'{{"callId": "{call_id}", "message": "Hi?", '
                               f'"timeoutMs": {10**400}}}'),
        ("voicecall.continue", f'{{"callId": "{call_id}", "message": "Hi?", '
                               f'"timeoutMs": 1e400}}'),
        ("voicecall.continue", f'{{"callId": "{call_id}", "message": "Hi?", '
                               f'"timeoutMs": NaN}}'),
        ("voicecall.calls", f'{{"since": {huge}}}'),
        ("voicecall.calls", f'{{"since": {10**400}}}'),
        ("voicecall.calls", f'{{"limit": -{huge}}}'),
    ]:
        message = bad_request(daemon, method, body.encode())
        assert len(message) < 300
        field = "timeoutMs" if "timeoutMs" in body else ("since" if "since" in body else "limit")
        assert field in message or "number out of range" in message, message
    status, raw = unix_http(daemon.socket, "GET", f"/v1/events?since={huge}", timeout=30)
    assert status == 400 and b"bad_request" in raw
    assert transcript(daemon, call_id) == spoken_before  # the prompt was never spoken
    assert daemon.cli_json("end", call_id) == {"success": True}


def open_follower(daemon: Daemon) -> tuple[socket.socket, bytes]:
    """A ``tail`` that stays connected: the request sent and the response head read."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(daemon.socket))
    sock.sendall(b"GET /v1/events HTTP/1.1\r\nHost: voicecall\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


def test_many_tail_followers_never_starve_requests(daemon: Daemon):
    with ExitStack() as stack:
        heads = []
        for _ in range(MAX_FOLLOWERS + 6):
            sock, head = open_follower(daemon)
            stack.callback(sock.close)
            heads.append(head)
        streaming = [h for h in heads if h.startswith(b"HTTP/1.1 200 ")]
        refused = [h for h in heads if h.startswith(b"HTTP/1.1 409 ")]
        assert (len(streaming), len(refused)) == (MAX_FOLLOWERS, 6), heads[-1]
        one_more = daemon.cli("tail", "--json", timeout=30)
        assert one_more.returncode == 6, one_more.stderr  # conflict, at once, not a hang
        assert json.loads(one_more.stdout)["error"]["code"] == "conflict"
        assert "too many event streams" in one_more.stderr
        # Requests have their own budget: status, call and daemon stop all answer.
        assert daemon.cli_json("status", timeout=30)["calls"] == []
        placed = daemon.cli_json("call", "--message", "Hello", timeout=30)
        assert placed["initiated"] is True
        stopped = daemon.cli("daemon", "stop", timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        assert daemon.proc is not None and daemon.proc.wait(timeout=30) == 0
