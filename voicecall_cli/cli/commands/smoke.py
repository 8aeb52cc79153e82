"""``voicecall smoke --to E164 [--yes]``: one real, short notify call that checks a set-up end
to end (carrier credentials, public URL, webhooks, speech, hang-up).

Without ``--yes`` it prints what it would do and dials nothing (exit 0). With ``--yes`` it
places a notify call through the running daemon, waits for it to end and prints how it went;
exit 0 when the callee answered, 1 when the call was never answered (busy, no answer, failed).
"""

from __future__ import annotations

from typing import Any

import click

from voicecall_cli.cli.commands.call import wait_until_ended
from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import emit_json, emit_text, json_option, note
from voicecall_cli.protocol import InitiateRequest

SMOKE_MESSAGE = "This is a voicecall test call. Your set-up works. Goodbye."


@click.command("smoke")
@click.option("-t", "--to", metavar="E164", required=True,
              help="The number to call, E.164 (+15550100): a phone you can answer.")
@click.option("-m", "--message", metavar="TEXT", default=SMOKE_MESSAGE,
              help="What the call says before it hangs up [default: a short test line].")
@click.option("--yes", is_flag=True, help="Really dial (without it, only say what would happen).")
@json_option
@click.pass_obj
def command(obj: CliContext, to: str, message: str, yes: bool, as_json: bool) -> None:
    """Place one short test call to check the whole set-up."""
    health = obj.client().health()
    plan = {"to": to, "mode": "notify", "message": message,
            "provider": health.get("provider"), "webhookUrl": health.get("webhookUrl")}
    if not yes:
        if as_json:
            emit_json({"dialled": False, "plan": plan})
            return
        emit_text(f"would call {to} through {plan['provider']} (webhooks at "
                  f"{plan['webhookUrl']}), say {message!r} and hang up.")
        note("nothing was dialled; run again with --yes to place the call")
        return
    request = build_request(InitiateRequest, to=to, message=message, mode="notify",
                            origin="cli")
    result = obj.rpc(request, expect="callId")
    call_id = str(result["callId"])
    if not as_json:
        note(f"placed test call {call_id} to {to}; waiting for it to end")
    call = wait_until_ended(obj, call_id)
    answered = call.get("answeredAt") is not None
    if as_json:
        emit_json({"dialled": True, "plan": plan, "callId": call_id, "answered": answered,
                   "call": call})
    else:
        emit_text(_outcome(call_id, call, answered))
    if not answered:
        raise CliError(f"test call {call_id} was not answered: "
                       f"{call.get('endReason') or call.get('state')}", ExitCode.FAILED,
                       "check the number, then `voicecall doctor` and `voicecall tail`")


def _outcome(call_id: str, call: dict[str, Any], answered: bool) -> str:
    if not answered:
        return f"call {call_id}: not answered ({call.get('endReason') or call.get('state')})"
    seconds = None
    if call.get("endedAt") and call.get("answeredAt"):
        seconds = (int(call["endedAt"]) - int(call["answeredAt"])) / 1000
    length = f" after {seconds:.1f} s" if seconds is not None else ""
    return f"call {call_id}: answered, message spoken, ended{length} ({call.get('endReason')})"
