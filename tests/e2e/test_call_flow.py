"""A user's whole session against a real daemon process, through the real CLI."""

from __future__ import annotations

import json

from .conftest import Daemon, unix_http


def place_answered_call(daemon: Daemon, message: str = "Hi, confirming tomorrow.") -> str:
    placed = daemon.cli_json("call", "--message", message)
    assert placed["initiated"] is True
    call_id = placed["callId"]

    def greeted() -> bool:
        call = daemon.call_state(call_id)
        return call["answeredAt"] is not None and any(
            t["speaker"] == "bot" for t in call["transcript"])

    daemon.wait_for(greeted, what="the call to be answered and greeted")
    return call_id


def test_call_continue_speak_end_status(daemon: Daemon) -> None:
    health = daemon.health()
    assert health["provider"] == "mock" and health["webhookUrl"].startswith("http://127.0.0.1:")
    assert not health["webhookUrl"].startswith("http://127.0.0.1:0/")

    call_id = place_answered_call(daemon)
    listed = daemon.cli_json("status")
    assert [c["callId"] for c in listed["calls"]] == [call_id]

    turn = daemon.cli_json("continue", "--call-id", call_id, "--message", "Does ten work?")
    assert turn == {"success": True, "transcript": "Yes, ten works."}
    human = daemon.cli("continue", "--call-id", call_id, "--message", "Anything else?",
                       check=True)
    assert human.stdout.strip() == "No, that is all."

    assert daemon.cli_json("speak", "--call-id", call_id, "--message", "Goodbye!") == {
        "success": True}
    assert daemon.cli_json("end", "--call-id", call_id) == {"success": True}

    ended = daemon.call_state(call_id)
    assert ended["state"] == "hangup-bot" and ended["endReason"] == "hangup-bot"
    assert [(t["speaker"], t["text"]) for t in ended["transcript"]] == [
        ("bot", "Hi, confirming tomorrow."),
        ("bot", "Does ten work?"), ("user", "Yes, ten works."),
        ("bot", "Anything else?"), ("user", "No, that is all."),
        ("bot", "Goodbye!"),
    ]
    assert ended["metadata"]["turnCount"] == 2
    assert daemon.cli_json("status")["calls"] == []
    # Ended calls are still found, from the store, after a restart too.
    daemon.stop()
    daemon.start()
    assert daemon.call_state(call_id)["state"] == "hangup-bot"


def test_errors_map_to_exit_codes(daemon: Daemon) -> None:
    missing = daemon.cli("status", "--call-id", "no-such-call")
    assert missing.returncode == 3
    assert daemon.cli("end", "--call-id", "no-such-call").returncode == 3
    assert daemon.cli("call", "--to", "12345", "--message", "x").returncode == 2
    call_id = place_answered_call(daemon)
    timed_out = daemon.cli("continue", "--call-id", call_id, "--message", "Hello?",
                           "--timeout", "0.01")
    # The mock replies after 100 ms, so a 10 ms wait times out.
    assert timed_out.returncode == 5, timed_out.stderr
    assert "Timed out waiting for transcript" in timed_out.stderr


def test_tail_resumes_without_loss_or_repeat(daemon: Daemon) -> None:
    call_id = place_answered_call(daemon)
    first = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True)
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    assert lines[0]["type"] == "snapshot"
    assert [c["callId"] for c in lines[0]["calls"]] == [call_id]
    seen = [e for e in lines[1:] if "cursor" in e and e["type"] != "heartbeat"]
    assert {"daemon.started", "call.created", "call.dialled", "call.state"} <= {
        e["type"] for e in seen}
    last = seen[-1]["cursor"]

    daemon.cli_json("continue", "--call-id", call_id, "--message", "Does ten work?")
    daemon.cli_json("end", "--call-id", call_id)

    resumed = daemon.cli("tail", "--since", str(last), "--no-follow", "--json", check=True)
    more = [json.loads(line) for line in resumed.stdout.splitlines()][1:]
    more = [e for e in more if e["type"] != "heartbeat"]
    everything = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True)
    full = [json.loads(line) for line in everything.stdout.splitlines()][1:]
    full = [e for e in full if e["type"] != "heartbeat"]
    assert [e["cursor"] for e in seen + more] == [e["cursor"] for e in full]
    assert len({e["cursor"] for e in full}) == len(full)
    assert {"call.transcript", "call.turn", "call.ended"} <= {e["type"] for e in more}
    only_call = daemon.cli("tail", "--since", "all", "--call-id", call_id, "--no-follow",
                           "--json", check=True)
    per_call = [json.loads(line) for line in only_call.stdout.splitlines()][1:]
    assert per_call and all(e.get("callId") == call_id for e in per_call
                            if e["type"] != "heartbeat")


def test_replayed_mock_webhook_has_no_side_effects(daemon: Daemon) -> None:
    import http.client
    from urllib.parse import urlsplit

    call_id = place_answered_call(daemon)
    url = urlsplit(daemon.health()["webhookUrl"])
    body = json.dumps({"event": {"type": "call.speech", "id": "speech-1", "callId": call_id,
                                 "transcript": "replayed words", "isFinal": True}}).encode()

    def post() -> int:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        conn.request("POST", url.path, body, {"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
        return status

    assert post() == 200
    before = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True).stdout
    assert post() == 200
    after = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True).stdout
    assert before.splitlines()[1:] == after.splitlines()[1:]
    user_lines = [t for t in daemon.call_state(call_id)["transcript"] if t["speaker"] == "user"]
    assert [t["text"] for t in user_lines] == ["replayed words"]


def test_control_socket_survives_garbage(daemon: Daemon) -> None:
    import socket

    for payload in (b"\x00\xffgarbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"A" * 70000,
                    b"POST /v1/voicecall.status HTTP/1.1\r\nHost: v\r\nContent-Length: 5\r\n"
                    b"\r\n{\"cal"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(daemon.socket))
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                s.recv(65536)
            except OSError:
                pass
    status, body = unix_http(daemon.socket, "POST", "/v1/voicecall.status", b'{"callId": ')
    assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"
    # An oversized body is refused from its declared length, before it is read.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(daemon.socket))
        s.sendall(b"POST /v1/voicecall.status HTTP/1.1\r\nHost: v\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n{")
        reply = s.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"payload_too_large" in reply
    assert daemon.health()["ok"] is True
    assert daemon.proc is not None and daemon.proc.poll() is None
