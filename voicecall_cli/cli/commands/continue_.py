"""``voicecall continue``: speak on a call, wait for the caller's reply, print the transcript.

``--accept`` says what answers: ``speech`` (the default), ``dtmf`` (the keys the caller
presses, until ``#`` or a 3-second pause; printed as the digits) or ``both`` (whichever comes
first). ``--json`` says which it was: ``{"transcript", "input": "speech"|"dtmf", "digits"?}``.

A call that still rings is answered and greeted first (the daemon waits up to the config's
``ringTimeoutMs`` for that). Then the daemon waits up to ``--timeout`` (else its
``transcriptTimeoutMs``, 180 s by default) for the reply and answers ``timeout`` (exit 5)
when nobody spoke. The client's own socket timeout is set above both waits, so the daemon's
answer always arrives first.
"""

from __future__ import annotations

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.options import Seconds, call_id_params, message_options
from voicecall_cli.cli.output import emit_json, emit_text, json_option
from voicecall_cli.client.control import BEFORE_LISTENING_S, UNBOUNDED_WAIT_S
from voicecall_cli.protocol import ContinueRequest
from voicecall_cli.protocol.messages import CONTINUE_ACCEPTS, MAX_TIMEOUT_MS


@click.command("continue")
@call_id_params("The call to speak on.")
@message_options("What to say before listening.")
@click.option("--timeout", type=Seconds(MAX_TIMEOUT_MS / 1000), metavar="S",
              help="Seconds to wait for the reply [default: the config's transcriptTimeoutMs, "
                   "180 s].")
@click.option("--accept", type=click.Choice(CONTINUE_ACCEPTS), default=None,
              help="What answers: the caller's speech, their keys (dtmf: until # or a pause) "
                   "or whichever comes first [default: speech].")
@json_option
@click.pass_obj
def command(obj: CliContext, call_id: str, message: str, timeout: float | None,
            accept: str | None, as_json: bool) -> None:
    """Speak, wait for the caller's reply and print the transcript."""
    timeout_ms = max(1, round(timeout * 1000)) if timeout is not None else None
    request = build_request(ContinueRequest, callId=call_id, message=message,
                            timeoutMs=timeout_ms, accept=accept)
    client_timeout = timeout + BEFORE_LISTENING_S if timeout is not None else UNBOUNDED_WAIT_S
    result = obj.rpc(request, timeout=client_timeout, expect="transcript")
    if as_json:
        emit_json(result)
    else:
        emit_text(str(result["transcript"]))
