"""The ``voice_call`` tool's ``objective`` (issue #15 item 5): passed through initiate_call to
a real daemon on the mock carrier, kept on the call, shown in a confirmation preview and bound
to its token, refused when too long."""

from __future__ import annotations

import pytest

pytest.importorskip("mcp", reason="the MCP SDK is the voicecall[mcp] extra")

from tests.e2e.conftest import Daemon
from tests.mcp.conftest import CONFIG
from tests.mcp.test_voice_call_tool import connected, error, ok

pytestmark = pytest.mark.e2e
OBJECTIVE = "Ask whether the table can be by the window; do not offer a discount."
# Automatic replies on (a model key), pointed at a closed loopback port: never the internet.
MODEL = 'responseBaseUrl = "http://127.0.0.1:9/v1"\n'
MORE = ('[streaming]\nopenaiApiKey = "sk-test-mcp-objective-0123"\n\n'
        "[mcp]\nrequireConfirmation = true\n")


@pytest.fixture
def daemon(daemon_factory) -> Daemon:
    daemon = daemon_factory()
    daemon.config.write_text(MODEL + CONFIG.format(store=daemon.root / "state", outbound="",
                                                   more=MORE, max_calls=3,
                                                   reply_delay_ms=100))
    daemon.start()
    return daemon


async def test_initiate_call_passes_the_objective_through_its_confirmation(
        daemon: Daemon) -> None:
    call = {"action": "initiate_call", "message": "Table for two at eight?",
            "to": "+15550002222", "objective": OBJECTIVE}
    async with connected(daemon.socket) as client:
        tools = (await client.list_tools()).tools
        assert "objective" in tools[0].input_schema["properties"]
        preview = await ok(client, **call)
        token = preview["confirmToken"]
        changed = await error(client, **{**call, "objective": "Offer a discount."},
                              confirmToken=token)
        too_long = await error(client, **{**call, "objective": "x" * 2001},
                               confirmToken=token)
        placed = await ok(client, **call, confirmToken=token)
        status = await ok(client, action="get_status", callId=placed["callId"])
        await ok(client, action="end_call", callId=placed["callId"])
    # the person approving an agent's call sees its objective...
    assert preview["preview"]["objective"] == OBJECTIVE
    # ...and the token places exactly that call, not one with another brief
    assert changed["code"] == "bad_request" and changed["rail"] == "mcp.requireConfirmation"
    assert too_long["code"] == "bad_request" and "at most 2000 characters" in too_long["message"]
    assert status["call"]["metadata"]["objective"] == OBJECTIVE
    assert not any(OBJECTIVE in t["text"] for t in status["call"]["transcript"])
