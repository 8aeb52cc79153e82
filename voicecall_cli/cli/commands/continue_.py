"""``voicecall continue``: speak on a call, wait for the caller's reply, print the transcript.

The daemon waits up to ``--timeout`` (else its ``transcriptTimeoutMs``, 180 s by default) and
answers ``timeout`` (exit 5) when nobody spoke. The client's own socket timeout is set above
that wait, so the daemon's answer always arrives first.
"""

from __future__ import annotations

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.output import emit_json, emit_text, json_option
from voicecall_cli.protocol import ContinueRequest

CLIENT_MARGIN_S = 30.0
# Without --timeout the daemon's configured wait applies, which the CLI does not know: this
# only guards against a daemon that never answers.
UNBOUNDED_WAIT_S = 3600.0


@click.command("continue")
@click.option("--call-id", required=True, metavar="ID", help="The call to speak on.")
@click.option("-m", "--message", required=True, metavar="TEXT",
              help="What to say before listening.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Seconds to wait for the reply [default: the config's transcriptTimeoutMs, "
                   "180 s].")
@json_option
@click.pass_obj
def command(obj: CliContext, call_id: str, message: str, timeout: float | None,
            as_json: bool) -> None:
    """Speak, wait for the caller's reply and print the transcript."""
    timeout_ms = max(1, round(timeout * 1000)) if timeout is not None else None
    request = build_request(ContinueRequest, callId=call_id, message=message,
                            timeoutMs=timeout_ms)
    client_timeout = timeout + CLIENT_MARGIN_S if timeout is not None else UNBOUNDED_WAIT_S
    result = obj.rpc(request, timeout=client_timeout, expect="transcript")
    if as_json:
        emit_json(result)
    else:
        emit_text(str(result["transcript"]))
