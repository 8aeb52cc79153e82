"""``voicecall speak``: say something on a call without waiting for a reply."""

from __future__ import annotations

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.output import emit_json, json_option, note
from voicecall_cli.protocol import SpeakRequest


@click.command("speak")
@click.option("--call-id", required=True, metavar="ID", help="The call to speak on.")
@click.option("-m", "--message", required=True, metavar="TEXT", help="What to say.")
@json_option
@click.pass_obj
def command(obj: CliContext, call_id: str, message: str, as_json: bool) -> None:
    """Speak on a call without waiting for a reply."""
    result = obj.rpc(build_request(SpeakRequest, callId=call_id, message=message))
    if as_json:
        emit_json(result)
    else:
        note(f"spoke on call {call_id}")
