"""``voicecall call``: place an outbound call (``voicecall.initiate``) and print its call id.

Human output is the bare id on stdout, so ``id=$(voicecall call ...)`` works in scripts.
With ``--wait`` the command stays until the call has ended (following the daemon's event
stream for this call, from its first event, so an end that comes before the stream is open
is not missed) and then prints how it went: the outcome and the transcript (``--json``: the
ended call's record). A call that was never answered (busy, no answer, failed) exits 1.

``--json`` prints the daemon's answer as it is (``replayed: true`` when ``--idempotency-key``
named a call placed before). ``--objective`` is the call's private brief for the
auto-responder (``objective`` in the request). A call an outbound rail refuses exits 9 with the
daemon's message (``--json``: the error object with its ``rail``). The request says
``origin: "cli"``.
"""

from __future__ import annotations

from typing import Any

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.options import message_options
from voicecall_cli.cli.output import emit_json, emit_text, json_option, note, render
from voicecall_cli.protocol import CALL_MODES, ApiError, ErrorCode, InitiateRequest
from voicecall_cli.protocol.messages import OBJECTIVE_MAX

# --wait has no deadline of its own: a call ends by maxDurationSeconds at the latest.
WAIT_LIMIT_S = 7 * 24 * 3600.0


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
@click.option("--objective", metavar="TEXT",
              help="A private brief for the auto-responder on this conversation call (what "
                   "to achieve, what to ask): the model gets it as context, it is never "
                   f"spoken. At most {OBJECTIVE_MAX} characters.")
@click.option("--record", is_flag=True,
              help="Record the call at the carrier once answered (both sides); its URL is on "
                   "'status' after the hang-up. The other party may have to be told.")
@click.option("--wait", is_flag=True,
              help="Stay until the call has ended, then print its outcome and transcript "
                   "(exit 1 when it was never answered).")
@json_option
@click.pass_obj
def command(obj: CliContext, to: str | None, message: str, mode: str | None,
            from_number: str | None, idempotency_key: str | None, objective: str | None,
            record: bool, wait: bool, as_json: bool) -> None:
    """Place a call and print its call id."""
    request = build_request(InitiateRequest, to=to, message=message, mode=mode,
                            from_=from_number, idempotencyKey=idempotency_key, origin="cli",
                            objective=objective, record=True if record else None)
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
    """Follow ``call_id``'s events until it has ended; the ended call's record.

    Raises :class:`CliError` (exit 7) when the daemon goes away first."""
    # Imported only to wait: building the views' classes would cost every command ~10 ms.
    from voicecall_cli.client.calls import CallsApi

    try:
        return CallsApi(obj.client()).wait_until_ended(call_id, WAIT_LIMIT_S).to_json()
    except ApiError as err:
        if err.code is ErrorCode.DAEMON_NOT_RUNNING:
            raise CliError.from_api(
                err, hint=f"see how it went with: voicecall status {call_id}") from err
        raise
