"""The mock carrier's touch tones: its callee hears the keys the daemon sends, and a reply
scripted as ``dtmf:<keys>`` is pressed (one mock ``call.dtmf`` webhook per key, under the
turn's token) instead of said. Real webhook server, real POSTs (see test_mock_carrier)."""

from __future__ import annotations

import pytest

from voicecall_cli.core.events import EventType
from voicecall_cli.providers.base import ProviderError

from .test_mock_carrier import mock_call, next_event

KEYS = {"ringDelayMs": 10, "answerDelayMs": 10, "replyDelayMs": 20,
        "replies": ["dtmf:42#", "Sure."]}


async def test_the_callee_presses_a_keypress_reply_and_says_the_next() -> None:
    async with mock_call(KEYS) as (carrier, pid, events):
        assert (await next_event(events)).type is EventType.RINGING
        assert (await next_event(events)).type is EventType.ANSWERED
        await carrier.start_listening("c1", pid, "turn-1", accept="dtmf")
        keys = [await next_event(events) for _ in range(3)]
        assert [(e.type, e.digits, e.turn_token) for e in keys] == [
            (EventType.DTMF, "4", "turn-1"), (EventType.DTMF, "2", "turn-1"),
            (EventType.DTMF, "#", "turn-1")]
        await carrier.start_listening("c1", pid, "turn-2")
        spoken = await next_event(events)
        assert (spoken.type, spoken.transcript) == (EventType.SPEECH, "Sure.")


async def test_the_callee_hears_the_keys_sent_until_the_call_ends() -> None:
    async with mock_call(KEYS) as (carrier, pid, _events):
        await carrier.send_dtmf("c1", pid, "ww1W#")
        await carrier.send_dtmf("c1", pid, "9")
        assert carrier.callee(pid).heard_keys == ["ww1W#", "9"]
        await carrier.hangup("c1", pid, "hangup-bot")
        with pytest.raises(ProviderError, match="has ended"):
            await carrier.send_dtmf("c1", pid, "1")
