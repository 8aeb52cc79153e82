"""``voicecall latency`` and the objective on a streamed call, end to end (issue #15 items 5
and 6): a real daemon on the Twilio simulator's media streams, with local fakes of OpenAI's
Realtime transcription, chat completions and speech endpoints (their real wire formats).

An outbound call placed with ``--objective`` gets two auto-replies, an inbound call one; the
latency report then matches the stored ``call.latency`` events, filters by call id prefix,
bounds by ``--last`` and renders for a human. The objective reaches the model for its own
call only and never the speech synthesiser or the transcript."""

from __future__ import annotations

import json

import trio

from tests.speech.fakes.chat_server import ChatScript, run_chat_server
from tests.speech.fakes.realtime_server import open_realtime_server
from tests.speech.fakes.tts_servers import FakeOpenAISpeech, serve_fake
from voicecall_cli.simulator.twilio.media import open_twilio_media_stream

from .test_speech_streams import KEY, model_at, open_inbound_stream, speech_config
from .test_twilio import cli_json, twilio_daemon, wait_call

OBJECTIVE = "Confirm the Friday 9am delivery slot; never mention the price."
REPLY = "Sure, Friday works."
STAGES = ("endOfSpeechMs", "transcriptMs", "firstTokenMs", "replyMs", "firstTtsByteMs",
          "audioMs")


async def caller_turn(daemon, session, call_id: str, words: str, replies_before: int) -> None:
    """The caller speaks and pauses (the transcriber's events), then the reply is spoken."""
    await session.speech_started()
    await session.emit({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900,
                        "item_id": "item_1"})
    await session.completed(words)
    await wait_call(daemon, call_id, lambda c: [t["text"] for t in c["transcript"]].count(
        REPLY) > replies_before, "the reply")
    # the turn is measured when its first audio reaches the stream
    await wait_call(daemon, call_id, lambda c: c["metadata"].get("lastReplyWaterfall"),
                    "the measured turn")


def latency(daemon, *args: str) -> str:
    return daemon.cli("latency", *args, check=True).stdout


