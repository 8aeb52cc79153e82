"""What a script meets when it drives a call at once: `continue` and `speak` issued while the
call still rings wait for the answer and the greeting, on every carrier; a `continue` that
timed out never hands its late reply to the next one.

Real daemon processes driven by the real CLI; the order is read back from the daemon's own
event log (`tail --since all --no-follow --json`).
"""

from __future__ import annotations

import json

import trio

from voicecall_cli.simulator.twilio.simulator import CalleeScript

from .conftest import Daemon
from .test_twilio import twilio_daemon

GREETING = "Hi, calling about your appointment."
QUESTION = "Does tomorrow at ten work?"
CLOSING = "Great, see you then."


def conversation_while_ringing(daemon: Daemon) -> tuple[str, str]:
    """The README's script: call, then at once continue and speak. Returns (id, reply)."""
    call_id = daemon.cli("call", "--message", GREETING, "--mode", "conversation",
                         check=True).stdout.strip()
    reply = daemon.cli("continue", "--call-id", call_id, "--message", QUESTION,
                       check=True).stdout.strip()
    daemon.cli("speak", "--call-id", call_id, "--message", CLOSING, check=True)
    return call_id, reply


def call_story(daemon: Daemon, call_id: str) -> list[str]:
    """The call's states and words in the order the daemon logged them."""
    out = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True).stdout
    story = []
    for line in out.splitlines():
        event = json.loads(line)
        if event.get("callId") != call_id:
            continue
        data = event.get("data") or {}
        if event["type"] == "call.state":
            story.append(data["state"])
        elif event["type"] == "call.transcript" and data.get("isFinal", True):
            story.append(f"{data['speaker']}: {data['text']}")
    return story


def assert_in_order(story: list[str], expected: list[str]) -> None:
    positions = [story.index(item) if item in story else -1 for item in expected]
    assert -1 not in positions and positions == sorted(positions), story


def test_continue_and_speak_while_ringing_wait_for_answer_and_greeting_on_mock(
        daemon_factory) -> None:
    daemon = daemon_factory()
    daemon.config.write_text(daemon.config.read_text()
                             .replace("ringDelayMs = 50", "ringDelayMs = 300")
                             .replace("answerDelayMs = 50", "answerDelayMs = 300"))
    daemon.start()
    call_id, reply = conversation_while_ringing(daemon)
    assert reply == "Yes, ten works."
    story = call_story(daemon, call_id)
    assert_in_order(story, ["ringing", "answered", f"bot: {GREETING}", f"bot: {QUESTION}",
                            "user: Yes, ten works.", f"bot: {CLOSING}"])
    assert story.index("answered") < story.index("speaking"), story


async def test_continue_and_speak_while_ringing_wait_for_answer_and_greeting_on_twilio(
) -> None:
    callee = CalleeScript(replies=["Ten works for me."], ring_delay_s=0.3, answer_delay_s=0.3)
    with trio.fail_after(60):
        async with twilio_daemon(callee) as (daemon, _sim):
            call_id, reply = await trio.to_thread.run_sync(conversation_while_ringing, daemon)
            story = await trio.to_thread.run_sync(call_story, daemon, call_id)
    assert reply == "Ten works for me."
    assert_in_order(story, ["ringing", "answered", f"bot: {GREETING}", f"bot: {QUESTION}",
                            "user: Ten works for me.", f"bot: {CLOSING}"])


def test_a_timed_out_turns_late_reply_never_answers_the_next_continue(daemon_factory) -> None:
    daemon = daemon_factory()
    daemon.config.write_text(daemon.config.read_text().replace("replyDelayMs = 100",
                                                               "replyDelayMs = 800"))
    daemon.start()
    call_id = daemon.cli("call", "--message", GREETING, check=True).stdout.strip()
    first = daemon.cli("continue", "--call-id", call_id, "--message", "Q1?", "--timeout", "0.3")
    assert first.returncode == 5, (first.stdout, first.stderr)
    second = daemon.cli("continue", "--call-id", call_id, "--message", "Q2?", "--timeout", "5",
                        check=True)
    # The callee's answer to Q1 arrives while Q2 waits: it is the answer to Q1, not to Q2.
    assert second.stdout.strip() == "No, that is all."
    transcript = daemon.call_state(call_id)["transcript"]
    assert [(t["speaker"], t["text"]) for t in transcript][-2:] == [
        ("bot", "Q2?"), ("user", "No, that is all.")]
