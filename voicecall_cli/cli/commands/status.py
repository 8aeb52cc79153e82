"""``voicecall status``: one call (active or ended), or the table of active calls.

``--json`` prints the daemon's ``voicecall.status`` answer as is. A call the daemon does not
know exits 3 ("no such call: ID"), with ``{"found": false, "error": {...}}`` on stdout under
``--json``. The call id may be given as the argument or as ``--call-id``, or as a unique prefix.
The human forms fit a terminal (short ids in the table); into a pipe or file they are plain
text at full width (whole ids, nothing wrapped or cut): see :mod:`voicecall_cli.cli.render`.
"""

from __future__ import annotations

import time

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.options import call_id_params
from voicecall_cli.cli.output import emit_json, json_option, render
from voicecall_cli.protocol import ApiError, ErrorCode, StatusRequest


@click.command("status")
@call_id_params("The call to show [default: all active calls].", required=False)
@json_option
@click.pass_obj
def command(obj: CliContext, call_id: str | None, as_json: bool) -> None:
    """Show one call, or the active calls."""
    result = obj.rpc(build_request(StatusRequest, callId=call_id))
    if call_id is None:
        _show_active(result, as_json)
        return
    found = result.get("found") is True
    if found and not isinstance(result.get("call"), dict):
        raise CliError.from_api(ApiError(ErrorCode.PROTOCOL_MISMATCH,
                                         "the daemon reported the call found but sent no record"))
    if not found:
        missing = CliError(f"no such call: {call_id}", ExitCode.NO_SUCH_CALL)
        if as_json:
            emit_json({**result, **missing.to_json()})
        raise missing
    if as_json:
        emit_json(result)
    if not as_json:
        from voicecall_cli.cli.render import call_panel

        render(call_panel(result["call"], now_ms=_now_ms()))


def _show_active(result: dict, as_json: bool) -> None:
    calls = result.get("calls")
    if not isinstance(calls, list):
        raise CliError.from_api(ApiError(ErrorCode.PROTOCOL_MISMATCH,
                                         "the daemon's status answer has no 'calls' list"))
    if as_json:
        emit_json(result)
        return
    from voicecall_cli.cli.render import calls_table

    if calls:
        render(calls_table(calls, now_ms=_now_ms()))
    else:
        render("no active calls")


def _now_ms() -> int:
    return int(time.time() * 1000)
