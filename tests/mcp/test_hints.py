"""Every failure an agent can meet comes with a hint saying what to do next."""

from __future__ import annotations

from voicecall_cli.mcp.actions import HINTS, ActionError
from voicecall_cli.protocol.errors import ApiError, ErrorCode

# Codes the control API answers only to malformed HTTP (never to the MCP server's own client)
# or for failures nothing can be advised about beyond the message itself.
NO_HINT = {ErrorCode.PAYLOAD_TOO_LARGE, ErrorCode.NOT_FOUND, ErrorCode.METHOD_NOT_ALLOWED,
           ErrorCode.INTERNAL, ErrorCode.OPERATION_FAILED, ErrorCode.CONFIG_ERROR}


def test_every_error_an_agent_can_act_on_has_a_hint() -> None:
    missing = [code.value for code in ErrorCode if code not in NO_HINT and code not in HINTS]
    assert missing == []


def test_a_full_store_tells_the_agent_nothing_was_done() -> None:
    error = ActionError.from_api(ApiError(ErrorCode.STORE_UNAVAILABLE, "the store is full"))
    body = error.to_json()["error"]
    assert body["code"] == "store_unavailable"
    assert "nothing was done" in body["hint"]
    assert "what to do:" in error.text()
