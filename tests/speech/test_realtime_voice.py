"""The realtime speech-to-speech session against a local fake of OpenAI's Realtime API (GA
events): what it asks for on the wire and what it reports, including a reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing

from tests.speech.fakes.realtime_server import Changes
from tests.speech.fakes.realtime_voice_audio import say_text
from tests.speech.fakes.realtime_voice_server import (
    FakeRealtimeVoiceServer,
    VoiceSession,
    open_realtime_voice_server,
)
from tests.speech.test_stt_openai import frames
from voicecall_cli.speech.realtime_voice import RealtimeVoice, VoiceSettings

KEY = "sk-voice-" + "k3y" * 12


class Listener:
    """Every report of the session, in order, as (name, args)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.audio_received = bytearray()
        self.changes = Changes()

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any) -> None:
            if name == "audio":
                self.audio_received += args[2]
            self.calls.append((name, args))
            self.changes.notify()
        return record

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for kind, args in self.calls if kind == name]

    async def wait(self, name: str, count: int = 1) -> list[tuple[Any, ...]]:
        await self.changes.wait_until(lambda: len(self.named(name)) >= count)
        return self.named(name)


@asynccontextmanager
async def voice(fake: FakeRealtimeVoiceServer, listener: Listener,
                instructions: Any = lambda: "Be brief.", **settings: Any
                ) -> AsyncIterator[RealtimeVoice]:
    session = RealtimeVoice(VoiceSettings(api_key=KEY, base_url=fake.base_url, backoff_s=0.01,
                                          voice="cedar", silence_duration_ms=350, **settings),
                            listener, instructions)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run)
        yield session
        await session.close()


@asynccontextmanager
async def connected(listener: Listener, **options: Any) -> AsyncIterator[
        tuple[FakeRealtimeVoiceServer, RealtimeVoice, VoiceSession]]:
    """A session connected to a fresh fake: (the fake, our session, the fake's side of it)."""
    with trio.fail_after(10):
        async with open_realtime_voice_server(KEY) as fake, \
                voice(fake, listener, **options) as session:
            yield fake, session, await fake.wait_for_session(1)


async def test_the_session_asks_for_mulaw_both_ways_and_leaves_turns_to_the_daemon() -> None:
    async with connected(Listener()) as (_fake, _session, session):
        pass
    assert session.headers["authorization"] == f"Bearer {KEY}"
    assert session.model == "gpt-realtime"
    update = session.updates[0]
    assert update["type"] == "realtime" and update["instructions"] == "Be brief."
    assert update["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert update["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "cedar"}
    vad = update["audio"]["input"]["turn_detection"]
    assert vad["type"] == "server_vad" and vad["silence_duration_ms"] == 350
    assert vad["create_response"] is False and vad["interrupt_response"] is False
    assert [tool["name"] for tool in update["tools"]] == ["end_call"]


async def test_caller_audio_goes_out_in_batches_intact() -> None:
    paced = frames(50)
    async with connected(Listener()) as (_fake, session, fake_session):
        for frame in paced:  # as a call delivers them
            session.send_audio(frame)
            await trio.testing.wait_all_tasks_blocked()
        await fake_session.wait_for(lambda: len(fake_session.audio) >= 160 * 50)
    assert bytes(fake_session.audio) == b"".join(paced)
    assert fake_session.appends == 10  # 100 ms to an append, not one per 20 ms frame


async def test_a_verbatim_response_streams_audio_and_its_transcript() -> None:
    listener = Listener()
    async with connected(listener) as (_fake, session, fake_session):
        session.say_verbatim("Your table is booked.", "vc_1")
        [(response_id, status, error)] = await listener.wait("response_done")
    record = fake_session.responses[0]
    assert say_text(record.instructions) == "Your table is booked."
    assert fake_session.received[-1][1]["event_id"] == "vc_1"
    assert (response_id, status, error) == (record.id, "completed", None)
    assert listener.named("response_created") == [(record.id,)]
    assert listener.named("assistant_transcript") == [(record.id, "Your table is booked.")]
    assert bytes(listener.audio_received) == bytes(record.audio)  # mu-law as sent, no transcoding


async def test_cancel_and_truncate_reach_the_server_and_a_cut_reply_keeps_what_it_said() -> None:
    listener = Listener()
    async with connected(listener) as (_fake, session, fake_session):
        fake_session.reply_ms, fake_session.delta_interval_s = 1000, 0.05
        session.respond(event_id="vc_1")
        await listener.wait("audio", 6)
        item_id = listener.named("audio")[0][1]
        session.cancel()
        session.truncate(item_id, 250)
        await listener.wait("response_done")
        truncate = await fake_session.wait_for_truncate()
    assert truncate["item_id"] == item_id and truncate["audio_end_ms"] == 250
    assert listener.named("response_done")[0][1] == "cancelled"
    [(_, partial)] = listener.named("assistant_transcript")
    assert partial and "Sure, I can help with that.".startswith(partial.strip())


async def test_turn_events_errors_and_failures_are_reported() -> None:
    listener = Listener()
    async with connected(listener) as (_fake, session, fake_session):
        await fake_session.speech_started()
        await fake_session.speech_stopped()
        await fake_session.commit()
        await fake_session.transcribe("Is Tuesday free?")
        fake_session.fail_next_response(code="rate_limit_exceeded", message="Slow down")
        session.respond(event_id="vc_2")
        await listener.wait("response_done")
        await fake_session.error("bad truncate", code="invalid_value")
        await listener.wait("api_error")
    names = [name for name, _ in listener.calls if name in (
        "speech_started", "speech_stopped", "committed", "caller_final")]
    assert names == ["speech_started", "speech_stopped", "committed", "caller_final"]
    assert listener.named("caller_final") == [("Is Tuesday free?",)]
    [(_, status, error)] = listener.named("response_done")
    assert status == "failed" and "rate_limit_exceeded" in error and "Slow down" in error
    assert listener.named("api_error") == [("invalid_value", "bad truncate", None)]


async def test_a_dropped_session_reconnects_with_the_instructions_of_the_moment() -> None:
    listener = Listener()
    context = ["Be brief."]
    async with connected(listener, instructions=lambda: context[-1]) as (fake, _, first):
        context.append("Be brief.\nThe call so far: Caller: hi")
        await first.drop()
        second = await fake.wait_for_session(2)
        await listener.wait("opened", 2)
    assert second.updates[0]["instructions"].endswith("Caller: hi")
    assert listener.named("opened") == [(False,), (True,)]
    assert len(listener.named("lost")) == 1
