"""The MCP server: the seed's ``voice_call`` tool and the call resources, on the SDK's
``MCPServer`` (``mcp>=2,<3``, the ``voicecall[mcp]`` extra).

:func:`build_server` makes the server for one control socket; :func:`run_stdio` serves it on
stdin/stdout until the client closes them. The server owns nothing of the daemon: every tool
call and resource read is one or a few control requests through
:class:`~voicecall_cli.client.calls.CallsApi`, run by the SDK on a worker thread (the tool
functions are synchronous), each bounded by its own timeout. A daemon that is not running is an
error result that says how to start it, never a server that fails to start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.tools.base import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from voicecall_cli import __version__
from voicecall_cli.client.calls import CallsApi
from voicecall_cli.client.control import ControlClient
from voicecall_cli.mcp.actions import ACTIONS, MAX_WAIT_S, ActionError, run_action
from voicecall_cli.protocol import CALL_LIST_LIMIT, CALL_MODES, ApiError
from voicecall_cli.protocol.messages import OBJECTIVE_MAX
from voicecall_cli.protocol.schema import merged_schema
from voicecall_cli.protocol.views import (
    CallsResult,
    ContinueResult,
    InitiateResult,
    StatusResult,
    SuccessResult,
)

TOOL_NAME = "voice_call"
ACTIVE_CALLS_URI = "voicecall://calls/active"
TRANSCRIPT_URI = "voicecall://calls/{callId}/transcript"

INSTRUCTIONS = """\
voicecall places and receives real phone calls through the user's voicecall daemon.
Use the voice_call tool:
- initiate_call (message, to?, mode?, objective?): place a call; mode "notify" says the
  message and hangs up, "conversation" stays on the line, where objective (a private brief,
  never spoken) steers the daemon's automatic replies. Returns callId. If it returns
  confirmationRequired, show the preview to the user and call initiate_call again with the
  same arguments and confirmToken.
