"""``voicecall calls``: past and present calls, newest first (``voicecall.calls``).

``--state`` is one call state (``completed``, ``no-answer``, ...) or ``active``/``ended``;
``--since`` takes an age (``90s``, ``30m``, ``2h``, ``7d``) or a local date or time
(``2026-11-30``, ``2026-11-30T09:00``); ``--limit`` caps the list (default 20). ``--json``
prints the daemon's answer as is.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import click

from voicecall_cli.cli.context import CliContext, build_request
from voicecall_cli.cli.output import emit_json, json_option, render
from voicecall_cli.protocol import CALL_LIST_LIMIT, CallsRequest

_AGE = re.compile(r"^([0-9]{1,9})\s*([smhdw])$", re.ASCII)  # ASCII digits, < 20,000 years
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class SinceParam(click.ParamType):
    """An age (``30m``) or a local date/time (ISO 8601), as epoch milliseconds."""

    name = "age|date"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        age = _AGE.match(text.lower())
        if age:
            return int((time.time() - int(age[1]) * _UNIT_S[age[2]]) * 1000)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is neither an age (30m, 2h, 7d) nor a date or time "
                      "(2026-11-30, 2026-11-30T09:00)", param, ctx)
        return int(moment.timestamp() * 1000)


@click.command("calls")
@click.option("--state", metavar="STATE",
              help="Only calls in this state (completed, no-answer, ...), or active or ended.")
@click.option("--since", type=SinceParam(), metavar="AGE|DATE",
              help="Only calls started since then: an age (30m, 2h, 7d) or a local date or "
                   "time (2026-11-30, 2026-11-30T09:00).")
@click.option("-n", "--limit", type=click.IntRange(1, CALL_LIST_LIMIT), default=20,
              show_default=True, help="At most this many calls, newest first.")
@json_option
@click.pass_obj
def command(obj: CliContext, state: str | None, since: int | None, limit: int,
            as_json: bool) -> None:
    """List past and present calls, newest first."""
    result = obj.rpc(build_request(CallsRequest, state=state, since=since, limit=limit),
                     expect="calls")
    if as_json:
        emit_json(result)
        return
    calls = result["calls"]
    if not calls:
        render("no calls")
        return
    from voicecall_cli.cli.render import calls_table

    render(calls_table(calls, now_ms=int(time.time() * 1000), title="calls"))
