"""Responder against a local fake of OpenAI's streaming chat completions (real SSE wire format).

These tests run on trio's real clock with short delays (well under two seconds each): the SDK
runs a helper thread on a client's first request (platform detection), and while a thread runs
an autojumping MockClock would leap to the next deadline and fire timeouts that real time never
reaches.
"""

from __future__ import annotations

import socket
from contextlib import aclosing

import pytest
import trio

from tests.speech.fakes.chat_server import ChatScript, run_chat_server
from voicecall_cli.speech.errors import SpeechError
from voicecall_cli.speech.responder import Responder

API_KEY = "sk-test-responder-0123456789abcdef"
CALLER = "+15550001111"
TRANSCRIPT = [("bot", "Hello! How can I help?"), ("user", "Do you open on Sundays?"),
              ("bot", "Yes, from ten to four."), ("user", "Can I book a table for two?")]


async def collect(responder: Responder, user_message: str = "Can I book a table for two?",
                  transcript: list[tuple[str, str]] = TRANSCRIPT) -> list[str]:
    sentences = []
    async with aclosing(responder.reply_sentences(caller=CALLER, transcript=transcript,
                                                  user_message=user_message)) as replies:
        async for sentence in replies:
            sentences.append(sentence)
    return sentences


async def test_first_sentence_arrives_while_the_model_still_writes() -> None:
    script = ChatScript(pieces=["Of course", ". For what", " time would you", " like it?",
                                " I can also", " note any allergies."], delay_between_s=0.15)
    with trio.fail_after(10):
        async with run_chat_server(API_KEY, script) as server, \
                Responder(api_key=API_KEY, model="gpt-4o-mini", base_url=server.base_url) as rsp:
            received: list[tuple[float, str]] = []
            async with aclosing(rsp.reply_sentences(caller=CALLER, transcript=TRANSCRIPT,
                                                    user_message="Can I book?")) as replies:
                async for sentence in replies:
                    received.append((trio.current_time(), sentence))
    assert [sentence for _, sentence in received] == [
        "Of course.", "For what time would you like it?", "I can also note any allergies."]
    first_at = received[0][0]
    # "Of course." is complete once ". For what" arrives (the second piece); it is handed out
    # then, while the server has four more pieces to send.
    assert server.sent_at[1] <= first_at < server.sent_at[-1]
    assert received[1][0] < server.sent_at[-1]
    assert server.sent_at[-1] - first_at >= 0.3  # pieces 3..6 follow at 0.15 s intervals


async def test_request_holds_model_prompt_history_and_the_new_utterance() -> None:
    with trio.fail_after(10):
        async with run_chat_server(API_KEY, ChatScript(pieces=["Sure."])) as server, \
                Responder(api_key=API_KEY, model="gpt-4o-mini", base_url=server.base_url) as rsp:
            assert await collect(rsp) == ["Sure."]
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.authorization == f"Bearer {API_KEY}"
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["stream"] is True
    system, *history = request.body["messages"]
    assert system["role"] == "system"
    assert "phone call" in system["content"]
    assert CALLER in system["content"]
    # The transcript's last entry is the utterance being answered: it is sent once, last.
    assert history == [
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Do you open on Sundays?"},
        {"role": "assistant", "content": "Yes, from ten to four."},
        {"role": "user", "content": "Can I book a table for two?"},
    ]


async def test_response_system_prompt_replaces_the_built_in_one() -> None:
    custom = "You are Ada, the receptionist of Luigi's. Never promise a table."
    with trio.fail_after(10):
        async with run_chat_server(API_KEY) as server, \
                Responder(api_key=API_KEY, model="gpt-4.1-nano", base_url=server.base_url,
                          system_prompt=custom) as rsp:
            await collect(rsp, user_message="Hi", transcript=[])
    messages = server.requests[0].body["messages"]
    assert messages == [{"role": "system", "content": custom}, {"role": "user", "content": "Hi"}]
    assert server.requests[0].body["model"] == "gpt-4.1-nano"


async def test_markdown_from_the_model_is_not_spoken() -> None:
    script = ChatScript(pieces=["**Great", " news!** We have", ":\n- a table", " at 7\n",
                                "Shall I book it? 😊"])
    with trio.fail_after(10):
        async with run_chat_server(API_KEY, script) as server, \
                Responder(api_key=API_KEY, model="gpt-4o-mini", base_url=server.base_url) as rsp:
            assert await collect(rsp) == ["Great news!", "We have:", "a table at 7",
                                          "Shall I book it?"]