- continue_call (callId, message): say something and wait for the caller's answer (transcript).
- speak_to_user (callId, message): say something without waiting.
- send_dtmf (callId, digits): press keys on the call (0-9 * #, w/W pause 0.5/1 s), e.g. to
  work an automated phone menu.
- end_call (callId): hang up.
- get_status (callId): the call's state and transcript.
- wait_for_end (callId, timeout?): wait until the call has ended; returns its transcript and
  endReason (completed, hangup-user, busy, no-answer, failed, voicemail...).
- list_calls (state?, limit?): active and recent calls.
Errors carry a code (daemon_not_running, call_not_found, timeout, conflict, refused,
bad_request) and a hint saying what to do. A call refused by a rail must not be retried.
"""

TOOL_DESCRIPTION = """\
Place and manage phone calls. Actions: initiate_call (message, to?, mode?, idempotencyKey?,
confirmToken?, objective?, record?), continue_call (callId, message, timeout?), speak_to_user
(callId, message), end_call (callId), get_status (callId), wait_for_end (callId, timeout?),
list_calls (state?, limit?), send_dtmf (callId, digits). Phone numbers are E.164
(+15550001234); call ids may be given as a unique prefix of 8+ characters."""

Action = Literal[ACTIONS]  # type: ignore[valid-type]  (the tuple's names, in its order)
Mode = Literal[CALL_MODES]  # type: ignore[valid-type]
OUTPUT_SCHEMA = merged_schema(
    InitiateResult, ContinueResult, SuccessResult, StatusResult, CallsResult,
    description="The daemon's answer to the action (its fields depend on the action).")


def build_server(socket_path: str | Path) -> MCPServer:
    """The MCP server for the daemon on ``socket_path`` (nothing is connected yet)."""
    api = CallsApi(ControlClient(socket_path, on_warning=_ignore))

    def voice_call(
        action: Annotated[Action, Field(description="What to do.")],
        message: Annotated[str | None, Field(
            description="What to say (initiate_call, continue_call, speak_to_user).")] = None,
        to: Annotated[str | None, Field(
            description="initiate_call: the number to call, E.164 "
                        "(default: the configured toNumber).")] = None,
        mode: Annotated[Mode | None, Field(
            description="initiate_call: notify (say it, hang up) or conversation "
                        "(stay on the line); default: the configured default.")] = None,
        callId: Annotated[str | None, Field(
            description="The call (continue_call, speak_to_user, end_call, get_status, "
                        "wait_for_end, send_dtmf).")] = None,
        digits: Annotated[str | None, Field(
            description="send_dtmf: the keys to press: 0-9, *, #, w (pause 0.5 s), "
                        "W (pause 1 s); e.g. \"ww1#\".")] = None,
        timeout: Annotated[float | None, Field(
            description="Seconds to wait: wait_for_end (default 300), continue_call "
                        "(default: the daemon's transcriptTimeoutMs).", gt=0,
            le=MAX_WAIT_S)] = None,
        idempotencyKey: Annotated[str | None, Field(
            description="initiate_call: retrying with the same key within 24 h returns the "
                        "first call and never dials twice.")] = None,
        confirmToken: Annotated[str | None, Field(
            description="initiate_call: the token a confirmationRequired answer gave, once "
                        "the user approved the preview.")] = None,
        objective: Annotated[str | None, Field(
            description="initiate_call (conversation calls): a private brief for the "
                        "auto-responder (what to achieve, what to ask); the model gets it as "
                        f"context, it is never spoken; at most {OBJECTIVE_MAX} "
                        "characters.")] = None,
        record: Annotated[bool | None, Field(
            description="initiate_call: true records the call at the carrier (tell the "
                        "other party: consent law may require it); the recording's URL is "
                        "on get_status after the call.")] = None,
        state: Annotated[str | None, Field(
            description="list_calls: active, ended or one call state.")] = None,
        limit: Annotated[int | None, Field(
            description="list_calls: at most this many (default 20).", ge=1,
            le=CALL_LIST_LIMIT)] = None,
    ) -> CallToolResult:
        args = {"message": message, "to": to, "mode": mode, "callId": callId,
                "digits": digits, "timeout": timeout, "idempotencyKey": idempotencyKey,
                "confirmToken": confirmToken, "objective": objective, "record": record,
                "state": state, "limit": limit}
        try:
            result = run_action(api, action, args)
        except ActionError as err:
            return CallToolResult(content=[TextContent(type="text", text=err.text())],
                                  structured_content=err.to_json(), is_error=True)
        return CallToolResult(content=[TextContent(type="text", text=_pretty(result))],
                              structured_content=result)

    tool = Tool.from_function(
        voice_call, name=TOOL_NAME, title="Phone calls", description=TOOL_DESCRIPTION,
        annotations=ToolAnnotations(destructive_hint=True, open_world_hint=True,
                                    idempotent_hint=False, read_only_hint=False))
    # Published, not validated by the SDK here: the client checks each answer against it.
    tool.fn_metadata.output_schema = OUTPUT_SCHEMA
    server: MCPServer = MCPServer("voicecall", instructions=INSTRUCTIONS, version=__version__,
                                  tools=[tool], log_level="WARNING")

    @server.resource(ACTIVE_CALLS_URI, name="active-calls", title="Active calls",
                     description="The calls in progress, with their state and transcript.",
                     mime_type="application/json")
    def active_calls() -> str:
        calls = _resource_call(api.active_calls)
        return _pretty({"calls": [call.to_json() for call in calls]})

    @server.resource(TRANSCRIPT_URI, name="call-transcript", title="A call's transcript",
                     description="One call's transcript (active or ended), with its state "
                                 "and end reason.", mime_type="application/json")
    def call_transcript(callId: str) -> str:
        call = _resource_call(lambda: api.status(callId))
        if call is None:
            raise ResourceError(f"no such call: {callId}")
        return _pretty({"callId": call.callId, "state": call.state,
                        "endReason": call.endReason,
                        "transcript": [line.to_json() for line in call.transcript]})

    return server


async def run_stdio(socket_path: str | Path) -> None:
    """Serve on stdin/stdout until the client closes the stream."""
    await build_server(socket_path).run_stdio_async()


def _resource_call(read: Any) -> Any:
    try:
        return read()
    except ApiError as err:
        error = ActionError.from_api(err)
        raise ResourceError(error.text()) from None


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _ignore(message: str) -> None:
    return None
