"""OpenAI Realtime transcription against a local fake of the realtime websocket server."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trio.testing

from tests.speech.fakes.realtime_server import Changes, open_realtime_server
from voicecall_cli.speech.errors import SpeechError
from voicecall_cli.speech.stt_openai import RealtimeTranscriber

API_KEY = "sk-test-" + "k3y" * 12


class Heard:
    """What the transcriber reported through its callbacks."""

    def __init__(self) -> None:
        self.partials: list[str] = []
        self.finals: list[str] = []
        self.speech_starts = 0
        self.changes = Changes()

    def partial(self, text: str) -> None:
        self.partials.append(text)
        self.changes.notify()

    def final(self, text: str) -> None:
        self.finals.append(text)
        self.changes.notify()

    def speech_started(self) -> None:
        self.speech_starts += 1
        self.changes.notify()


def transcriber_for(url: str, heard: Heard, **options) -> RealtimeTranscriber:
    options.setdefault("api_key", API_KEY)
    options.setdefault("backoff_s", 0.01)
    return RealtimeTranscriber(url=url, on_partial=heard.partial, on_final=heard.final,
                               on_speech_started=heard.speech_started, **options)


async def run_until_done(transcriber: RealtimeTranscriber, outcome: dict, *,
                         task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run the transcriber, recording how run() ended instead of failing the nursery."""
    try:
        await transcriber.run(task_status=task_status)
        outcome["returned"] = True
    except SpeechError as error:
        outcome["error"] = error
    finally:
        outcome["done_at"] = trio.current_time()


@asynccontextmanager
async def running(url: str, heard: Heard, outcome: dict | None = None, **options):
    transcriber = transcriber_for(url, heard, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(run_until_done, transcriber,
                                    outcome if outcome is not None else {}))
        yield transcriber
        await transcriber.close()


def frames(count: int) -> list[bytes]:
    """Distinct 20 ms mu-law frames, so order and integrity are visible."""
    return [os.urandom(160) for _ in range(count)]


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_session_update_carries_the_defaults_and_the_headers() -> None:
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(server.url, Heard()):
            session = await server.wait_for_session(1)
    assert session.headers["authorization"] == f"Bearer {API_KEY}"
    assert session.headers["openai-beta"] == "realtime=v1"
    assert session.session_updates == [{"type": "transcription_session.update", "session": {
        "input_audio_format": "g711_ulaw",
        "input_audio_transcription": {"model": "gpt-4o-transcribe"},
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                           "silence_duration_ms": 800}}}]
    assert session.close_code == 1000  # close() ends the session cleanly


async def test_session_update_honours_explicit_zero_values() -> None:
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(
                server.url, Heard(), model="gpt-4o-mini-transcribe", vad_threshold=0.0,
                silence_duration_ms=0):
            update = await (await server.wait_for_session(1)).wait_for_update()
    session = update["session"]
    assert session["input_audio_transcription"] == {"model": "gpt-4o-mini-transcribe"}
    assert session["turn_detection"]["threshold"] == 0.0
    assert session["turn_detection"]["silence_duration_ms"] == 0


async def test_audio_arrives_decoded_intact_and_in_order() -> None:
    paced, burst = frames(60), frames(40)
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(
                server.url, Heard()) as transcriber:
            session = await server.wait_for_session(1)
            for frame in paced:  # as a call delivers them: one at a time
                transcriber.send_audio(frame)
                await trio.testing.wait_all_tasks_blocked()
            for frame in burst:  # a backlog: queued at once, sent in fewer messages
                transcriber.send_audio(frame)
            audio = await session.wait_for_audio(160 * 100)
    assert audio == b"".join(paced + burst)
    assert transcriber.dropped_frames == 0
    assert session.appends < 100


