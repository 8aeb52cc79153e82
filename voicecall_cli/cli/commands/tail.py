"""``voicecall tail``: the daemon's event stream (``GET /v1/events``), live.

``--json`` copies every NDJSON line to stdout exactly as received (snapshot first), flushed per
line. Without it, a terminal gets one line per event (cut with an ellipsis at the width, never
wrapped) scrolling above a rich Live region that holds only the active calls; anything else gets
the table of active calls, then one whole plain line per event (never wrapped or cut).

When it stops:

* ``--no-follow``: once the backlog is out. The snapshot's ``cursor`` is the newest event at
  subscription time, so the backlog (asked for with ``--since``) ends at that cursor: the
  command returns after the first event at or past it, at the first heartbeat (the daemon is
  idle, so everything was sent; with ``--call-id`` the last event may be another call's), or
  when the daemon ends the stream. Without ``--since`` there is no backlog: snapshot only.
* a ``lagged`` line (the daemon dropped this slow reader): warning on stderr, exit 1 with the
  ``--since`` that resumes without loss.
* the stream ending while following: the daemon went away (exit 7, with the resume cursor).
* Ctrl-C: exit 130, quietly (the root group's doing). The connection is closed on every path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING, Any

import click

from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import console, emit_json_line
from voicecall_cli.protocol import ApiError
from voicecall_cli.protocol.events import HEARTBEAT, HEARTBEAT_S, LAGGED, SINCE_ALL, SNAPSHOT

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

# Three missed heartbeats mean the daemon stopped answering.
STREAM_TIMEOUT_S = 3 * HEARTBEAT_S + 5


class SinceParam(click.ParamType):
    """``--since``: a cursor (non-negative integer) or ``all``."""

    name = "cursor|all"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int | str:
        if isinstance(value, int) or value == SINCE_ALL:
            return value
        text = str(value).strip()
        if text.isdigit():
            return int(text)
        self.fail(f"{value!r} is neither a cursor (a non-negative integer) nor 'all'", param, ctx)


class Progress:
    """Where the stream is: the snapshot's cursor, the newest event seen, when to stop."""

    def __init__(self, since: int | str | None, follow: bool) -> None:
        self.since = since
        self.follow = follow
        self.snapshot_cursor: int | None = None
        self.last_cursor: int | None = since if isinstance(since, int) else None

    def resume_cursor(self) -> int:
        return self.last_cursor if self.last_cursor is not None else (self.snapshot_cursor or 0)

    def done_after(self, event: dict[str, Any]) -> bool:
        """Record ``event``; True when ``--no-follow`` has everything it asked for."""
        kind = event.get("type")
        cursor = event.get("cursor")
        if kind == SNAPSHOT:
            self.snapshot_cursor = cursor if isinstance(cursor, int) else 0
            if self.last_cursor is None and self.since is None:
                self.last_cursor = self.snapshot_cursor
            return not self.follow and self._backlog_done()
        if kind == HEARTBEAT:
            return not self.follow
        if isinstance(cursor, int):
            self.last_cursor = max(cursor, self.last_cursor or 0)
        return not self.follow and self._backlog_done()

    def _backlog_done(self) -> bool:
        if self.since is None:
            return True
        if self.snapshot_cursor is None:
            return False
        return (self.last_cursor or 0) >= self.snapshot_cursor


