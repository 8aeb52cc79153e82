"""``voicecall dtmf`` and ``continue --accept`` against a fake control server: what they send,
what they refuse before asking the daemon, what they print; and how ``tail`` shows keys."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Env, run_cli
from tests.cli.fake_daemon import FakeDaemon
from voicecall_cli.cli import render_events
from voicecall_cli.protocol import ErrorCode


async def test_dtmf_sends_the_keys_and_reports(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.dtmf", {"success": True})
    result = await run_cli("dtmf", "--call-id", "c1", "--digits", " ww123# ", "--json",
                           socket=env.socket)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"success": True}
    human = await run_cli("dtmf", "c1", "--digits", "*9W0", socket=env.socket)
    assert human.exit_code == 0 and "sent *9W0 on call c1" in human.stderr
    assert fake.bodies("/v1/voicecall.dtmf") == [{"callId": "c1", "digits": "ww123#"},
                                                 {"callId": "c1", "digits": "*9W0"}]


@pytest.mark.parametrize(("digits", "message"), [
    ("12a", "'a' is not a touch tone"),
    ("1,2", "',' is not a touch tone"),
    ("\uff11\uff12", "'\uff11' is not a touch tone"),  # fullwidth digits are not keys
    ("1\t2", "U+0009 is not a touch tone"),
    ("1" * 65, "at most 64 characters"),
    ("  ", "digits required"),
])
async def test_dtmf_refuses_what_is_not_a_key_without_asking_the_daemon(
        env: Env, fake: FakeDaemon, digits: str, message: str) -> None:
    result = await run_cli("dtmf", "--call-id", "c1", "--digits", digits, socket=env.socket)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert fake.bodies("/v1/voicecall.dtmf") == []


async def test_dtmf_on_an_unknown_call_exits_3(env: Env, fake: FakeDaemon) -> None:
    fake.fail("voicecall.dtmf", ErrorCode.CALL_NOT_FOUND, "Call not found: c9")
    result = await run_cli("dtmf", "--call-id", "c9", "--digits", "1", socket=env.socket)
    assert result.exit_code == 3 and "no such call: c9" in result.stderr


async def test_continue_accept_is_sent_and_keys_are_printed(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.continue", {"success": True, "transcript": "42", "input": "dtmf",
                                       "digits": "42"})
    result = await run_cli("continue", "c1", "-m", "Your code?", "--accept", "dtmf",
                           socket=env.socket)
    assert result.exit_code == 0, result.output
    assert result.stdout == "42\n"
    assert fake.bodies("/v1/voicecall.continue") == [
        {"callId": "c1", "message": "Your code?", "accept": "dtmf"}]
    bad = await run_cli("continue", "c1", "-m", "Hi", "--accept", "keys", socket=env.socket)
    assert bad.exit_code == 2 and "--accept" in bad.stderr
    assert len(fake.bodies("/v1/voicecall.continue")) == 1


def test_tail_says_who_pressed_what() -> None:
    pressed = {"type": "call.dtmf", "data": {"digits": "4", "direction": "in"}}
    sent = {"type": "call.dtmf", "data": {"digits": "ww1#", "direction": "out"}}
    assert render_events.event_summary(pressed) == "caller pressed 4"
    assert render_events.event_summary(sent) == "we sent ww1#"
