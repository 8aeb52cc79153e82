"""From control-API values (plain JSON dicts) to what a human reads: rich renderables, lines.

Imported only when output is rendered for a human. Times on the wire are milliseconds since the
epoch and are shown in local time. Colour is decided by the console that prints the result
(rich's detection, ``NO_COLOR``).

Two destinations, one renderable: :class:`CallsTable` and :class:`TitledBox` look at the console
options they are rendered with. On a terminal (``options.is_terminal``) call ids are the short
8-character form the event log uses and the table picks the widest layout that fits the width.
Anywhere else (a pipe, a file) ids are whole and every column is there, and :func:`plain_text`
lays the result out without a width limit: never wrapped or cut, no ANSI codes, no trailing
blanks. :func:`show` is the one function here that writes: it prints a result either way on the
console it is given (the caller owns the console; nothing is closed).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

_TALKING = {"speaking": "magenta", "listening": "cyan"}
_EARLY = {"initiated": "yellow", "ringing": "yellow", "answered": "green", "active": "green"}
_GOOD_END = {"completed", "hangup-user", "hangup-bot"}

SHORT_ID = 8
"""Characters of a call id shown on a terminal (tables and the event log)."""
FULL_ID = 36
"""The width of a whole call id (a UUID) in the event log off a terminal."""
UNBOUNDED = 1_000_000
"""The width :func:`plain_text` lays out at: wider than any line it will meet."""


def state_text(state: str | None) -> Text:
    """A call state, coloured: early yellow, live green, talking magenta/cyan, ended dim/red."""
    state = state or "?"
    style = _TALKING.get(state) or _EARLY.get(state)
    if style is None:
        style = "dim" if state in _GOOD_END else "red"
    return Text(state, style=style)


def clock(ms: int | float | None) -> str:
    """``HH:MM:SS`` local time of an epoch-ms timestamp ('-' when unknown)."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S")


