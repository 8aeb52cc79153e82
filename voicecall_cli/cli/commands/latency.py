"""``voicecall latency``: how long the turns of recent calls took (``voicecall.latency``).

Reads the daemon's stored ``call.latency`` events (one per auto-reply on a media stream: the
caller's end of speech, the transcript, the model's first token and sentence, the first TTS
byte, the first audio) and ``call.turn`` events (``continue`` turns). Human output: the
p50/p95 (and min, max, average) of each stage over the last ``--last`` turns; with
``--call-id``, that call's turns one row each first. ``--json`` prints the daemon's answer
as is: the rows and the summary. No measured turn yet is not an error (exit 0).
"""

from __future__ import annotations

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.options import call_id_params
from voicecall_cli.cli.output import emit_json, json_option, render
from voicecall_cli.protocol import LatencyRequest
from voicecall_cli.protocol.messages import LATENCY_LAST_DEFAULT, LATENCY_LAST_LIMIT


@click.command("latency")
@call_id_params("Only this call's turns [default: every call's].", required=False)
@click.option("-n", "--last", type=click.IntRange(1, LATENCY_LAST_LIMIT),
              default=LATENCY_LAST_DEFAULT, show_default=True,
              help="The newest this many turns.")
@json_option
@click.pass_obj
def command(obj: CliContext, call_id: str | None, last: int, as_json: bool) -> None:
    """Show per-turn latency and each stage's p50/p95 over recent calls."""
    result = obj.rpc(build_request(LatencyRequest, callId=call_id, last=last), expect="turns")
    if as_json:
        emit_json(result)
        return
    from voicecall_cli.cli.render_latency import latency_view

    render(latency_view(result, one_call=call_id is not None))
