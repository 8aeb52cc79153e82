"""``voicecall call``: place an outbound call (``voicecall.initiate``) and print its call id.

Human output is the bare id on stdout, so ``id=$(voicecall call ...)`` works in scripts.
With ``--wait`` the command stays until the call has ended (following the daemon's event
stream for this call, from its first event, so an end that comes before the stream is open
is not missed) and then prints how it went: the outcome and the transcript (``--json``: the
ended call's record). A call that was never answered (busy, no answer, failed) exits 1.

``--json`` prints the daemon's answer as it is (``replayed: true`` when ``--idempotency-key``
named a call placed before). A call an outbound rail refuses exits 9 with the daemon's message
(``--json``: the error object with its ``rail``). The request says ``origin: "cli"``.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.options import message_options
from voicecall_cli.cli.output import emit_json, emit_text, json_option, note, render
from voicecall_cli.client import EVENT_STREAM_TIMEOUT_S
from voicecall_cli.protocol import CALL_MODES, InitiateRequest, StatusRequest
from voicecall_cli.protocol.events import CALL_ENDED, SINCE_ALL


@click.command("call")
@click.option("-t", "--to", metavar="E164",
              help="The number to call, E.164 (+15550100) [default: the config's toNumber].")
@message_options("What to say when the call is answered.")
@click.option("--mode", type=click.Choice(CALL_MODES),
              help="notify: say the message and hang up; conversation: stay on the line "
                   "[default: the config's outbound.defaultMode].")
@click.option("--from", "from_number", metavar="E164",
              help="The number to call from [default: the config's fromNumber].")
@click.option("--idempotency-key", metavar="KEY",
              help="The same key within 24 h returns the first call's id and never dials "
                   "twice.")
@click.option("--wait", is_flag=True,
              help="Stay until the call has ended, then print its outcome and transcript "
                   "(exit 1 when it was never answered).")
@json_option
@click.pass_obj
def command(obj: CliContext, to: str | None, message: str, mode: str | None,
            from_number: str | None, idempotency_key: str | None, wait: bool,
            as_json: bool) -> None:
    """Place a call and print its call id."""
    request = build_request(InitiateRequest, to=to, message=message, mode=mode,
                            from_=from_number, idempotencyKey=idempotency_key, origin="cli")
    result = obj.rpc(request, expect="callId")
    call_id = str(result["callId"])
    if not wait:
        if as_json:
            emit_json(result)
        else:
            emit_text(call_id)
        return
    if not as_json:
        note(f"placed call {call_id}; waiting for it to end")
    call = wait_until_ended(obj, call_id)
    if as_json:
        emit_json({**result, "call": call})
    else:
        from voicecall_cli.cli.render import call_panel

        render(call_panel(call))
    if call.get("answeredAt") is None:
        raise CliError(f"call {call_id} ended without being answered: "
                       f"{call.get('endReason') or call.get('state')}", ExitCode.FAILED)


def wait_until_ended(obj: CliContext, call_id: str) -> dict[str, Any]:
    """Follow ``call_id``'s events until ``call.ended``; the ended call's record.

    Raises :class:`CliError` (exit 7) when the daemon goes away first."""
    stream = obj.client(EVENT_STREAM_TIMEOUT_S).event_lines(SINCE_ALL, call_id)
    with closing(stream):
        for _raw, event in stream:
            if event.get("type") == CALL_ENDED:
                break
        else:
            raise CliError(f"the daemon closed the event stream before call {call_id} ended",
                           ExitCode.DAEMON_NOT_RUNNING,
                           f"see how it went with: voicecall status {call_id}")
    status = obj.rpc(build_request(StatusRequest, callId=call_id), expect="found")
    if not isinstance(status.get("call"), dict):
        raise CliError(f"the daemon no longer knows call {call_id}", ExitCode.NO_SUCH_CALL)
    return status["call"]
