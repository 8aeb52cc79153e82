"""``voicecall dtmf``: send touch tones (DTMF) on a call, e.g. to work an automated menu.

``--digits`` holds 0-9, ``*``, ``#`` and ``w``/``W`` (a pause of half a second / one second),
at most 64 of them; anything else is a usage error (exit 2) before the daemon is asked. A call
that still rings is waited for (as ``speak`` waits); the command returns once the carrier
accepted the tones. What the caller presses shows in ``tail`` as ``call.dtmf`` events.
"""

from __future__ import annotations

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.options import call_id_params
from voicecall_cli.cli.output import emit_json, json_option, note
from voicecall_cli.client.control import SPEAK_WAIT_S
from voicecall_cli.protocol import DtmfRequest
from voicecall_cli.protocol.messages import MAX_DTMF_DIGITS, dtmf_problem


def _digits(ctx: click.Context, param: click.Parameter, value: str) -> str:
    problem = dtmf_problem(value.strip())
    if problem is not None:
        raise click.BadParameter(problem)
    return value.strip()


@click.command("dtmf")
@call_id_params("The call to send the tones on.")
@click.option("--digits", required=True, callback=_digits, metavar="KEYS",
              help="Keys to press: 0-9, *, #, and w (pause 0.5 s) or W (pause 1 s); at most "
                   f"{MAX_DTMF_DIGITS}, e.g. \"ww123#\".")
@json_option
@click.pass_obj
def command(obj: CliContext, call_id: str, digits: str, as_json: bool) -> None:
    """Send touch tones (DTMF) on a call."""
    result = obj.rpc(build_request(DtmfRequest, callId=call_id, digits=digits),
                     timeout=SPEAK_WAIT_S)
    if as_json:
        emit_json(result)
    else:
        note(f"sent {digits} on call {call_id}")