class ActiveCalls:
    """The active calls, from the snapshot kept up to date by ``call.*`` events after it."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.snapshot_cursor = 0

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == SNAPSHOT:
            self.snapshot_cursor = int(event.get("cursor") or 0)
            self.calls = {str(c.get("callId")): dict(c) for c in event.get("calls") or []}
            return
        cursor = event.get("cursor")
        call_id = event.get("callId")
        if not call_id or not isinstance(cursor, int) or cursor <= self.snapshot_cursor:
            return  # replayed backlog: the snapshot already holds its effect
        data = event.get("data") or {}
        if kind == "call.created":
            self.calls[call_id] = {
                "callId": call_id, "state": "initiated", "startedAt": event.get("ts"),
                "direction": data.get("direction"), "from": data.get("from"),
                "to": data.get("to"), "provider": data.get("provider"),
                "metadata": {"mode": data.get("mode")},
            }
        elif kind in ("call.state", "call.restored") and call_id in self.calls:
            call = self.calls[call_id]
            call["state"] = data.get("state", call.get("state"))
            if call["state"] == "answered" and not call.get("answeredAt"):
                call["answeredAt"] = event.get("ts")
        elif kind == "call.ended":
            self.calls.pop(call_id, None)


class JsonLines:
    """The ``--json`` form: each line copied to stdout as received, flushed."""

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def show(self, raw: bytes, event: dict[str, Any]) -> None:
        emit_json_line(raw)


class HumanView:
    """The human form (see the module docstring), on ``out`` (stdout's console by default).

    Resource handling: on a terminal, ``with`` starts a rich Live display (which also routes
    stray stdout/stderr writes above its region) and stops it on the way out, leaving the last
    table on screen; the console belongs to the caller and is never closed. Durations are
    measured against ``clock`` (seconds since the epoch, ``time.time`` by default) and tick
    once a second on a terminal.
    """

    def __init__(self, out: Console | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.console = out if out is not None else console()
        self.clock = clock
        self.calls = ActiveCalls()
        self.live: Any = None

    def __enter__(self) -> HumanView:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self, console=self.console, auto_refresh=True,
                             refresh_per_second=1)
            self.live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.live is not None:
            self.live.stop()

    def __rich__(self) -> RenderableType:
        """The Live region: the active calls now."""
        from rich.text import Text

        from voicecall_cli.cli import render

        if not self.calls.calls:
            return Text("no active calls", style="dim")
        return render.calls_table(self.calls.calls.values(), int(self.clock() * 1000))

    def show(self, raw: bytes, event: dict[str, Any]) -> None:
        from voicecall_cli.cli import render

        self.calls.apply(event)
        kind = event.get("type")
        if self.live is not None:
            if kind not in (SNAPSHOT, HEARTBEAT, LAGGED):
                self.console.print(render.event_line(event), no_wrap=True, overflow="ellipsis")
            self.live.refresh()
        elif kind == SNAPSHOT:
            render.show(self.__rich__(), self.console)
        elif kind not in (HEARTBEAT, LAGGED):
            self.console.file.write(render.event_line(event, full_id=True).plain + "\n")
            self.console.file.flush()


@click.command("tail")
@click.option("--call-id", metavar="ID", help="Only this call's events.")
@click.option("--since", type=SinceParam(), metavar="CURSOR|all",
              help="First replay the stored events after CURSOR (all: every stored event).")
@click.option("--no-follow", is_flag=True,
              help="Print the snapshot and the replayed events, then exit.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the stream's NDJSON lines on stdout as received, and nothing else.")
@click.pass_obj
def command(obj: CliContext, call_id: str | None, since: int | str | None, no_follow: bool,
            as_json: bool) -> None:
    """Show the daemon's events live.

    First a snapshot of the active calls, then each event as it happens. With --json, the
    stream's NDJSON lines exactly as the daemon sends them.
    """
    progress = Progress(since, follow=not no_follow)
    stream = obj.client(STREAM_TIMEOUT_S).event_lines(since, call_id)
    with closing(stream), (JsonLines() if as_json else HumanView()) as sink:
        try:
            for raw, event in stream:
                sink.show(raw, event)
                if event.get("type") == LAGGED:
                    resume = event.get("cursor", progress.resume_cursor())
                    raise CliError("this reader fell behind the event stream and the daemon "
                                   "dropped it", ExitCode.FAILED,
                                   f"resume without loss with: voicecall tail --since {resume}")
                if progress.done_after(event):
                    return
        except ApiError as err:
            if progress.snapshot_cursor is None:
                raise
            raise CliError.from_api(err, hint=_resume_hint(progress)) from err
    if progress.follow or progress.snapshot_cursor is None:
        raise CliError("the daemon closed the event stream", ExitCode.DAEMON_NOT_RUNNING,
                       _resume_hint(progress))


def _resume_hint(progress: Progress) -> str:
    return f"resume without loss with: voicecall tail --since {progress.resume_cursor()}"
