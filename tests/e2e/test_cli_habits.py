"""The habits users bring from gh and tailscale, against a real daemon through the real CLI:
past calls, short ids, positional ids, a message from a file or stdin, another caller id,
and `call --wait`."""

from __future__ import annotations

import json
import os
import subprocess

from .conftest import VOICECALL, Daemon
from .test_call_flow import place_answered_call

FAST_NOTIFY = """
[outbound]
defaultMode = "conversation"
notifyHangupDelaySec = 0
"""


def test_calls_lists_past_and_present_calls_with_filters(daemon: Daemon) -> None:
    ended = place_answered_call(daemon, "First call.")
    daemon.cli("end", ended, check=True)
    live = place_answered_call(daemon, "Second call.")

    listed = daemon.cli_json("calls")["calls"]
    assert [c["callId"] for c in listed] == [live, ended]
    assert listed[1]["state"] == "hangup-bot" and listed[1]["endedAt"] is not None
    assert [c["callId"] for c in daemon.cli_json("calls", "--state", "active")["calls"]] == [live]
    assert [c["callId"] for c in daemon.cli_json("calls", "--state", "ended")["calls"]] == [ended]
    assert [c["callId"] for c in daemon.cli_json("calls", "--state", "hangup-bot")["calls"]] \
        == [ended]
    assert [c["callId"] for c in daemon.cli_json("calls", "--limit", "1")["calls"]] == [live]
    assert len(daemon.cli_json("calls", "--since", "1h")["calls"]) == 2
    assert daemon.cli_json("calls", "--since", "2999-01-01")["calls"] == []

    human = daemon.cli("calls", check=True).stdout
    assert live[:8] in human and ended[:8] in human
    bad = daemon.cli("calls", "--state", "sleeping")
    assert bad.returncode == 2 and "state must be one of" in bad.stderr
    assert daemon.cli("calls", "--since", "yesterday-ish").returncode == 2


def test_short_and_positional_call_ids_work_everywhere(daemon: Daemon) -> None:
    call_id = place_answered_call(daemon)
    short = call_id[:8]
    assert daemon.cli_json("status", short)["call"]["callId"] == call_id
    turn = daemon.cli_json("continue", short, "-m", "Does ten work?")
    assert turn["transcript"] == "Yes, ten works."
    assert daemon.cli_json("speak", "--call-id", short, "-m", "Noted.") == {"success": True}
    twice = daemon.cli("end", short, "--call-id", call_id)
    assert twice.returncode == 2 and "give the call id once" in twice.stderr
    assert daemon.cli_json("end", short) == {"success": True}
    assert daemon.call_state(call_id)["state"] == "hangup-bot"
    events = daemon.cli("tail", "--call-id", short, "--since", "all", "--no-follow", "--json",
                        check=True).stdout.splitlines()[1:]
    assert events and {json.loads(line)["callId"] for line in events} == {call_id}
    missing = daemon.cli("status", "--json", "ffffffff")
    assert missing.returncode == 3
    assert json.loads(missing.stdout)["error"]["code"] == "call_not_found"


def test_message_from_a_file_or_stdin_and_another_caller_id(daemon: Daemon) -> None:
    script = daemon.root / "greeting.txt"
    script.write_text("Hello from a file.\n")
    from_file = daemon.cli_json("call", "--message-file", str(script), "--from", "+15550004444")
    call = daemon.wait_for(lambda: (c := daemon.call_state(from_file["callId"]))["transcript"]
                           and c, what="the greeting")
    assert call["transcript"][0]["text"] == "Hello from a file."
    assert call["from"] == "+15550004444"

    piped = subprocess.run([*VOICECALL, "--socket", str(daemon.socket), "speak",
                            from_file["callId"], "--message-file", "-"],
                           input="Said through stdin.", capture_output=True, text=True,
                           timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert piped.returncode == 0, piped.stderr
    texts = [t["text"] for t in daemon.call_state(from_file["callId"])["transcript"]]
    assert texts[-1] == "Said through stdin."
    both = daemon.cli("call", "-m", "x", "--message-file", str(script))
    assert both.returncode == 2 and "give the message once" in both.stderr
    neither = daemon.cli("call", "--json")
    assert neither.returncode == 2 and json.loads(neither.stdout)["error"]["code"] == "usage"
    bad_from = daemon.cli("call", "-m", "x", "--from", "12")
    assert bad_from.returncode == 2 and "from:" in bad_from.stderr


def test_call_wait_prints_the_outcome_and_transcript(daemon_factory) -> None:
    daemon: Daemon = daemon_factory()
    daemon.config.write_text(daemon.config.read_text().replace(
        '[outbound]\ndefaultMode = "conversation"\n', FAST_NOTIFY))
    daemon.start()
    human = daemon.cli("call", "--mode", "notify", "-m", "Your order shipped.", "--wait",
                       check=True)
    assert "Your order shipped." in human.stdout and "hangup-bot" in human.stdout
    assert "waiting for it to end" in human.stderr
    as_json = daemon.cli_json("call", "--mode", "notify", "-m", "Again.", "--wait")
    assert as_json["initiated"] is True
    call = as_json["call"]
    assert call["callId"] == as_json["callId"] and call["endedAt"] is not None
    assert [t["text"] for t in call["transcript"]] == ["Again."]


def test_call_wait_exits_1_when_nobody_answers(daemon_factory) -> None:
    daemon: Daemon = daemon_factory()
    daemon.config.write_text(daemon.config.read_text() + 'outcome = "busy"\n')
    daemon.start()
    proc = daemon.cli("call", "-m", "Hello?", "--wait", "--json")
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    assert document["call"]["state"] == "busy" and document["call"]["answeredAt"] is None
    assert "ended without being answered: busy" in proc.stderr


def test_call_wait_says_where_to_look_when_the_daemon_dies(daemon: Daemon) -> None:
    waiting = subprocess.Popen(
        [*VOICECALL, "--socket", str(daemon.socket), "call", "-m", "Hello?", "--wait", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    call_id = daemon.wait_for(lambda: next(iter(daemon.cli_json("calls")["calls"]), None),
                              what="the call")["callId"]
    daemon.kill9()
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 7, err
    error = json.loads(out)["error"]
    assert error["code"] == "daemon_not_running"
    assert error["hint"] == f"see how it went with: voicecall status {call_id}"