async def test_a_full_queue_drops_the_oldest_audio_and_counts_it() -> None:
    early = frames(10)
    heard = Heard()
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server:
            transcriber = transcriber_for(server.url, heard, audio_queue_frames=4)
            for frame in early:  # before the socket is up: only the newest 4 can wait
                transcriber.send_audio(frame)
            async with trio.open_nursery() as nursery:
                await nursery.start(partial(run_until_done, transcriber, {}))
                audio = await (await server.wait_for_session(1)).wait_for_audio(4 * 160)
                await transcriber.close()
    assert audio == b"".join(early[-4:])
    assert transcriber.dropped_frames == 6


async def test_deltas_become_partials_and_completed_becomes_final() -> None:
    heard = Heard()
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(server.url, heard):
            session = await server.wait_for_session(1)
            await session.delta("Hel")
            await session.delta("lo the")
            await session.delta("re.")
            await session.completed("Hello there.")
            await session.completed("   ")  # silence: no final
            await session.delta("Next", item_id="item_2")
            await session.completed("Next one.", item_id="item_2")
            await heard.changes.wait_until(lambda: len(heard.finals) == 2)
    assert heard.partials == ["Hel", "Hello the", "Hello there.", "Next"]
    assert heard.finals == ["Hello there.", "Next one."]


async def test_speech_started_fires_and_resets_the_partial() -> None:
    heard = Heard()
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(server.url, heard):
            session = await server.wait_for_session(1)
            await session.delta("half a sen")
            await session.speech_started(item_id="item_2")
            await session.delta("Start again", item_id="item_2")
            await heard.changes.wait_until(lambda: len(heard.partials) == 2)
    assert heard.speech_starts == 1
    assert heard.partials == ["half a sen", "Start again"]


async def test_reconnects_after_the_server_drops_the_socket() -> None:
    heard = Heard()
    before, after = frames(5), frames(5)
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(
                server.url, heard) as transcriber:
            first = await server.wait_for_session(1)
            for frame in before:
                transcriber.send_audio(frame)
            await first.wait_for_audio(len(before) * 160)
            await first.drop()
            second = await server.wait_for_session(2)  # a fresh session.update
            await heard.changes.wait_until(lambda: transcriber.connected)
            for frame in after:
                transcriber.send_audio(frame)
            audio = await second.wait_for_audio(len(after) * 160)
            await second.speech_started()
            await second.completed("Still here.")
            await heard.changes.wait_until(lambda: heard.finals == ["Still here."])
    assert second.session_updates == first.session_updates
    assert second.headers["authorization"] == f"Bearer {API_KEY}"
    assert audio == b"".join(after)
    assert heard.speech_starts == 1


async def test_a_successful_reconnect_resets_the_attempt_count() -> None:
    heard = Heard()
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(
                server.url, heard, max_reconnects=1):
            for number in (1, 2, 3):
                session = await server.wait_for_session(number)
                await session.drop()
            session = await server.wait_for_session(4)
            await session.completed("Four sessions in.")
            await heard.changes.wait_until(lambda: bool(heard.finals))
    assert heard.finals == ["Four sessions in."]


async def test_gives_up_after_max_reconnects_with_exponential_backoff() -> None:
    outcome: dict = {}
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(
                server.url, Heard(), outcome, max_reconnects=3, backoff_s=0.05):
            session = await server.wait_for_session(1)
            server.refuse_status = 503
            dropped_at = trio.current_time()
            await session.drop()
            while "done_at" not in outcome:
                await trio.sleep(0.01)
    error = outcome["error"]
    assert "gave up after 3 reconnect attempts" in str(error)
    assert "503" in str(error)
    attempts = [at for at, _ in server.rejections]
    assert len(attempts) == 3
    waits = [b - a for a, b in zip([dropped_at, *attempts], attempts, strict=False)]
    for wait, expected in zip(waits, (0.05, 0.1, 0.2), strict=True):
        assert wait >= expected * 0.95


async def test_the_first_connect_failing_raises_speech_error() -> None:
    with trio.fail_after(10):
        transcriber = transcriber_for(f"ws://127.0.0.1:{unused_port()}/v1/realtime", Heard())
        async with trio.open_nursery() as nursery:
            with pytest.raises(SpeechError, match="Realtime STT connection failed"):
                await nursery.start(transcriber.run)


