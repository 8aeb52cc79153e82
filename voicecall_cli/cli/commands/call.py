"""``voicecall call``: place an outbound call (``voicecall.initiate``) and print its call id.

Human output is the bare id on stdout, so ``id=$(voicecall call ...)`` works in scripts.
"""

from __future__ import annotations

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.output import emit_json, emit_text, json_option
from voicecall_cli.protocol import CALL_MODES, InitiateRequest


@click.command("call")
@click.option("-t", "--to", metavar="E164",
              help="The number to call, E.164 (+15550100) [default: the config's toNumber].")
@click.option("-m", "--message", required=True, metavar="TEXT",
              help="What to say when the call is answered.")
@click.option("--mode", type=click.Choice(CALL_MODES),
              help="notify: say the message and hang up; conversation: stay on the line "
                   "[default: the config's outbound.defaultMode].")
@json_option
@click.pass_obj
def command(obj: CliContext, to: str | None, message: str, mode: str | None,
            as_json: bool) -> None:
    """Place a call and print its call id."""
    request = build_request(InitiateRequest, to=to, message=message, mode=mode)
    result = obj.rpc(request, expect="callId")
    if as_json:
        emit_json(result)
    else:
        emit_text(str(result["callId"]))
