"""``voicecall speak``: say something on a call without waiting for a reply.

A call that still rings is answered and greeted first; the command returns once the words
were handed to the call (on Twilio without a media stream: once they were said).
"""

from __future__ import annotations

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.options import call_id_params, message_options
from voicecall_cli.cli.output import emit_json, json_option, note
from voicecall_cli.client.control import SPEAK_WAIT_S
from voicecall_cli.protocol import SpeakRequest


@click.command("speak")
@call_id_params("The call to speak on.")
@message_options("What to say.")
@json_option
@click.pass_obj
def command(obj: CliContext, call_id: str, message: str, as_json: bool) -> None:
    """Speak on a call without waiting for a reply."""
    result = obj.rpc(build_request(SpeakRequest, callId=call_id, message=message),
                     timeout=SPEAK_WAIT_S)
    if as_json:
        emit_json(result)
    else:
        note(f"spoke on call {call_id}")