async def test_latency_reports_the_stored_turns_and_the_objective_stays_private() -> None:
    tts_fake = FakeOpenAISpeech(KEY, chunk_count=2, chunk_ms=100, chunk_delay_s=0.01)
    script = ChatScript(pieces=["Sure, ", "Friday works."])
    with trio.fail_after(120):
        async with serve_fake(tts_fake) as tts, open_realtime_server(KEY) as stt, \
                run_chat_server(KEY, script) as chat, \
                twilio_daemon(extra_config=speech_config(tts, stt), top_config=model_at(chat),
                              policy="open") as (daemon, sim):
            assert "no measured turns yet" in await trio.to_thread.run_sync(latency, daemon)
            empty = json.loads(await trio.to_thread.run_sync(latency, daemon, "--json"))
            assert empty["turns"] == [] and empty["summary"]["stages"]["audioMs"] == {
                "count": 0, "minMs": 0, "maxMs": 0, "avgMs": 0, "p50Ms": 0, "p95Ms": 0}

            placed = await cli_json(daemon, "call", "--message", "Hi, it's the bakery.",
                                    "--objective", OBJECTIVE)
            out_id = placed["callId"]
            sid = (await wait_call(daemon, out_id, lambda c: c["providerCallId"], "dial")
                   )["providerCallId"]
            request = await sim.wait_for_stream(sid)
            async with open_twilio_media_stream(request.url, call_sid=sid, token=request.token):
                session = await stt.wait_for_session(1)
                await wait_call(daemon, out_id, lambda c: c["transcript"], "the greeting")
                await caller_turn(daemon, session, out_id, "Hello, what is it about?", 0)
                await caller_turn(daemon, session, out_id, "Friday is fine.", 1)
            outbound_requests = len(chat.requests)

            sid, request = await open_inbound_stream(daemon, sim, stt)
            async with open_twilio_media_stream(request.url, call_sid=sid, token=request.token):
                session = await stt.wait_for_session(2)
                [call] = [c for c in (await cli_json(daemon, "status"))["calls"]
                          if c["direction"] == "inbound"]
                in_id = call["callId"]
                await wait_call(daemon, in_id, lambda c: c["transcript"], "the greeting")
                await caller_turn(daemon, session, in_id, "Is my order ready?", 0)

            # The objective: in the model's system context on its own call only...
            assert outbound_requests == 2 and len(chat.requests) == 3
            for number, sent in enumerate(chat.requests):
                system = [m["content"] for m in sent.body["messages"] if m["role"] == "system"]
                others = [m["content"] for m in sent.body["messages"] if m["role"] != "system"]
                assert (OBJECTIVE in "\n".join(system)) == (number < outbound_requests)
                assert not any(OBJECTIVE in text for text in others)
            # ...never synthesised, never a transcript line.
            spoken = [r.body["input"] for r in tts_fake.requests]
            assert spoken.count(REPLY) == 3 and not any("Friday 9am" in s for s in spoken)
            outbound = (await cli_json(daemon, "status", "--call-id", out_id))["call"]
            assert not any("Friday 9am" in t["text"] for t in outbound["transcript"])

            # The report is the stored call.latency events, oldest first...
            shown = await trio.to_thread.run_sync(lambda: daemon.cli(
                "tail", "--since", "all", "--no-follow", "--json", check=True).stdout)
            stored = [e for e in map(json.loads, shown.splitlines())
                      if e.get("type") == "call.latency"]
            assert [e["callId"] for e in stored] == [out_id, out_id, in_id]
            report = json.loads(await trio.to_thread.run_sync(latency, daemon, "--json"))
            assert report["turns"] == [{"cursor": e["cursor"], "ts": e["ts"],
                                        "callId": e["callId"], **e["data"]} for e in stored]
            assert [list(row)[3:] for row in report["turns"]] == [list(STAGES)] * 3
            summary = report["summary"]
            assert (summary["turns"], summary["calls"]) == (3, 2)
            for stage in STAGES:  # three values: p50 is the middle one, p95 the largest
                values = sorted(e["data"][stage] for e in stored)
                figures = summary["stages"][stage]
                assert figures["count"] == 3
                assert (figures["p50Ms"], figures["p95Ms"]) == (values[1], values[2])
                assert (figures["minMs"], figures["maxMs"]) == (values[0], values[2])
                assert figures["avgMs"] == round(sum(values) / 3)

            # ...of one call by a prefix of its id, or of the newest turns only.
            mine = json.loads(await trio.to_thread.run_sync(
                latency, daemon, "--call-id", out_id[:8], "--json"))
            assert mine["turns"] == report["turns"][:2]
            assert (mine["summary"]["turns"], mine["summary"]["calls"]) == (2, 1)
            audio = sorted(t["audioMs"] for t in mine["turns"])
            assert mine["summary"]["stages"]["audioMs"]["p95Ms"] == audio[1]
            newest = json.loads(await trio.to_thread.run_sync(
                latency, daemon, "--last", "1", "--json"))
            assert newest["turns"] == report["turns"][2:]

            # A human reads each turn's waterfall and the percentiles.
            table = await trio.to_thread.run_sync(latency, daemon, in_id[:8])
            assert "first audio" in table and "2 auto-reply turns" not in table
            assert "1 auto-reply turn over 1 call" in table
            row = [line.split() for line in table.splitlines() if in_id in line]
            assert [r[2:] for r in row] == [[str(report["turns"][2][s]) for s in STAGES]]
            overall = await trio.to_thread.run_sync(latency, daemon)
            assert "3 auto-reply turns over 2 calls" in overall and "p95" in overall

            unknown = await trio.to_thread.run_sync(lambda: daemon.cli(
                "latency", "--call-id", "00000000-0000", timeout=30))
            assert unknown.returncode == 3 and "no such call" in unknown.stderr
