"""The carrier's report of a hang-up we asked for can arrive before its REST answer (Twilio's
``completed`` status callback often does, and the lean webhook path serves it at once): the call
still ends as the bot's hang-up, not as ``completed``."""

from __future__ import annotations

from dataclasses import dataclass

from voicecall_cli.core.events import EventType
from voicecall_cli.daemon.calls.settings import CallSettings

from .manager_harness import Env, RecordingCarrier, open_env_factory
from .test_calls import CONVERSATION, answered_call


@dataclass
class EagerCarrier(RecordingCarrier):
    """Reports the call ended (``completed``) before its hang-up request returns."""

    env: Env | None = None

    async def hangup(self, call_id: str, provider_call_id: str, reason: str) -> None:
        await super().hangup(call_id, provider_call_id, reason)
        assert self.env is not None
        self.env.event(EventType.ENDED, call_id, reason="completed")


async def test_a_hang_up_reported_before_its_rest_answer_still_ends_as_the_bots(
        tmp_path, autojump_clock, env_nursery) -> None:
    carrier = EagerCarrier()
    settings: CallSettings = CONVERSATION
    env = await open_env_factory(tmp_path)(settings, carrier, nursery=env_nursery)
    carrier.env = env
    call_id = await answered_call(env)
    await env.manager.hang_up(env.manager.calls[call_id], "hangup-bot")
    stored = env.store.get_call(call_id)
    assert (stored["state"], stored["endReason"]) == ("hangup-bot", "hangup-bot")
    assert env.stored_types(call_id).count("call.ended") == 1
