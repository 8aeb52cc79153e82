"""What the README promises about ``continue`` on a running daemon (issue #14, item 21):
``transcriptTimeoutMs`` bounds each turn (exit 5), and Ctrl-C ends the wait with exit 130.

A real ``voicecall daemon run`` on the mock carrier whose callee never answers within a test,
so nothing here depends on how fast the machine is: the only bounds are hang guards.
"""

from __future__ import annotations

import json
import signal
import subprocess

from .conftest import VOICECALL, Daemon
from .test_call_flow import place_answered_call


def silent_callee_daemon(daemon_factory, transcript_timeout_ms: int) -> Daemon:
    """The e2e base daemon whose mock callee takes ten minutes to say its one reply."""
    daemon: Daemon = daemon_factory()
    base = daemon.config.read_text()
    text = (f"transcriptTimeoutMs = {transcript_timeout_ms}\n" + base) \
        .replace("replyDelayMs = 100\n", "replyDelayMs = 600000\n") \
        .replace('replies = ["Yes, ten works.", "No, that is all."]', 'replies = ["Too late."]')
    assert "replyDelayMs = 600000" in text and "Too late." in text  # the base still reads so
    daemon.config.write_text(text)
    daemon.start()
    return daemon


def said(daemon: Daemon, call_id: str) -> list[tuple[str, str]]:
    return [(t["speaker"], t["text"]) for t in daemon.call_state(call_id)["transcript"]]


def test_transcript_timeout_ms_bounds_a_continue_and_the_call_goes_on(daemon_factory) -> None:
    # 1.5 s instead of the default 180 s: a daemon that ignored the key would meet the hang guard.
    daemon = silent_callee_daemon(daemon_factory, transcript_timeout_ms=1500)
    call_id = place_answered_call(daemon)
    for message in ("Does ten work?", "Are you there?"):  # the second is no conflict
        turn = daemon.cli("continue", "--call-id", call_id, "--message", message, "--json")
        assert turn.returncode == 5, (turn.returncode, turn.stdout, turn.stderr)
        error = json.loads(turn.stdout)["error"]
        assert error["code"] == "timeout"
        assert "1500ms" in error["message"], error
    call = daemon.call_state(call_id)
    assert call["endedAt"] is None  # a turn's timeout does not end the call
    assert said(daemon, call_id)[-2:] == [("bot", "Does ten work?"), ("bot", "Are you there?")]


def test_ctrl_c_on_continue_exits_130_quietly_and_frees_the_turn(daemon_factory) -> None:
    daemon = silent_callee_daemon(daemon_factory, transcript_timeout_ms=600_000)
    call_id = place_answered_call(daemon)
    waiting = subprocess.Popen(
        [*VOICECALL, "--socket", str(daemon.socket), "continue", "--call-id", call_id,
         "--message", "Does ten work?"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        daemon.wait_for(lambda: ("bot", "Does ten work?") in said(daemon, call_id),
                        timeout=60, what="the prompt to be spoken (the turn is waiting)")
        assert waiting.poll() is None  # still waiting for the callee
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate(timeout=60)
    assert waiting.returncode == 130, (waiting.returncode, out, err)
    assert "Traceback" not in err and "Aborted" not in err
    assert daemon.call_state(call_id)["endedAt"] is None  # the call itself goes on
    # The interrupted turn does not hold the call: a new continue is not refused as a conflict
    # (exit 6); it waits like the first (the callee stays silent) until its own timeout.
    again = daemon.cli("continue", "--call-id", call_id, "--message", "Hello?", "--timeout",
                       "1", "--json")
    assert again.returncode == 5, (again.returncode, again.stdout, again.stderr)
