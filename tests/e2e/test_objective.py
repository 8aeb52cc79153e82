"""A call's private objective (issue #15 item 5), end to end on the mock carrier: a real daemon
whose auto-responder talks to a local fake of OpenAI's chat completions endpoint. The objective
reaches the model's system context on every reply, before and after a daemon restart, and is
never a line of the call (the mock carrier's callee hears exactly what the transcript shows)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import trio

from tests.speech.fakes.chat_server import ChatScript, run_chat_server

from .conftest import BASE_CONFIG, Daemon, carrier_daemon, cli_json

KEY = "sk-test-objective-0123456789"
OBJECTIVE = "Find out whether Dana can move Thursday's delivery to Friday morning."
GREETING = "Hi Dana, this is the bakery calling."


def config_with_model(chat_url: str):
    def config(store: Path) -> str:
        return (f'responseBaseUrl = "{chat_url}"\n'
                + BASE_CONFIG.format(max_duration=300, store=store)
                + f'\n[streaming]\nopenaiApiKey = "{KEY}"\n')
    return config


async def caller_says(daemon: Daemon, provider_call_id: str, text: str) -> None:
    """The mock carrier reports the caller's final words (its webhook wire format)."""
    event = {"type": "call.speech", "id": str(uuid.uuid4()), "callId": provider_call_id,
             "providerCallId": provider_call_id, "timestamp": int(time.time() * 1000),
             "transcript": text, "isFinal": True, "confidence": 0.9}
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        response = await http.post(daemon.health()["webhookUrl"],
                                   content=json.dumps({"event": event}))
    assert response.status_code == 200, response.text


async def wait_for_bot_line(daemon: Daemon, call_id: str, text: str) -> dict:
    with trio.fail_after(20):  # hang guard only
        while True:
            call = (await cli_json(daemon, "status", "--call-id", call_id))["call"]
            if any(t["speaker"] == "bot" and t["text"] == text for t in call["transcript"]):
                return call
            await trio.sleep(0.05)


def system_context(request) -> str:
    return "\n".join(m["content"] for m in request.body["messages"] if m["role"] == "system")


def conversation_lines(request) -> list[str]:
    return [m["content"] for m in request.body["messages"] if m["role"] != "system"]


async def test_the_objective_steers_the_model_and_is_never_spoken_even_after_a_restart(
        ) -> None:
    script = ChatScript(pieces=["Could the delivery ", "move to Friday morning?"])
    with trio.fail_after(90):
        async with run_chat_server(KEY, script) as chat, \
                carrier_daemon(config_with_model(chat.base_url), "vcobj") as daemon:
            placed = await cli_json(daemon, "call", "--message", GREETING,
                                    "--objective", OBJECTIVE)
            call_id = placed["callId"]
            call = await wait_for_bot_line(daemon, call_id, GREETING)
            assert call["metadata"]["objective"] == OBJECTIVE  # the operator sees it
            pid = call["providerCallId"]
            await caller_says(daemon, pid, "Hello? Who is this?")
            reply = "Could the delivery move to Friday morning?"
            call = await wait_for_bot_line(daemon, call_id, reply)

            [first] = chat.requests
            assert OBJECTIVE in system_context(first)
            assert conversation_lines(first) == [GREETING, "Hello? Who is this?"]

            # A restart keeps the objective with the call, and the next reply still gets it.
            await trio.to_thread.run_sync(daemon.kill9)
            await trio.to_thread.run_sync(daemon.start)
            restored = (await cli_json(daemon, "status", "--call-id", call_id))["call"]
            assert restored["metadata"]["objective"] == OBJECTIVE
            script.pieces = ["Great, Friday it is."]
            await caller_says(daemon, pid, "Friday works.")
            call = await wait_for_bot_line(daemon, call_id, "Great, Friday it is.")
            assert len(chat.requests) == 2 and OBJECTIVE in system_context(chat.requests[1])

            lines = [t["text"] for t in call["transcript"]]
            assert lines == [GREETING, "Hello? Who is this?", reply, "Friday works.",
                             "Great, Friday it is."]
            shown = await trio.to_thread.run_sync(lambda: daemon.cli(
                "tail", "--since", "all", "--no-follow", "--json", check=True).stdout)
            events = [e for e in map(json.loads, shown.splitlines()) if "cursor" in e
                      and e["type"] not in ("snapshot", "heartbeat")]
            assert {"call.created", "call.transcript"} <= {e["type"] for e in events}
            assert not [e for e in events if OBJECTIVE in json.dumps(e)]


async def test_an_objective_is_refused_where_no_model_would_read_it() -> None:
    with trio.fail_after(60):
        async with carrier_daemon(lambda store: BASE_CONFIG.format(max_duration=300,
                                                                   store=store),
                                  "vcobj") as daemon:
            def run(*args: str):
                return daemon.cli("call", "--message", "Hi", *args, "--json", timeout=30)

            no_model = await trio.to_thread.run_sync(lambda: run("--objective", OBJECTIVE))
            assert no_model.returncode == 2, no_model.stderr
            assert "objective needs automatic replies" in json.loads(
                no_model.stdout)["error"]["message"]
            notify = await trio.to_thread.run_sync(
                lambda: run("--mode", "notify", "--objective", OBJECTIVE))
            assert notify.returncode == 2
            assert "objective is for conversation calls" in notify.stderr
            too_long = await trio.to_thread.run_sync(lambda: run("--objective", "x" * 2001))
            assert too_long.returncode == 2
            assert "objective must be at most 2000 characters (it has 2001)" in too_long.stderr
            blank = await trio.to_thread.run_sync(lambda: run("--objective", "   "))
            assert blank.returncode == 2 and "objective must not be blank" in blank.stderr
            assert (await cli_json(daemon, "calls"))["calls"] == []  # nothing was dialled
