"""The ``voice_call`` tool, driven by the MCP SDK's own client against the in-process server,
which talks to a real daemon on the mock carrier over its control socket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

pytest.importorskip("mcp", reason="the MCP SDK is the voicecall[mcp] extra")

from mcp import Client, MCPError

from tests.e2e.conftest import Daemon
from tests.mcp.conftest import DaemonFactory
from voicecall_cli.mcp.server import build_server

pytestmark = pytest.mark.e2e
ACTIONS = ["initiate_call", "continue_call", "speak_to_user", "end_call", "get_status",
           "wait_for_end", "list_calls", "send_dtmf"]


@asynccontextmanager
async def connected(socket: Path) -> AsyncIterator[Client]:
    with trio.fail_after(60):
        async with Client(build_server(socket)) as client:
            yield client


async def voice_call(client: Client, **args: Any) -> tuple[bool, dict[str, Any]]:
    """(is_error, structured result) of one tool call; the text block holds the same facts."""
    result = await client.call_tool("voice_call", args)
    assert result.structured_content is not None
    text = result.content[0].text  # type: ignore[union-attr]
    if result.is_error:
        assert result.structured_content["error"]["message"] in text
    else:
        assert json.loads(text) == result.structured_content
    return bool(result.is_error), result.structured_content


async def ok(client: Client, **args: Any) -> dict[str, Any]:
    is_error, result = await voice_call(client, **args)
    assert not is_error, result
    return result


async def error(client: Client, **args: Any) -> dict[str, Any]:
    is_error, result = await voice_call(client, **args)
    assert is_error, result
    return result["error"]


async def test_the_tool_lists_the_seed_actions_and_publishes_its_output_schema(
        mcp_daemon: Daemon) -> None:
    async with connected(mcp_daemon.socket) as client:
        tools = (await client.list_tools()).tools
    assert [tool.name for tool in tools] == ["voice_call"]
    schema = tools[0].input_schema
    assert schema["properties"]["action"]["enum"] == ACTIONS
    assert schema["required"] == ["action"]
    for name in ("message", "to", "mode", "callId", "timeout", "idempotencyKey",
                 "confirmToken"):
        assert name in schema["properties"]
    output = tools[0].output_schema
    assert output is not None and output["type"] == "object"
    call = output["properties"]["call"]
    assert {"callId", "state", "endReason", "transcript"} <= set(call["required"])


async def test_a_conversation_call_from_initiate_to_its_end(mcp_daemon: Daemon) -> None:
    async with connected(mcp_daemon.socket) as client:
        placed = await ok(client, action="initiate_call", message="Hi, can you do ten?",
                          mode="conversation")
        assert placed["initiated"] is True
        call_id = placed["callId"]

        status = await ok(client, action="get_status", callId=call_id)
        assert status["found"] is True and status["call"]["callId"] == call_id
        assert status["call"]["to"] == "+15550001111"

        reply = await ok(client, action="continue_call", callId=call_id,
                         message="Does ten tomorrow work?")
        assert reply == {"success": True, "transcript": "Yes, ten works."}
        assert await ok(client, action="speak_to_user", callId=call_id[:8],
                        message="Great, see you then.") == {"success": True}
        assert await ok(client, action="send_dtmf", callId=call_id,
                        digits="w1#") == {"success": True}
        bad = await error(client, action="send_dtmf", callId=call_id, digits="1x")
        assert bad["code"] == "bad_request" and "'x' is not a touch tone" in bad["message"]
        assert await ok(client, action="end_call", callId=call_id) == {"success": True}

        ended = (await ok(client, action="wait_for_end", callId=call_id, timeout=20))["call"]
    assert ended["endReason"] == "hangup-bot" and ended["endedAt"] is not None
    said = [(line["speaker"], line["text"]) for line in ended["transcript"]]
    assert ("user", "Yes, ten works.") in said
    assert ("bot", "Great, see you then.") in said
    assert said.index(("bot", "Does ten tomorrow work?")) < said.index(
        ("user", "Yes, ten works."))


async def test_wait_for_end_tells_how_a_notify_call_went(mcp_daemon: Daemon) -> None:
    async with connected(mcp_daemon.socket) as client:
        call_id = (await ok(client, action="initiate_call", mode="notify",
                            message="Your parcel arrives at noon."))["callId"]
        result = await ok(client, action="wait_for_end", callId=call_id, timeout=30)
        listed = await ok(client, action="list_calls")
    call = result["call"]
    assert result["found"] is True and call["callId"] == call_id
    assert call["answeredAt"] is not None and call["endReason"] == "hangup-bot"
    assert call["transcript"][0]["text"] == "Your parcel arrives at noon."
    assert [c["callId"] for c in listed["calls"]] == [call_id]


async def test_list_calls_shows_active_and_recent_calls(mcp_daemon: Daemon) -> None:
    async with connected(mcp_daemon.socket) as client:
        first = (await ok(client, action="initiate_call", message="One."))["callId"]
        await ok(client, action="end_call", callId=first)
        await ok(client, action="wait_for_end", callId=first, timeout=20)
        second = (await ok(client, action="initiate_call", message="Two."))["callId"]
        everything = await ok(client, action="list_calls")
        active = await ok(client, action="list_calls", state="active")
        ended = await ok(client, action="list_calls", state="ended", limit=5)
        await ok(client, action="end_call", callId=second)
    assert [c["callId"] for c in everything["calls"]] == [second, first]
    assert [c["callId"] for c in active["calls"]] == [second]
    assert [c["callId"] for c in ended["calls"]] == [first]


async def test_resources_show_active_calls_and_a_transcript(mcp_daemon: Daemon) -> None:
    async with connected(mcp_daemon.socket) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["voicecall://calls/{callId}/transcript"]
        resources = (await client.list_resources()).resources
        assert [str(r.uri) for r in resources] == ["voicecall://calls/active"]

        call_id = (await ok(client, action="initiate_call", message="Hello there."))["callId"]
        await ok(client, action="continue_call", callId=call_id, message="Ten?")
        active = await client.read_resource("voicecall://calls/active")
        transcript = await client.read_resource(f"voicecall://calls/{call_id}/transcript")
        await ok(client, action="end_call", callId=call_id)
        with pytest.raises(MCPError, match="no such call"):
            await client.read_resource("voicecall://calls/nope-nope/transcript")
    calls = json.loads(active.contents[0].text)["calls"]  # type: ignore[union-attr]
    assert [c["callId"] for c in calls] == [call_id]
    lines = json.loads(transcript.contents[0].text)  # type: ignore[union-attr]
    assert lines["callId"] == call_id
    assert [line["text"] for line in lines["transcript"]][-2:] == ["Ten?", "Yes, ten works."]


async def test_errors_an_agent_can_act_on(mcp_daemon_factory: DaemonFactory) -> None:
    daemon = mcp_daemon_factory(max_calls=1)
    async with connected(daemon.socket) as client:
        missing = await error(client, action="initiate_call")
        assert missing["code"] == "bad_request" and missing["message"] == "message required"

        unknown = await error(client, action="end_call", callId="no-such-call")
        assert unknown["code"] == "call_not_found" and "list_calls" in unknown["hint"]
        assert await ok(client, action="get_status", callId="no-such-call") == {
            "found": False}

        call_id = (await ok(client, action="initiate_call", message="Hold on."))["callId"]
        busy = await error(client, action="initiate_call", message="A second call.")
        assert busy["code"] == "conflict" and "Maximum concurrent calls" in busy["message"]

        with trio.fail_after(10):
            late = await error(client, action="wait_for_end", callId=call_id, timeout=0.5)
        assert late["code"] == "timeout" and "has not ended within 0.5 s" in late["message"]
        assert "get_status" in late["hint"]
        await ok(client, action="end_call", callId=call_id)

    daemon.stop()
    async with connected(daemon.socket) as client:
        down = await error(client, action="list_calls")
    assert down["code"] == "daemon_not_running"
    assert "voicecall daemon start" in down["hint"]


async def test_a_second_continue_on_the_same_call_is_a_conflict(
        mcp_daemon_factory: DaemonFactory) -> None:
    # The callee never answers within the test: the first turn is still waiting, whatever the
    # machine's load, when the second arrives.
    daemon = mcp_daemon_factory(reply_delay_ms=600_000)
    async with connected(daemon.socket) as client:
        call_id = (await ok(client, action="initiate_call", message="Hi."))["callId"]
        first: list[tuple[bool, dict[str, Any]]] = []

        async def said_by_bot() -> bool:
            call = (await ok(client, action="get_status", callId=call_id))["call"]
            return ("bot", "Anything else?") in [(t["speaker"], t["text"])
                                                for t in call["transcript"]]

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                async def wait_reply() -> None:
                    first.append(await voice_call(client, action="continue_call",
                                                  callId=call_id, message="Anything else?"))

                nursery.start_soon(wait_reply)
                while not await said_by_bot():  # the turn is under way: its waiter is set
                    await trio.sleep(0.05)
                clash = await error(client, action="continue_call", callId=call_id,
                                    message="Hello?")
                await ok(client, action="end_call", callId=call_id)
    assert clash["code"] == "conflict" and "Already waiting" in clash["message"]
    [(first_failed, first_result)] = first
    assert first_failed, first_result  # the first turn ended with the call, not by the clash
    assert first_result["error"]["code"] != "conflict", first_result


async def test_a_rail_refuses_and_says_which(mcp_daemon_factory: DaemonFactory) -> None:
    daemon = mcp_daemon_factory(outbound='allowTo = ["+1444"]')
    async with connected(daemon.socket) as client:
        refused = await error(client, action="initiate_call", message="Hello.")
        listed = await ok(client, action="list_calls")
        allowed = await ok(client, action="initiate_call", message="Hello.",
                           to="+14445550000", mode="notify")
    assert refused["code"] == "refused" and refused["rail"] == "outbound.allowTo"
    assert "+15550001111 is not in outbound.allowTo" in refused["message"]
    assert "do not retry" in refused["hint"]
    assert listed == {"calls": []}  # nothing was dialled
    assert allowed["initiated"] is True  # a number under the prefix is called


async def test_an_idempotency_key_makes_a_retry_safe(mcp_daemon: Daemon) -> None:
    async with connected(mcp_daemon.socket) as client:
        first = await ok(client, action="initiate_call", message="Parcel at noon.",
                         mode="notify", idempotencyKey="parcel-42")
        again = await ok(client, action="initiate_call", message="Parcel at noon.",
                         mode="notify", idempotencyKey="parcel-42")
        other = await error(client, action="initiate_call", message="Parcel at one.",
                            mode="notify", idempotencyKey="parcel-42")
        listed = await ok(client, action="list_calls")
    assert again == {**first, "replayed": True}
    assert other["code"] == "conflict" and first["callId"] in other["message"]
    assert [c["callId"] for c in listed["calls"]] == [first["callId"]]


async def test_confirmation_previews_first_and_the_token_dials_once(
        mcp_daemon_factory: DaemonFactory) -> None:
    daemon = mcp_daemon_factory(more="[mcp]\nrequireConfirmation = true\n")
    async with connected(daemon.socket) as client:
        preview = await ok(client, action="initiate_call", message="Table for five at seven?",
                           to="+15550002222")
        assert await ok(client, action="list_calls") == {"calls": []}  # nothing dialled yet
        token = preview["confirmToken"]
        changed = await error(client, action="initiate_call", to="+15550002222",
                              message="Table for six at seven?", confirmToken=token)
        placed = await ok(client, action="initiate_call", message="Table for five at seven?",
                          to="+15550002222", confirmToken=token)
        reused = await error(client, action="initiate_call", message="Table for five at seven?",
                             to="+15550002222", confirmToken=token)
        listed = await ok(client, action="list_calls")
        await ok(client, action="end_call", callId=placed["callId"])
    assert preview["initiated"] is False and preview["confirmationRequired"] is True
    assert preview["preview"] == {"to": "+15550002222", "from": "+15550000000",
                                  "mode": "conversation", "message": "Table for five at seven?"}
    assert preview["expiresAt"] > 0 and "callId" not in preview
    assert changed["code"] == "bad_request" and changed["rail"] == "mcp.requireConfirmation"
    assert placed["initiated"] is True and placed["callId"]
    assert reused["code"] == "conflict"
    assert [c["callId"] for c in listed["calls"]] == [placed["callId"]]
    # A person at the terminal is not asked to confirm: only agents (origin mcp) are.
    direct = daemon.cli_json("call", "--message", "From the shell.", "--mode", "notify")
    assert direct["initiated"] is True and "confirmationRequired" not in direct
