"""The ``voice_call`` tool's actions: arguments in, the daemon's answer (or error) out.

Kept apart from the SDK so the rules are plain Python: :func:`run_action` checks the arguments
an action needs, sends its request through :class:`~voicecall_cli.client.calls.CallsApi` and
returns a JSON object. Errors come back as :class:`ActionError` (an ``ApiError`` code, a message
an agent can act on, and a hint that says what to do next), never as exceptions the SDK would
turn into an opaque failure. Every call blocks its thread for at most its timeout.
"""

from __future__ import annotations

from typing import Any

from voicecall_cli.client.calls import CallsApi
from voicecall_cli.protocol import (
    ApiError,
    CallsRequest,
    ContinueRequest,
    DtmfRequest,
    EndRequest,
    ErrorCode,
    InitiateRequest,
    SpeakRequest,
    error_body,
)
from voicecall_cli.protocol.views import StatusResult

ACTIONS = ("initiate_call", "continue_call", "speak_to_user", "end_call", "get_status",
           "wait_for_end", "list_calls", "send_dtmf")
DEFAULT_WAIT_S = 300.0
MAX_WAIT_S = 3600.0

# What an agent can do about each kind of failure.
HINTS: dict[ErrorCode, str] = {
    ErrorCode.DAEMON_NOT_RUNNING: (
        "the voicecall daemon is not running: ask the user to start it with "
        "`voicecall daemon start` (or `systemctl --user start voicecall`), then try again"),
    ErrorCode.CALL_NOT_FOUND: (
        "no call has this id: use list_calls to see active and recent calls"),
    ErrorCode.TIMEOUT: (
        "nothing happened in time: check the call with get_status; wait_for_end or "
        "continue_call again with a longer timeout if the call is still going"),
    ErrorCode.CONFLICT: (
        "the daemon is busy with this: another continue_call is waiting on the call, or the "
        "concurrent-call limit is reached (end_call or wait_for_end first), or the "
        "idempotency key belongs to a different call"),
    ErrorCode.REFUSED: (
        "an outbound safety rail the user configured refused this call: do not retry it; "
        "tell the user which rail refused and why"),
    ErrorCode.PERMISSION_DENIED: (
        "the control socket belongs to another user: the MCP server must run as the "
        "daemon's user"),
    ErrorCode.PROTOCOL_MISMATCH: (
        "this MCP server and the daemon are different versions: ask the user to restart the "
        "daemon (`voicecall daemon restart`)"),
    ErrorCode.BAD_REQUEST: "fix the arguments and call again",
    ErrorCode.STORE_UNAVAILABLE: (
        "the daemon cannot write its call store (disk full or unwritable): nothing was done; "
        "tell the user, who must free space or fix the store's permissions, then try again"),
}


class ActionError(Exception):
    """A failed action, as the agent sees it: ``{"error": {"code", "message", "hint", ...}}``."""

    def __init__(self, code: str, message: str, hint: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.details = details

    @classmethod
    def from_api(cls, err: ApiError) -> ActionError:
        return cls(err.code.value, err.message, HINTS.get(err.code), err.details or None)

    def to_json(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details, self.hint)

    def text(self) -> str:
        rail = (self.details or {}).get("rail")
        lines = [f"voice_call failed ({self.code}): {self.message}"]
        if rail:
            lines.append(f"refused by: {rail}")
        if self.hint:
            lines.append(f"what to do: {self.hint}")
        return "\n".join(lines)


def run_action(api: CallsApi, action: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one ``voice_call`` action; its JSON result, or :class:`ActionError`."""
    given = {k: v for k, v in args.items() if v is not None}
    try:
        return _dispatch(api, action, given)
    except ApiError as err:
        raise ActionError.from_api(err) from None


def _dispatch(api: CallsApi, action: str, a: dict[str, Any]) -> dict[str, Any]:
    if action == "initiate_call":
        request = InitiateRequest.parse({**_pick(a, "message", "to", "mode", "idempotencyKey",
                                                 "confirmToken", "objective", "record"),
                                         "origin": "mcp"})
        return api.initiate(request).to_json()
    if action == "continue_call":
        body = _pick(a, "callId", "message")
        if "timeout" in a:  # else the daemon's transcriptTimeoutMs
            body["timeoutMs"] = max(1, round(_seconds(a, "timeout", 0) * 1000))
        return api.continue_call(ContinueRequest.parse(body)).to_json()
    if action == "speak_to_user":
        return api.speak(SpeakRequest.parse(_pick(a, "callId", "message"))).to_json()
    if action == "send_dtmf":
        return api.dtmf(DtmfRequest.parse(_pick(a, "callId", "digits"))).to_json()
    if action == "end_call":
        return api.end(EndRequest.parse(_pick(a, "callId"))).to_json()
    if action == "get_status":
        call = api.status(_call_id(a))
        return StatusResult(found=call is not None, call=call).to_json()
    if action == "wait_for_end":
        call = api.wait_until_ended(_call_id(a), _seconds(a, "timeout", DEFAULT_WAIT_S))
        return StatusResult(found=True, call=call).to_json()
    if action == "list_calls":
        calls = api.calls(CallsRequest.parse(_pick(a, "state", "limit")))  # daemon default: 20
        return {"calls": [call.to_json() for call in calls]}
    raise ApiError(ErrorCode.BAD_REQUEST,
                   f"unknown action {action!r}; one of: {', '.join(ACTIONS)}")


def _pick(a: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: a[name] for name in names if name in a}


def _call_id(a: dict[str, Any]) -> str:
    call_id = a.get("callId")
    if not isinstance(call_id, str) or not call_id.strip():
        raise ApiError(ErrorCode.BAD_REQUEST, "callId required")
    return call_id.strip()


def _seconds(a: dict[str, Any], name: str, default: float) -> float:
    value = a.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 < value <= MAX_WAIT_S):
        raise ApiError(ErrorCode.BAD_REQUEST,
                       f"{name} must be a number of seconds between 0 and {MAX_WAIT_S:g}")
    return float(value)
