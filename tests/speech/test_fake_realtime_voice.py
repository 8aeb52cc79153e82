"""The fake OpenAI Realtime voice server, proven with a raw trio-websocket client."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

from tests.speech.fakes.realtime_voice_audio import silence, tone
from tests.speech.fakes.realtime_voice_server import (
    FakeRealtimeVoiceServer,
    open_realtime_voice_server,
)

API_KEY = "sk-test-" + "v01ce" * 8
SAY = "Good morning, this is Ada from the clinic."
SESSION = {
    "type": "realtime", "instructions": "You are a polite receptionist.",
    "output_modalities": ["audio"],
    "audio": {
        "input": {"format": {"type": "audio/pcmu"},
                  "transcription": {"model": "gpt-4o-transcribe"},
                  "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                     "prefix_padding_ms": 100, "silence_duration_ms": 500,
                                     "create_response": False, "interrupt_response": False}},
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}},
    "tools": [{"type": "function", "name": "end_call", "description": "Hang up.",
               "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}}}],
    "tool_choice": "auto",
}


class Client:
    """A raw client: sends events, keeps every server event it read in ``events``."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, kind: str, **fields: Any) -> None:
        await self.ws.send_message(json.dumps({"type": kind, **fields}))

    async def until(self, kind: str) -> list[dict[str, Any]]:
        """The events read up to and including the next one of type ``kind``."""
        read: list[dict[str, Any]] = []
        while not read or read[-1]["type"] != kind:
            read.append(json.loads(await self.ws.get_message()))
        self.events += read
        return read

    async def append(self, audio: bytes, chunk_ms: int = 20) -> None:
        step = chunk_ms * 8
        for start in range(0, len(audio), step):
            await self.send("input_audio_buffer.append",
                            audio=base64.b64encode(audio[start:start + step]).decode())


@asynccontextmanager
async def connect(url: str, key: str | None = API_KEY, *,
                  update: dict[str, Any] | None = SESSION) -> AsyncIterator[Client]:
    """A connected client that read session.created and, unless ``update`` is None, sent
    that session.update and read session.updated."""
    headers = [] if key is None else [(b"Authorization", f"Bearer {key}".encode())]
    async with trio_websocket.open_websocket_url(url, extra_headers=headers) as ws:
        client = Client(ws)
        await client.until("session.created")
        if update is not None:
            await client.send("session.update", session=update)
            await client.until("session.updated")
        yield client


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def audio_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(event["delta"]) for event in events
                    if event["type"] == "response.output_audio.delta")


