"""The MCP registration snippet the docs give works as written: an MCP client that runs its
``command`` with its ``args`` gets the ``voice_call`` tool."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import trio

pytest.importorskip("mcp", reason="the MCP SDK is the voicecall[mcp] extra")

from mcp import Client, StdioServerParameters

from tests.e2e.conftest import daemon_env

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "skills" / "voice-call" / "SKILL.md"]


def registration(doc: Path) -> dict:
    """The ``mcpServers.voicecall`` entry of the doc's JSON block that registers the server."""
    blocks = re.findall(r"```json\n(.*?)```", doc.read_text(), flags=re.S)
    entries = [json.loads(block)["mcpServers"]["voicecall"] for block in blocks
               if '"mcpServers"' in block]
    assert len(entries) == 1, f"{doc.name}: one MCP registration snippet"
    return entries[0]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
async def test_the_documented_registration_starts_the_server(doc: Path, tmp_path: Path) -> None:
    entry = registration(doc)
    assert entry == {"command": "voicecall", "args": ["mcp"]}
    # The installed console script, as a client would find it on PATH.
    command = shutil.which(entry["command"], path=str(Path(sys.executable).parent))
    assert command is not None, "the voicecall console script is installed beside python"
    params = StdioServerParameters(command=command, args=entry["args"], cwd=str(ROOT),
                                   env={**daemon_env(),
                                        "VOICECALL_SOCKET": str(tmp_path / "control.sock")})
    with trio.fail_after(60):
        async with Client(params) as client:
            tools = (await client.list_tools()).tools
    assert [tool.name for tool in tools] == ["voice_call"]
