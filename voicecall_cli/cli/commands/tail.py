"""``voicecall tail``: the daemon's event stream (``GET /v1/events``), live.

``--json`` copies every NDJSON line to stdout exactly as received (snapshot first), flushed per
line. Without it, a terminal gets one line per event (cut with an ellipsis at the width, never
wrapped) scrolling above a rich Live region that holds only the active calls; anything else gets
the table of active calls, then one whole plain line per event (never wrapped or cut).

Reconnecting: while following, when the stream ends or the daemon stops answering (not
running, connection closed, three missed heartbeats) after a subscription succeeded, tail says
so once on stderr, retries every :data:`RECONNECT_EVERY_S` and resubscribes with
``since=<the last cursor seen>`` (cursors come from the daemon's store and keep increasing across
restarts), so no event is lost or repeated. The new subscription starts with its own
``snapshot`` line: ``--json`` prints it as received, the human forms show the new table. After
:data:`RECONNECT_FOR_S` without a daemon it gives up (exit 7, with the ``--since`` that
resumes). The first subscription failing is reported at once, as by any command.

When it stops:

* ``--no-follow``: once the backlog is out, never reconnecting. The snapshot's ``cursor`` is
  the newest event at subscription time, so the backlog (asked for with ``--since``) ends at that
  cursor: the command returns after the first event at or past it, at the first heartbeat (the
  daemon is idle, so everything was sent; with ``--call-id`` the last event may be another
  call's), or when the daemon ends the stream. Without ``--since``: snapshot only.
* a ``lagged`` line (the daemon dropped this slow reader): warning on stderr, exit 1 with the
  ``--since`` that resumes without loss.
* the daemon gone for :data:`RECONNECT_FOR_S`, or an error that retrying cannot mend: exit with
  its code and the resume cursor.
* Ctrl-C: exit 130, quietly (the root group's doing). Each connection is closed on every path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from typing import TYPE_CHECKING, Any

import click

from voicecall_cli.cli.call_ids import call_id_option
from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import console, emit_json_line, note
from voicecall_cli.client import EVENT_STREAM_TIMEOUT_S
from voicecall_cli.protocol import ApiError, ErrorCode
from voicecall_cli.protocol.events import HEARTBEAT, LAGGED, SINCE_ALL, SNAPSHOT

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

RECONNECT_EVERY_S = 0.5
RECONNECT_FOR_S = 60.0
"""How long ``tail`` keeps trying to resubscribe after losing the daemon. One attempt against
a daemon that accepts but never answers can take up to :data:`EVENT_STREAM_TIMEOUT_S` on top."""
MAX_CURSOR_DIGITS = 18  # a cursor fits a signed 64-bit integer (the daemon's bound too)
# What a daemon restart looks like from here; anything else is reported at once.
RECONNECTABLE = frozenset({ErrorCode.DAEMON_NOT_RUNNING, ErrorCode.OPERATION_FAILED,
                           ErrorCode.TIMEOUT})


class SinceParam(click.ParamType):
    """``--since``: a cursor (non-negative integer) or ``all``."""

    name = "cursor|all"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int | str:
        if isinstance(value, int) or value == SINCE_ALL:
            return value
        text = str(value).strip()
        if text.isascii() and text.isdigit() and len(text) <= MAX_CURSOR_DIGITS:
            return int(text)
        self.fail(f"{value!r} is neither a cursor (a non-negative integer) nor 'all'", param, ctx)


class Progress:
    """Where the stream is: the snapshot's cursor, the newest event seen, when to stop."""

    def __init__(self, since: int | str | None, follow: bool) -> None:
        self.since = since
        self.follow = follow
        self.snapshot_cursor: int | None = None
        self.last_cursor: int | None = since if isinstance(since, int) else None

    def resume_since(self) -> int | str | None:
        """The ``since`` that continues exactly after what was shown: the last cursor seen
        (the snapshot's when live-only), or the original ``--since`` before any."""
        return self.last_cursor if self.last_cursor is not None else self.since

    def resume_hint(self, since: int | str | None = None) -> str:
        """How to go on without loss: from ``since``, else from :meth:`resume_since`."""
        since = since if since is not None else self.resume_since()
        return f"resume without loss with: voicecall tail --since {since or 0}"

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

    def connection(self, lost: bool) -> None:
        """The daemon was lost (``True``) or is back; the notes on stderr say it."""


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
        self.lost = False
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

        title = "active calls" + (" (daemon lost, reconnecting)" if self.lost else "")
        if not self.calls.calls:
            return Text(f"no {title}", style="dim")
        return render.calls_table(self.calls.calls.values(), int(self.clock() * 1000), title)

    def show(self, raw: bytes, event: dict[str, Any]) -> None:
        from voicecall_cli.cli import render
        from voicecall_cli.cli.render_events import event_line

        self.calls.apply(event)
        kind = event.get("type")
        if self.live is not None:
            if kind not in (SNAPSHOT, HEARTBEAT, LAGGED):
                self.console.print(event_line(event), no_wrap=True, overflow="ellipsis")
            self.live.refresh()
        elif kind == SNAPSHOT:
            render.show(self.__rich__(), self.console)
        elif kind not in (HEARTBEAT, LAGGED):
            self.console.file.write(event_line(event, full_id=True).plain + "\n")
            self.console.file.flush()

    def connection(self, lost: bool) -> None:
        """Mark the table while the daemon is lost (the notes on stderr say why)."""
        self.lost = lost
        if self.live is not None:
            self.live.refresh()


