"""Pure functions from control-API values (plain JSON dicts) to rich renderables.

Imported only when output is rendered for a human; nothing here does I/O. Times on the wire
are milliseconds since the epoch and are shown in local time. Colour is decided by the console
that prints the result (rich's detection, ``NO_COLOR``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

_TALKING = {"speaking": "magenta", "listening": "cyan"}
_EARLY = {"initiated": "yellow", "ringing": "yellow", "answered": "green", "active": "green"}
_GOOD_END = {"completed", "hangup-user", "hangup-bot"}


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
    return (call_id or "-")[:8]


def call_panel(call: Mapping[str, Any], now_ms: int | None = None) -> Panel:
    """One call record (``status --call-id``): its facts, then its transcript."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
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
    rows.extend(latency_rows(call.get("metadata") or {}))
    for label, value in rows:
        facts.add_row(label, value)
    parts: list[RenderableType] = [facts]
    transcript = call.get("transcript") or []
    if transcript:
        parts.append(Text(""))
        parts.append(transcript_text(transcript))
    return Panel(Group(*parts), title=f"call {call.get('callId', '?')}", title_align="left")


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
                   ("firstTokenMs", "first token"), ("replyMs", "first sentence"),
                   ("firstTtsByteMs", "first TTS byte"), ("audioMs", "first audio"))


def waterfall_text(waterfall: Mapping[str, Any]) -> str:
    """``end of speech 0 ms -> transcript 310 ms -> ... -> first audio 702 ms``."""
    return " -> ".join(f"{label} {waterfall[key]} ms" for key, label in WATERFALL_STEPS
                       if isinstance(waterfall.get(key), int))


def transcript_text(entries: Iterable[Mapping[str, Any]]) -> Text:
    text = Text()
    for i, entry in enumerate(entries):
        if i:
            text.append("\n")
        speaker = str(entry.get("speaker", "?"))
        text.append(f"{clock(entry.get('timestamp'))} ", style="dim")
        text.append(f"{speaker}: ", style="bold cyan" if speaker == "user" else "bold magenta")
        text.append(str(entry.get("text", "")))
    return text


def calls_table(calls: Iterable[Mapping[str, Any]], now_ms: int | None = None,
                title: str = "active calls") -> Table:
    """The active calls (``status`` without a call id, the top of ``tail``)."""
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("call id", "state", "direction", "from", "to", "started", "duration"):
        table.add_column(column, no_wrap=column == "call id")
    for call in calls:
        table.add_row(str(call.get("callId", "?")), state_text(call.get("state")),
                      str(call.get("direction", "-")), str(call.get("from") or "-"),
                      str(call.get("to") or "-"), clock(call.get("startedAt")),
                      duration(call.get("answeredAt") or call.get("startedAt"),
                               call.get("endedAt") or now_ms))
    return table


def event_summary(event: Mapping[str, Any]) -> str:
    """One line saying what a stored event means (the data of unknown types as JSON)."""
    kind = event.get("type")
    d: Mapping[str, Any] = event.get("data") or {}
    if kind == "call.created":
        return (f"{d.get('direction', '?')} {d.get('from', '?')} -> {d.get('to', '?')} "
                f"({d.get('mode', '?')}, {d.get('provider', '?')})")
    if kind == "call.dialled":
        return f"carrier accepted the call ({d.get('providerCallId', '?')})"
    if kind == "call.state":
        return f"{d.get('previous', '?')} -> {d.get('state', '?')}"
    if kind == "call.transcript":
        partial = "" if d.get("isFinal", True) else " (partial)"
        return f"{d.get('speaker', '?')}: {d.get('text', '')}{partial}"
    if kind == "call.turn":
        return (f"turn {d.get('turn', '?')}: {d.get('latencyMs', '?')} ms, "
                f"listened {d.get('listenWaitMs', '?')} ms")
    if kind == "call.ended":
        return f"ended: {d.get('reason', '?')}"
    if kind == "call.error":
        return str(d.get("message", "error"))
    if kind == "call.rejected":
        return f"rejected {d.get('from', '?')} -> {d.get('to', '?')} ({d.get('policy', '?')})"
    if kind == "call.latency":
        return "reply waterfall: " + waterfall_text(d)
    if kind == "call.stream":
        return f"media stream {d.get('event', '?')} ({d.get('streamSid', '?')})"
    if kind == "call.restored":
        return f"restored after a daemon restart in state {d.get('state', '?')}"
    if kind == "daemon.started":
        return (f"daemon {d.get('version', '?')} started, pid {d.get('pid', '?')}, "
                f"provider {d.get('provider', '?')}, webhook {d.get('webhookUrl', '-')}")
    if kind == "daemon.stopping":
        return "daemon stopping"
    return json.dumps(dict(d), separators=(",", ":"), ensure_ascii=False)


def event_line(event: Mapping[str, Any]) -> Text:
    """``HH:MM:SS  callid8  type  summary`` for the scrolling log (and non-terminal output)."""
    text = Text()
    text.append(f"{clock(event.get('ts'))}  ", style="dim")
    text.append(f"{short_id(event.get('callId')):<8}  ", style="bold")
    text.append(f"{event.get('type', '?'):<16} ", style=_event_style(event))
    text.append(event_summary(event))
    return text


def _event_style(event: Mapping[str, Any]) -> str:
    kind = str(event.get("type", ""))
    if kind in ("call.error", "call.rejected"):
        return "red"
    if kind == "call.transcript":
        return "cyan"
    return "blue" if kind.startswith("daemon.") else "green"


def tail_view(calls: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]],
              now_ms: int | None = None) -> Group:
    """The live ``tail`` screen: the active-calls table above the newest events."""
    log = Text("\n").join(event_line(e) for e in events)
    return Group(calls_table(calls, now_ms), log)


def health_panel(health: Mapping[str, Any]) -> Panel:
    """``daemon status``: the daemon's health object."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    uptime = health.get("uptimeS")
    rows = [
        ("version", f"{health.get('version', '?')} (protocol {health.get('protocol', '?')})"),
        ("pid", str(health.get("pid", "?"))),
        ("uptime", duration(0, uptime * 1000) if isinstance(uptime, int | float) else "-"),
        ("provider", str(health.get("provider") or "-")),
        ("webhook", str(health.get("webhookUrl") or "-")),
        ("public url", str(health.get("publicUrl") or "-")),
        ("stream", str(health.get("streamUrl") or "-")),
        ("active calls", str(health.get("activeCalls", 0))),
    ]
    for label, value in rows:
        grid.add_row(label, value)
    ok = health.get("ok", True)
    title = Text("daemon running" if ok else "daemon unhealthy", style="green" if ok else "red")
    return Panel(grid, title=title, title_align="left")