async def test_a_rejected_key_raises_without_echoing_it(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(10):
        async with open_realtime_server("sk-the-right-key") as server:
            transcriber = transcriber_for(server.url, Heard())
            async with trio.open_nursery() as nursery:
                with pytest.raises(SpeechError) as raised:
                    await nursery.start(transcriber.run)
    assert "401" in str(raised.value)
    assert API_KEY not in str(raised.value)
    assert API_KEY not in caplog.text
    assert len(server.rejections) == 1  # a failed first connect is not retried


async def test_a_server_that_never_answers_times_out() -> None:
    with trio.fail_after(10), socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts TCP, never speaks HTTP
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/v1/realtime?intent=transcription"
        transcriber = transcriber_for(url, Heard(), connect_timeout_s=0.2)
        async with trio.open_nursery() as nursery:
            with pytest.raises(SpeechError, match="Realtime STT connection timeout"):
                await nursery.start(transcriber.run)


async def test_close_during_backoff_stops_reconnecting() -> None:
    outcome: dict = {}
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server:
            async with running(server.url, Heard(), outcome, backoff_s=30) as transcriber:
                session = await server.wait_for_session(1)
                await session.drop()
                await server.changes.wait_until(lambda: session.closed.is_set())
                await trio.testing.wait_all_tasks_blocked()  # now sleeping 30 s
                await transcriber.close()
            transcriber.send_audio(b"\xff" * 160)  # after close: ignored
    assert outcome == {"returned": True, "done_at": outcome["done_at"]}
    assert len(server.handshake_times) == 1


async def test_close_while_connected_returns_and_does_not_reconnect() -> None:
    outcome: dict = {}
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server:
            async with running(server.url, Heard(), outcome) as transcriber:
                session = await server.wait_for_session(1)
                await transcriber.close()
                await session.closed.wait()
                assert not transcriber.connected
            await trio.sleep(0.05)  # any reconnect would have started by now
    assert outcome.get("returned") is True
    assert session.close_code == 1000
    assert len(server.handshake_times) == 1


async def test_close_before_run_makes_run_return_at_once() -> None:
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server:
            transcriber = transcriber_for(server.url, Heard())
            await transcriber.close()
            async with trio.open_nursery() as nursery:
                await nursery.start(transcriber.run)
    assert server.handshake_times == []


async def test_logs_never_hold_the_key_or_long_transcripts(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    heard = Heard()
    long_text = "word " * 100
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(server.url, heard):
            session = await server.wait_for_session(1)
            await session.error(f"Incorrect API key provided: {API_KEY}.")
            await session.delta(long_text)
            await session.completed(long_text)
            await heard.changes.wait_until(lambda: bool(heard.finals))
            await session.drop()
            await (await server.wait_for_session(2)).completed("after the reconnect")
            await heard.changes.wait_until(lambda: len(heard.finals) == 2)
    assert heard.finals == [long_text, "after the reconnect"]  # callbacks get everything
    assert "Incorrect API key provided" in caplog.text  # the error event was logged
    assert API_KEY not in caplog.text
    assert all(len(record.getMessage()) < 300 for record in caplog.records)


async def test_text_with_lone_surrogates_is_kept_as_storable_text() -> None:
    """A transcript escaping a lone surrogate (``"\\udce9"``) must not reach the call as text
    that no store write, JSON answer or log line can encode; a nested-too-deep message is
    ignored like any other message that is not JSON."""
    heard = Heard()
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(server.url, heard):
            session = await server.wait_for_session(1)
            await session.emit_raw("[" * 100_000)
            await session.delta("caf\udce9")
            await session.completed("caf\udce9 au lait")
            await heard.changes.wait_until(lambda: len(heard.finals) == 1)
    for text in heard.partials + heard.finals:
        text.encode("utf-8")  # raises on a lone surrogate
    assert heard.finals == ["caf\ufffd au lait"]