def timestamp(ms: int | float | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def duration(start_ms: int | float | None, end_ms: int | float | None) -> str:
    """``1h02m03s`` / ``2m03s`` / ``3s`` between two epoch-ms times ('-' when unknown)."""
    if start_ms is None or end_ms is None or end_ms < start_ms:
        return "-"
    seconds = int((end_ms - start_ms) // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{seconds:02d}s"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def short_id(call_id: str | None) -> str:
    return (call_id or "-")[:SHORT_ID]


def one_line(text: str) -> str:
    """``text`` with line breaks, tabs and other control characters as spaces.

    Event text comes from callers and carriers: it must neither break the one-line-per-event
    log nor send escape sequences to the terminal.
    """
    if text.isprintable():
        return text
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


# -- one call -------------------------------------------------------------------------------


class TitledBox:
    """``body`` under ``title``: a panel on a terminal, else the title line, then the body
    (no box, so a pipe gets whole lines and no border characters)."""

    def __init__(self, title: Text, body: RenderableType) -> None:
        self.title = title
        self.body = body

    def __rich_console__(self, console: Console,
                         options: ConsoleOptions) -> Iterator[RenderableType]:
        if options.is_terminal:
            yield Panel(self.body, title=self.title, title_align="left", expand=False)
        else:
            title = self.title.copy()
            title.stylize("bold")
            yield Group(title, self.body)


def facts_grid(rows: Iterable[tuple[str, str | Text]]) -> Table:
    """``label  value`` lines, labels in bold (a call's facts, the daemon's health)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def call_panel(call: Mapping[str, Any], now_ms: int | None = None) -> TitledBox:
    """One call record (``status CALL_ID``): its facts, then its transcript, under the call id
    (a panel on a terminal, its text wrapped inside; elsewhere one line per fact and entry)."""
    mode = (call.get("metadata") or {}).get("mode")
    end_ms = call.get("endedAt") or now_ms
    rows: list[tuple[str, str | Text]] = [
        ("state", state_text(call.get("state"))),
        ("direction", f"{call.get('direction', '-')}" + (f" ({mode})" if mode else "")),
        ("from", str(call.get("from") or "-")),
        ("to", str(call.get("to") or "-")),
        ("provider", f"{call.get('provider', '-')} {call.get('providerCallId') or ''}".strip()),
        ("started", timestamp(call.get("startedAt"))),
        ("answered", timestamp(call.get("answeredAt"))),
        ("ended", timestamp(call.get("endedAt"))),
        ("duration", duration(call.get("answeredAt") or call.get("startedAt"), end_ms)),
    ]
    if call.get("endReason"):
        rows.append(("end reason", str(call["endReason"])))
    if isinstance(call.get("recording"), Mapping):
        rows.append(("recording", f"{call['recording'].get('url', '-')} "
                                  f"({call['recording'].get('durationSec', '?')} s)"))
    if call.get("answeredBy"):
        rows.append(("answered by", str(call["answeredBy"])))
    rows.extend(latency_rows(call.get("metadata") or {}))
    parts: list[RenderableType] = [facts_grid(rows)]
    transcript = call.get("transcript") or []
    if transcript:
        parts.append(Text(""))
        parts.append(transcript_grid(transcript))
    return TitledBox(Text(f"call {call.get('callId', '?')}"), Group(*parts))


def latency_rows(metadata: Mapping[str, Any]) -> list[tuple[str, str | Text]]:
    """The last agent turn (continue) and the last auto-reply's waterfall, when known."""
    rows: list[tuple[str, str | Text]] = []
    if isinstance(metadata.get("lastTurnLatencyMs"), int):
        rows.append(("last turn", f"{metadata['lastTurnLatencyMs']} ms "
                                  f"(waited {metadata.get('lastTurnListenWaitMs', '?')} ms "
                                  f"for the caller), {metadata.get('turnCount', '?')} turns"))
    waterfall = metadata.get("lastReplyWaterfall")
    if isinstance(waterfall, Mapping):
        rows.append(("last reply", waterfall_text(waterfall)))
    return rows


WATERFALL_STEPS = (("endOfSpeechMs", "end of speech"), ("transcriptMs", "transcript"),
                   ("requestMs", "model asked"),
                   ("firstTokenMs", "first token"), ("replyMs", "first sentence"),
                   ("firstTtsByteMs", "first TTS byte"), ("modelAudioMs", "model audio"),
                   ("audioMs", "first audio"))


def waterfall_text(waterfall: Mapping[str, Any]) -> str:
    """``end of speech 0 ms -> transcript 310 ms -> ... -> first audio 702 ms``."""
    return " -> ".join(f"{label} {waterfall[key]} ms" for key, label in WATERFALL_STEPS
                       if isinstance(waterfall.get(key), int))


def transcript_grid(entries: Iterable[Mapping[str, Any]]) -> Table:
    """``HH:MM:SS speaker: text`` per entry; a long text wraps under itself, not the clock."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    for entry in entries:
        speaker = str(entry.get("speaker", "?"))
        line = Text()
        line.append(f"{speaker}: ", style="bold cyan" if speaker == "user" else "bold magenta")
        line.append(one_line(str(entry.get("text", ""))))
        grid.add_row(clock(entry.get("timestamp")), line)
    return grid


# -- the active calls -----------------------------------------------------------------------

# Widest first; a terminal gets the first that fits (the last one however narrow it is).
_LAYOUTS = (
    ("id", "state", "direction", "mode", "from", "to", "started", "duration"),
    ("id", "state", "direction", "from", "to", "started", "duration"),
    ("id", "state", "dir", "from", "to", "started", "duration"),
    ("id", "state", "from", "to", "duration"),
    ("id", "state", "duration"),
)
_HEADERS = {"id": "call id", "dir": "dir"}
_SHORT_DIRECTION = {"inbound": "in", "outbound": "out"}


class CallsTable:
    """The active calls (``status`` without a call id, the top of ``tail``).

    On a terminal: 8-character ids, and the widest layout that fits the width (the mode column
    goes first, then ``inbound``/``outbound`` become ``in``/``out``, then the direction and
    start columns); the state is never wrapped or cut. Elsewhere: whole ids, every column.
    """

    def __init__(self, calls: Iterable[Mapping[str, Any]], now_ms: int | None = None,
                 title: str = "active calls") -> None:
        self.calls = list(calls)
        self.now_ms = now_ms
        self.title = title

    def table(self, columns: tuple[str, ...], full_ids: bool) -> Table:
        table = Table(title=self.title, title_justify="left", title_style="bold", box=None,
                      pad_edge=False, show_edge=False, header_style="bold")
        states = [str(call.get("state") or "?") for call in self.calls]
        for column in columns:
            table.add_column(_HEADERS.get(column, column), no_wrap=True,
                             min_width=max(map(len, states), default=0)
                             if column == "state" else None,
                             overflow="ellipsis")
        for call in self.calls:
            table.add_row(*(self._cell(call, column, full_ids) for column in columns))
        return table

    def _cell(self, call: Mapping[str, Any], column: str, full_ids: bool) -> str | Text:
        if column == "id":
            call_id = str(call.get("callId") or "?")
            return call_id if full_ids else short_id(call_id)
        if column == "state":
            return state_text(call.get("state"))
        if column == "direction":
            return str(call.get("direction") or "-")
        if column == "dir":
            direction = str(call.get("direction") or "-")
            return _SHORT_DIRECTION.get(direction, direction)
        if column == "mode":
            return str((call.get("metadata") or {}).get("mode") or "-")
        if column in ("from", "to"):
            return str(call.get(column) or "-")
        if column == "started":
            return clock(call.get("startedAt"))
        return duration(call.get("answeredAt") or call.get("startedAt"),
                        call.get("endedAt") or self.now_ms)

    def fitting(self, console: Console, options: ConsoleOptions) -> Table:
        """The table this console and width get (see the class docstring)."""
        if not options.is_terminal:
            return self.table(_LAYOUTS[0], full_ids=True)
        natural = options.update_width(UNBOUNDED)
        for columns in _LAYOUTS:
            table = self.table(columns, full_ids=False)
            if Measurement.get(console, natural, table).maximum <= options.max_width:
                return table
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Table]:
        yield self.fitting(console, options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.fitting(console, options))


def calls_table(calls: Iterable[Mapping[str, Any]], now_ms: int | None = None,
                title: str = "active calls") -> CallsTable:
    """The active calls; see :class:`CallsTable`."""
    return CallsTable(calls, now_ms, title)


# -- the daemon -----------------------------------------------------------------------------


def health_panel(health: Mapping[str, Any]) -> TitledBox:
    """``daemon status``: the daemon's health object."""
    uptime = health.get("uptimeS")
    rows = [
        ("version", f"{health.get('version', '?')} (protocol {health.get('protocol', '?')})"),
        ("pid", str(health.get("pid", "?"))),
        ("uptime", duration(0, uptime * 1000) if isinstance(uptime, int | float) else "-"),
        ("provider", str(health.get("provider") or "-")),
        ("listening", str(health.get("localUrl") or "-")),
        ("public url", str(health.get("publicUrl") or "-")),
        ("stream", str(health.get("streamUrl") or "-")),
        ("tunnel", _tunnel_text(health.get("exposure"))),
        ("active calls", str(health.get("activeCalls", 0))),
    ]
    ok = health.get("ok", True)
    title = Text("daemon running" if ok else "daemon unhealthy", style="green" if ok else "red")
    return TitledBox(title, facts_grid(rows))


def _tunnel_text(exposure: Any) -> str:
    if not isinstance(exposure, Mapping) or not exposure.get("tunnel"):
        return "-"
    state = str(exposure.get("state") or "?")
    text = f"{exposure['tunnel']} ({state})"
    if exposure.get("error"):
        text += f": {exposure['error']}"
    return text


# -- printing -------------------------------------------------------------------------------


def plain_text(renderable: RenderableType) -> str:
    """``renderable`` as it reads off a terminal: no width limit (nothing wrapped or cut), no
    styles or ANSI codes, no trailing blanks; lines joined with ``\\n``, no final newline."""
    console = Console(file=io.StringIO(), width=UNBOUNDED, force_terminal=False,
                      color_system=None, highlight=False, markup=False, emoji=False,
                      legacy_windows=False)
    lines = console.render_lines(renderable, console.options, pad=False, new_lines=False)
    return "\n".join("".join(segment.text for segment in line).rstrip() for line in lines)


def show(renderable: RenderableType, console: Console) -> None:
    """Print a human result on ``console``: through rich at the terminal's width when it is a
    terminal, else as :func:`plain_text` on its file (flushed)."""
    if console.is_terminal:
        console.print(renderable)
        return
    console.file.write(plain_text(renderable) + "\n")
    console.file.flush()
