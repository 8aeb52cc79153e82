"""``voicecall status``: one call (active or ended), or the table of active calls.

``--json`` prints the daemon's ``voicecall.status`` answer as is. A call the daemon does not
know exits 3 ("no such call: ID"), with ``{"found": false}`` on stdout under ``--json``.
The human forms fit a terminal (short ids in the table); into a pipe or file they are plain
text at full width (whole ids, nothing wrapped or cut): see :mod:`voicecall_cli.cli.render`.
"""

from __future__ import annotations

import time

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import console, emit_json, json_option, render
from voicecall_cli.protocol import ApiError, ErrorCode, StatusRequest


@click.command("status")
@click.argument("call_id_argument", metavar="[CALL_ID]", required=False)
@click.option("--call-id", metavar="ID",
              help="The call to show (also accepted as the argument) [default: all active calls].")
@json_option
@click.pass_obj
def command(obj: CliContext, call_id_argument: str | None, call_id: str | None,
            as_json: bool) -> None:
    """Show one call, or the active calls."""
    if call_id_argument and call_id and call_id_argument != call_id:
        raise click.UsageError("give the call id once: as CALL_ID or as --call-id")
    call_id = call_id or call_id_argument
    result = obj.rpc(build_request(StatusRequest, callId=call_id))
    if call_id is None:
        _show_active(result, as_json)
        return
    found = result.get("found") is True
    if found and not isinstance(result.get("call"), dict):
        raise CliError.from_api(ApiError(ErrorCode.PROTOCOL_MISMATCH,
                                         "the daemon reported the call found but sent no record"))
    if as_json:
        emit_json(result)
    if not found:
        raise CliError(f"no such call: {call_id}", ExitCode.NO_SUCH_CALL)
    if not as_json:
        from voicecall_cli.cli.render import call_panel, show

        show(call_panel(result["call"], now_ms=_now_ms()), console())


def _show_active(result: dict, as_json: bool) -> None:
    calls = result.get("calls")
    if not isinstance(calls, list):
        raise CliError.from_api(ApiError(ErrorCode.PROTOCOL_MISMATCH,
                                         "the daemon's status answer has no 'calls' list"))
    if as_json:
        emit_json(result)
        return
    from voicecall_cli.cli.render import calls_table, show

    if calls:
        show(calls_table(calls, now_ms=_now_ms()), console())
    else:
        render("no active calls")


def _now_ms() -> int:
    return int(time.time() * 1000)
