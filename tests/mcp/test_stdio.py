"""``voicecall mcp`` as an agent's client runs it: a subprocess speaking MCP over stdio."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

pytest.importorskip("mcp", reason="the MCP SDK is the voicecall[mcp] extra")

from mcp import Client, StdioServerParameters

from tests.e2e.conftest import VOICECALL, Daemon, daemon_env

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def server_params(socket: Path, **env: str) -> StdioServerParameters:
    """What an MCP client's config says: run ``voicecall mcp`` (here through this Python)."""
    return StdioServerParameters(command=VOICECALL[0], args=[*VOICECALL[1:], "mcp"],
                                 env={**daemon_env(), "VOICECALL_SOCKET": str(socket), **env},
                                 cwd=str(ROOT))


async def tool(client: Client, **args: Any) -> dict[str, Any]:
    result = await client.call_tool("voice_call", args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def test_a_conversation_call_over_stdio(mcp_daemon: Daemon) -> None:
    with trio.fail_after(60):
        async with Client(server_params(mcp_daemon.socket)) as client:
            assert client.server_info.name == "voicecall"  # type: ignore[union-attr]
            call_id = (await tool(client, action="initiate_call",
                                  message="Hello, this is the dentist's office."))["callId"]
            reply = await tool(client, action="continue_call", callId=call_id,
                               message="Can you come tomorrow at ten?")
            second = await tool(client, action="continue_call", callId=call_id,
                                message="Anything else?")
            await tool(client, action="end_call", callId=call_id)
            outcome = await tool(client, action="wait_for_end", callId=call_id, timeout=20)
    assert reply["transcript"] == "Yes, ten works."
    assert second["transcript"] == "No, that is all."
    assert outcome["call"]["endReason"] == "hangup-bot"
    users = [t["text"] for t in outcome["call"]["transcript"] if t["speaker"] == "user"]
    assert users == ["Yes, ten works.", "No, that is all."]
    # The daemon saw the same call the agent did.
    assert mcp_daemon.call_state(call_id)["endReason"] == "hangup-bot"


async def test_the_server_starts_without_a_daemon_and_says_how_to_start_one(
        tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with Client(server_params(tmp_path / "none.sock")) as client:
            result = await client.call_tool("voice_call", {"action": "get_status",
                                                           "callId": "abcd1234"})
    assert result.is_error
    assert result.structured_content["error"]["code"] == "daemon_not_running"  # type: ignore
    assert "voicecall daemon start" in result.content[0].text  # type: ignore[union-attr]


def test_without_the_sdk_it_says_what_to_install(tmp_path: Path) -> None:
    blocked = tmp_path / "no-sdk" / "mcp"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('No module named mcp')\n")
    proc = subprocess.run(
        [*VOICECALL, "--socket", str(tmp_path / "s.sock"), "mcp"], capture_output=True,
        text=True, timeout=30, stdin=subprocess.DEVNULL, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked.parent), str(ROOT)])})
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "pip install 'voicecall[mcp]'" in proc.stderr
