"""A live call's audio reaches OpenAI Realtime in 100 ms appends, not one per 20 ms frame.

Each append is a websocket message through trio, the TLS stream and the server: a call delivers
50 caller frames a second, and sending each alone made transcription cost as much event-loop
time as the call's own media. Against the local fake of the realtime server."""

from __future__ import annotations

import trio
import trio.testing

from tests.speech.fakes.realtime_server import open_realtime_server
from tests.speech.test_stt_openai import API_KEY, Heard, frames, running


async def test_frames_delivered_one_at_a_time_go_out_five_to_an_append() -> None:
    paced = frames(50)
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(
                server.url, Heard()) as transcriber:
            session = await server.wait_for_session(1)
            for frame in paced:  # as a call delivers them: each one reaches an idle sender
                transcriber.send_audio(frame)
                await trio.testing.wait_all_tasks_blocked()
            audio = await session.wait_for_audio(160 * 50)
    assert audio == b"".join(paced)  # intact and in order
    assert session.appends == 10


async def test_a_lone_frame_is_not_held_back_for_long() -> None:
    [frame] = frames(1)
    with trio.fail_after(10):
        async with open_realtime_server(API_KEY) as server, running(
                server.url, Heard()) as transcriber:
            session = await server.wait_for_session(1)
            transcriber.send_audio(frame)  # the caller's last frame: sent without a batch
            audio = await session.wait_for_audio(160)
    assert audio == frame
    assert session.appends == 1