def one(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (event,) = [event for event in events if event["type"] == kind]
    return event


async def rejected(url: str, key: str | None = API_KEY) -> trio_websocket.ConnectionRejected:
    with pytest.raises(trio_websocket.ConnectionRejected) as caught:
        async with connect(url, key):
            pass
    return caught.value


async def test_the_handshake_needs_the_key_and_the_realtime_path() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server:
            wrong_key = await rejected(server.url, "sk-wrong")
            no_key = await rejected(server.url, None)
            no_model = await rejected(server.base_url)
            wrong_path = await rejected(server.url.replace("/v1/realtime", "/v1/chat"))
    assert [wrong_key.status_code, no_key.status_code] == [401, 401]
    assert json.loads(wrong_key.body) == {"error": {
        "type": "invalid_request_error", "message": "Incorrect API key provided"}}
    assert [no_model.status_code, wrong_path.status_code] == [400, 400]
    assert [status for _, status in server.rejections] == [401, 401, 400, 400]
    assert len(server.handshake_times) == 4
    assert server.paths == ["/v1/realtime?model=gpt-realtime"] * 2 + [
        "/v1/realtime", "/v1/chat?model=gpt-realtime"]
    assert server.sessions == []


async def test_session_update_is_answered_with_the_session_and_recorded() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(
                f"{server.base_url}?model=gpt-realtime-mini") as client:
            session = await server.wait_for_session(1)
    created, updated = client.events
    assert created["type"] == "session.created"
    assert created["session"]["model"] == "gpt-realtime-mini"
    assert updated["session"] == SESSION
    assert all(event["event_id"].startswith("event_") for event in client.events)
    assert session.model == "gpt-realtime-mini"
    assert session.headers["authorization"] == f"Bearer {API_KEY}"
    assert session.updates == [SESSION]
    assert [event["type"] for _, event in session.received] == ["session.update"]
    assert session.turn_detection["silence_duration_ms"] == 500
    await session.closed.wait()
    assert session.close_code == 1000


async def test_a_response_streams_the_say_text_as_audio_and_transcript() -> None:
    instructions = f"Say exactly the text between the tags. <<say>>{SAY}<</say>>"
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            await client.send("response.create", response={"instructions": instructions})
            events = await client.until("response.done")
            session = await server.wait_for_session(1)
            record = await session.wait_for_response(1, finished=True)
            await client.send("response.create")
            second = await client.until("response.done")
    assert kinds(events)[:2] == ["response.created", "response.output_item.added"]
    assert kinds(events)[-4:] == [
        "response.output_audio.done", "response.output_audio_transcript.done",
        "response.output_item.done", "response.done"]
    middle = kinds(events)[2:-4]
    assert middle.count("response.output_audio.delta") == 6  # 600 ms in 100 ms deltas
    assert set(middle) == {"response.output_audio.delta",
                           "response.output_audio_transcript.delta"}
    assert middle[0] == "response.output_audio.delta"
    audio = audio_of(events)
    assert len(audio) == 600 * 8
    assert audio.count(0xFF) + audio.count(0x7F) < len(audio) // 10  # a tone, not silence
    assert "".join(event["delta"] for event in events
                   if event["type"] == "response.output_audio_transcript.delta") == SAY
    assert one(events, "response.output_audio_transcript.done")["transcript"] == SAY
    done = events[-1]["response"]
    assert done["id"] == record.id and done["status"] == "completed"
    assert done["output"] == [{
        "id": record.item_id, "object": "realtime.item", "type": "message",
        "role": "assistant", "status": "completed",
        "content": [{"type": "output_audio", "transcript": SAY}]}]
    assert {event["item_id"] for event in events if "delta" in event} == {record.item_id}
    assert (record.instructions, record.transcript, record.status) == (
        instructions, SAY, "completed")
    assert record.audio == audio and record.audio_bytes == 4800
    assert record.started_at <= record.first_delta_at
    assert second[-1]["response"]["output"][0]["content"][0]["transcript"] == (
        "Sure, I can help with that.")  # no <<say>>: the next of the replies
    assert session.responses[1].id != record.id
    assert session.responses[1].item_id != record.item_id


async def test_pacing_and_delays_follow_the_clock(
        patient_autojump_clock: trio.testing.MockClock) -> None:
    arrivals: list[float] = []
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server:
            server.reply_ms, server.delta_interval_s, server.transcribe_delay_s = 300, 0.5, 2.0
            async with connect(server.url) as client:
                await client.send("response.create")
                for _ in range(3):  # 300 ms in 100 ms deltas
                    await client.until("response.output_audio.delta")
                    arrivals.append(trio.current_time())
                await client.until("response.done")
                await client.append(tone(100) + silence(500))
                await client.until("input_audio_buffer.committed")
                committed_at = trio.current_time()
                await client.until("conversation.item.input_audio_transcription.completed")
                heard_at = trio.current_time()
            record = server.sessions[0].responses[0]
    assert [later - earlier for earlier, later in itertools.pairwise(arrivals)] == [
        pytest.approx(0.5, abs=0.01)] * 2
    assert record.first_delta_at == pytest.approx(arrivals[0], abs=0.01)
    assert heard_at - committed_at == pytest.approx(2.0, abs=0.01)


async def test_a_second_create_while_a_response_plays_is_an_error() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            server.sessions[0].reply_ms = 1000
            await client.send("response.create")
            await client.until("response.output_audio.delta")
            await client.send("response.create")
            error = (await client.until("error"))[-1]
            await client.until("response.done")
    assert error["error"]["code"] == "conversation_already_has_active_response"
    assert len(server.sessions[0].responses) == 1


async def test_cancel_stops_the_audio_at_once_and_ends_cancelled() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            server.sessions[0].reply_ms = 5000
            await client.send("response.create")
            before = await client.until("response.output_audio.delta")
            await client.send("response.cancel")
            after = await client.until("response.done")
            await client.send("response.cancel")
            error = (await client.until("error"))[-1]
            record = await server.sessions[0].wait_for_response(1, finished=True)
    assert kinds(after).count("response.output_audio.delta") <= 1
    assert "response.output_audio.done" not in kinds(after)
    done = after[-1]["response"]
    assert done["status"] == "cancelled"
    assert done["output"][0]["status"] == "incomplete"
    assert record.status == "cancelled"
    assert record.audio_bytes == len(audio_of(before + after)) < 5000 * 8
    assert error["error"]["code"] == "response_cancel_not_active"
    assert [event["type"] for _, event in server.sessions[0].received][-2:] == [
        "response.cancel", "response.cancel"]


async def test_truncate_is_recorded_and_answered() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            session = server.sessions[0]
            await client.send("response.create")
            await client.until("response.done")
            item_id = session.responses[0].item_id
            await client.send("conversation.item.truncate", item_id=item_id, content_index=0,
                              audio_end_ms=250)
            truncated = (await client.until("conversation.item.truncated"))[-1]
            await client.send("conversation.item.truncate", item_id="item_404",
                              content_index=0, audio_end_ms=0)
            unknown = (await client.until("error"))[-1]
            await client.send("conversation.item.truncate", item_id=item_id, content_index=0,
                              audio_end_ms=5000)
            too_long = (await client.until("error"))[-1]
            first = await session.wait_for_truncate()
    assert {key: truncated[key] for key in ("item_id", "content_index", "audio_end_ms")} == {
        "item_id": item_id, "content_index": 0, "audio_end_ms": 250}
    assert first == {"type": "conversation.item.truncate", "item_id": item_id,
                     "content_index": 0, "audio_end_ms": 250}
    assert len(session.truncates) == 3
    assert session.responses[0].truncated_at_ms == 250
    assert "item_404" in unknown["error"]["message"]
    assert "5000" in too_long["error"]["message"]


async def test_the_energy_vad_ends_a_turn_with_a_transcription() -> None:
    spoken = silence(200) + tone(300) + silence(700)
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            await client.append(spoken)
            events = await client.until(
                "conversation.item.input_audio_transcription.completed")
            session = server.sessions[0]
    turn = [event for event in events if event["type"] != "conversation.item.input_audio_"
            "transcription.delta"]
    assert kinds(turn) == ["input_audio_buffer.speech_started",
                           "input_audio_buffer.speech_stopped",
                           "input_audio_buffer.committed",
                           "conversation.item.input_audio_transcription.completed"]
    started, stopped, committed, completed = turn
    assert started["audio_start_ms"] == 200 - 100  # the prefix padding before the tone
    assert stopped["audio_end_ms"] == 200 + 300 + 500  # the silence that ended it
    item_id = started["item_id"]
    assert stopped["item_id"] == committed["item_id"] == completed["item_id"] == item_id
    assert committed["previous_item_id"] is None
    assert completed["transcript"] == "Hello, is this about my appointment?"
    assert "".join(event["delta"] for event in events if event["type"].endswith(
        "transcription.delta")) == completed["transcript"]
    assert bytes(session.audio) == spoken and session.appends == 60
    assert session.responses == []  # create_response is false


async def test_create_response_true_makes_the_vad_answer_by_itself() -> None:
    update = json.loads(json.dumps(SESSION))
    update["audio"]["input"]["turn_detection"]["create_response"] = True
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(
                server.url, update=update) as client:
            await client.append(tone(200) + silence(600))
            events = await client.until("response.done")
    order = kinds(events)
    assert order.index("input_audio_buffer.committed") < order.index("response.created")
    assert server.sessions[0].responses[0].request == {}
    assert events[-1]["response"]["status"] == "completed"


async def test_scripted_turn_events_need_no_audio() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            session = server.sessions[0]
            item_id = await session.speech_started()
            assert await session.speech_stopped(audio_end_ms=1200) == item_id
            assert await session.commit() == item_id
            await session.transcribe("Yes please.")
            await session.speech_started(audio_start_ms=1500)
            events = await client.until(
                "conversation.item.input_audio_transcription.completed")
            await client.until("input_audio_buffer.speech_started")
    started, stopped, committed, *transcription = events
    assert (started["item_id"], started["audio_start_ms"]) == (item_id, 0)
    assert (stopped["item_id"], stopped["audio_end_ms"]) == (item_id, 1200)
    assert committed["item_id"] == item_id
    assert transcription[-1]["transcript"] == "Yes please."
    assert client.events[-1]["audio_start_ms"] == 1500
    assert client.events[-1]["item_id"] != item_id


async def test_a_queued_tool_call_replaces_the_speech() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            session = server.sessions[0]
            session.queue_tool_call("end_call", {"reason": "caller said goodbye"})
            await client.send("response.create")
            bare = await client.until("response.done")
            session.queue_tool_call("end_call", {"reason": "done"}, with_audio=True)
            await client.send("response.create")
            spoken = await client.until("response.done")
    assert kinds(bare) == [
        "response.created", "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.done"]
    record = session.responses[0]
    args_done = one(bare, "response.function_call_arguments.done")
    assert args_done["name"] == "end_call"
    assert json.loads(args_done["arguments"]) == {"reason": "caller said goodbye"}
    assert args_done["call_id"] == record.call_id and record.call_id.startswith("call_")
    assert bare[1]["item"] == {"id": record.item_id, "object": "realtime.item",
                               "type": "function_call", "status": "in_progress",
                               "call_id": record.call_id, "name": "end_call",
                               "arguments": ""}
    (call,) = bare[-1]["response"]["output"]
    assert call["type"] == "function_call" and call["arguments"] == args_done["arguments"]
    assert record.audio_bytes == 0
    message, call = spoken[-1]["response"]["output"]
    assert message["type"] == "message" and call["type"] == "function_call"
    assert len(audio_of(spoken)) == 4800
    assert kinds(spoken).index("response.output_item.done") < kinds(spoken).index(
        "response.function_call_arguments.done")
    assert one(spoken, "response.function_call_arguments.done")["output_index"] == 1


async def test_a_failed_response_has_no_audio_and_the_next_one_works() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            server.sessions[0].fail_next_response(message="Slow down.")
            await client.send("response.create")
            failed = await client.until("response.done")
            await client.send("response.create")
            fine = await client.until("response.done")
    assert kinds(failed) == ["response.created", "response.done"]
    assert failed[-1]["response"]["status"] == "failed"
    assert failed[-1]["response"]["status_details"] == {"type": "failed", "error": {
        "code": "rate_limit_exceeded", "message": "Slow down."}}
    assert server.sessions[0].responses[0].status == "failed"
    assert fine[-1]["response"]["status"] == "completed"


async def test_errors_and_drops_come_from_the_server_side() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            session = server.sessions[0]
            await session.error("The server had an error.", "server_error")
            error = (await client.until("error"))[-1]
            await session.drop()
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await client.until("never")
            await session.closed.wait()
    assert error["error"]["code"] == "server_error"
    assert closed.value.reason.code == 1011
    assert session.close_code == 1011


async def test_drop_all_closes_every_open_session() -> None:
    async def hold(server: FakeRealtimeVoiceServer, codes: list[int]) -> None:
        async with connect(server.url) as client:
            try:
                await client.until("never")
            except trio_websocket.ConnectionClosed as exc:
                codes.append(exc.reason.code)

    codes: list[int] = []
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, trio.open_nursery() as nursery:
            nursery.start_soon(hold, server, codes)
            nursery.start_soon(hold, server, codes)
            await server.wait_for_session(2)
            await server.drop_all()
    assert codes == [1011, 1011]
    assert all(session.closed.is_set() for session in server.sessions)


async def test_refuse_next_refuses_that_many_then_accepts() -> None:
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server:
            server.refuse_next = 2
            first = await rejected(server.url)
            second = await rejected(server.url)
            async with connect(server.url):
                pass
            server.refuse_status = 500
            outage = await rejected(server.url)
            await server.wait_for_rejections(3)
    assert [first.status_code, second.status_code, outage.status_code] == [503, 503, 500]
    assert [status for _, status in server.rejections] == [503, 503, 500]
    assert len(server.sessions) == 1 and len(server.handshake_times) == 4


async def test_items_unknown_events_and_bad_messages_are_recorded() -> None:
    output = {"type": "function_call_output", "call_id": "call_1", "output": "{}"}
    with trio.fail_after(10):
        async with open_realtime_voice_server(API_KEY) as server, connect(server.url) as client:
            session = server.sessions[0]
            await client.send("conversation.item.create", item=output)
            added = await client.until("conversation.item.done")
            await client.send("input_audio_buffer.clear")
            await session.wait_for_message("input_audio_buffer.clear")
            await client.ws.send_message("not json")
            not_json = (await client.until("error"))[-1]
            await client.send("input_audio_buffer.append", audio="not base64!")
            bad_audio = (await client.until("error"))[-1]
    assert kinds(added) == ["conversation.item.added", "conversation.item.done"]
    item = added[0]["item"]
    assert item["id"].startswith("item_") and item["call_id"] == "call_1"
    assert session.items_created == [item]
    assert session.other == [{"type": "input_audio_buffer.clear"}, {"raw": "not json"}]
    assert not_json["error"]["code"] == "invalid_json"
    assert bad_audio["error"]["code"] == "invalid_value"
    assert session.appends == 0 and session.audio == b""
