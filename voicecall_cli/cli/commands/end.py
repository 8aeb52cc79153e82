"""``voicecall end``: hang up a call (ending an ended call succeeds)."""

from __future__ import annotations

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.options import call_id_params
from voicecall_cli.cli.output import emit_json, json_option, note
from voicecall_cli.protocol import EndRequest


@click.command("end")
@call_id_params("The call to hang up.")
@json_option
@click.pass_obj
def command(obj: CliContext, call_id: str, as_json: bool) -> None:
    """Hang up a call."""
    result = obj.rpc(build_request(EndRequest, callId=call_id))
    if as_json:
        emit_json(result)
    else:
        note(f"ended call {call_id}")