@click.command("tail")
@call_id_option("Only this call's events (a unique prefix will do).")
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

    When the daemon restarts or stops answering while following, tail says so on stderr,
    keeps reconnecting for up to 60 s (then exits 7 with the --since that resumes) and goes
    on after the last event it printed: nothing is lost or repeated. Each new connection
    starts with a new snapshot: with --json, another "snapshot" line. --no-follow never
    reconnects.
    """
    progress = Progress(since, follow=not no_follow)
    with (JsonLines() if as_json else HumanView()) as sink:
        Follower(obj, call_id, progress, sink).run()


class Follower:
    """Subscribes, shows each line on ``sink``, and resubscribes after losing the daemon (see
    the module docstring). Each subscription's connection is closed before the next one opens
    and on every way out; ``sink`` belongs to the caller."""

    def __init__(self, obj: CliContext, call_id: str | None, progress: Progress,
                 sink: JsonLines | HumanView) -> None:
        self.obj = obj
        self.call_id = call_id
        self.progress = progress
        self.sink = sink
        self.lost_at: float | None = None  # monotonic time the daemon was lost, while it is

    def run(self) -> None:
        while True:
            try:
                if self._subscribe_once():
                    return
                lost, why = None, "the daemon closed the event stream"
            except ApiError as err:
                lost, why = err, err.message or err.code.value
            if self._ended(lost, why):
                return

    def _subscribe_once(self) -> bool:
        """One subscription: True when ``--no-follow`` is done, False when the stream ended;
        ApiError when it failed, CliError on ``lagged``."""
        progress = self.progress
        since = progress.resume_since()
        stream = self.obj.client(EVENT_STREAM_TIMEOUT_S).event_lines(since, self.call_id)
        with closing(stream):
            for raw, event in stream:
                if event.get("type") == SNAPSHOT and self.lost_at is not None:
                    self.lost_at = None
                    self.sink.connection(lost=False)
                    note(f"voicecall: reconnected; resuming with --since {since}")
                self.sink.show(raw, event)
                if event.get("type") == LAGGED:
                    raise CliError("this reader fell behind the event stream and the daemon "
                                   "dropped it", ExitCode.FAILED,
                                   progress.resume_hint(event.get("cursor")))
                if progress.done_after(event):
                    return True
        return False

    def _ended(self, lost: ApiError | None, why: str) -> bool:
        """After a subscription ended (``lost`` None) or failed: True when the command is done,
        an exception when it fails; else note the loss (once per outage) and wait a little."""
        progress = self.progress
        if progress.snapshot_cursor is None:  # never subscribed: reported as any command does
            if lost is None:
                raise CliError(why, ExitCode.DAEMON_NOT_RUNNING, progress.resume_hint())
            raise lost
        if lost is not None and (not progress.follow or lost.code not in RECONNECTABLE):
            raise CliError.from_api(lost, hint=progress.resume_hint()) from lost
        if not progress.follow:
            return True  # the daemon ended the stream: all there was is out
        now = time.monotonic()
        if self.lost_at is None:
            self.lost_at = now
            self.sink.connection(lost=True)
            note(f"voicecall: {why}; reconnecting for up to {RECONNECT_FOR_S:g} s")
        elif now - self.lost_at >= RECONNECT_FOR_S:
            raise CliError(f"the daemon did not come back within {RECONNECT_FOR_S:g} s ({why})",
                           ExitCode.DAEMON_NOT_RUNNING, progress.resume_hint())
        time.sleep(RECONNECT_EVERY_S)
        return False