async def test_generation_is_bounded_by_the_timeout() -> None:
    script = ChatScript(pieces=["Let me", " think. Hmm", " well."], delay_between_s=60)
    with trio.fail_after(10):
        async with run_chat_server(API_KEY, script) as server, \
                Responder(api_key=API_KEY, model="gpt-4o-mini", base_url=server.base_url,
                          timeout_s=0.25) as rsp:
            started = trio.current_time()
            sentences = []
            with pytest.raises(SpeechError) as raised:
                async with aclosing(rsp.reply_sentences(caller=CALLER, transcript=[],
                                                        user_message="Hi")) as replies:
                    async for sentence in replies:
                        sentences.append(sentence)
            elapsed = trio.current_time() - started
    assert str(raised.value) == "Response generation timed out after 250ms"
    assert sentences == []
    assert elapsed >= 0.25  # a lower bound only: load makes it late, never early


async def test_timeout_covers_a_server_that_never_starts_streaming() -> None:
    script = ChatScript(pieces=["Late."], delay_before_first_s=60)
    with trio.fail_after(10):
        async with run_chat_server(API_KEY, script) as server, \
                Responder(api_key=API_KEY, model="gpt-4o-mini", base_url=server.base_url,
                          timeout_s=0.3) as rsp:
            with pytest.raises(SpeechError, match=r"^Response generation timed out after 300ms$"):
                await collect(rsp)


async def test_time_the_consumer_holds_a_sentence_does_not_count() -> None:
    # The model writes a piece every 0.4 s; the consumer speaks each sentence for 0.35 s, so the
    # reply takes 1.2 s of wall time but only ~0.15 s of it is spent waiting for the model.
    script = ChatScript(pieces=["One. Two", ". Three", ". Four", ". Five."], delay_between_s=0.4)
    with trio.fail_after(10):
        async with run_chat_server(API_KEY, script) as server, \
                Responder(api_key=API_KEY, model="gpt-4o-mini", base_url=server.base_url,
                          timeout_s=0.6) as rsp:
            spoken = []
            async with aclosing(rsp.reply_sentences(caller=CALLER, transcript=[],
                                                    user_message="Count")) as replies:
                async for sentence in replies:
                    spoken.append(sentence)
                    await trio.sleep(0.35)
    assert spoken == ["One.", "Two.", "Three.", "Four.", "Five."]


async def test_a_refused_key_is_reported_without_the_key() -> None:
    wrong_key = "sk-wrong-secret-key-9876543210"
    with trio.fail_after(10):
        async with run_chat_server(API_KEY) as server, \
                Responder(api_key=wrong_key, model="gpt-4o-mini", base_url=server.base_url) as rsp:
            with pytest.raises(SpeechError) as raised:
                await collect(rsp)
    message = str(raised.value)
    assert "HTTP 401" in message
    assert "key" in message
    assert wrong_key not in message
    assert "9876543210" not in message
    assert raised.value.__cause__ is None  # the SDK error echoes the key: not chained
    assert raised.value.__suppress_context__


async def test_a_server_error_is_reported_with_its_status_and_the_key_scrubbed() -> None:
    script = ChatScript(status=500, error_message=f"Upstream failed for key {API_KEY}, retry.")
    with trio.fail_after(10):
        async with run_chat_server(API_KEY, script) as server, \
                Responder(api_key=API_KEY, model="gpt-4o-mini", base_url=server.base_url) as rsp:
            with pytest.raises(SpeechError) as raised:
                await collect(rsp)
    message = str(raised.value)
    assert message.startswith("Response generation failed: HTTP 500: Upstream failed for key")
    assert API_KEY not in message
    assert len(server.requests) == 1  # no silent retries while the caller waits


async def test_an_unreachable_server_is_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{closed_port}/v1"
    with trio.fail_after(10):
        async with Responder(api_key=API_KEY, model="gpt-4o-mini", base_url=base_url) as rsp:
            with pytest.raises(SpeechError, match=r"could not reach http://127\.0\.0\.1:"):
                await collect(rsp)


async def test_stopping_early_closes_the_reply_and_the_responder_stays_usable() -> None:
    script = ChatScript(pieces=["First. Second", ". Third."], delay_between_s=5)
    with trio.fail_after(10):
        async with run_chat_server(API_KEY, script) as server, \
                Responder(api_key=API_KEY, model="gpt-4o-mini", base_url=server.base_url) as rsp:
            async with aclosing(rsp.reply_sentences(caller=CALLER, transcript=[],
                                                    user_message="Hi")) as replies:
                async for sentence in replies:
                    assert sentence == "First."
                    break  # the caller barged in
            server.script = ChatScript(pieces=["Yes?"])
            assert await collect(rsp, user_message="Sorry, go on") == ["Yes?"]
    assert len(server.requests) == 2


def test_a_missing_key_is_refused_up_front() -> None:
    with pytest.raises(SpeechError, match="need an OpenAI API key"):
        Responder(api_key="", model="gpt-4o-mini")
