"""``voicecall latency``'s human output: rich tables from a ``voicecall.latency`` answer.

Imported only when the answer is rendered for a human (the command's ``--json`` path never
loads rich). :func:`latency_view` returns one renderable; the caller prints it
(:func:`voicecall_cli.cli.output.render`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.table import Table
from rich.text import Text

from voicecall_cli.cli.render import WATERFALL_STEPS, clock, short_id

_AGENT = (("latencyMs", "turn (request to answer)"), ("listenWaitMs", "waiting for the caller"))


def _count(n: Any, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value} ms"


def _table(title: str) -> Table:
    """A table in the style of the active calls': no box, so a pipe gets plain columns."""
    return Table(title=title, title_justify="left", title_style="bold", box=None,
                 pad_edge=False, show_edge=False, header_style="bold")


def _stats_table(title: str, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> Table:
    table = _table(title)
    table.add_column("stage", no_wrap=True)
    for header in ("count", "p50", "p95", "min", "max", "avg"):
        table.add_column(header, justify="right", no_wrap=True)
    for label, figures in rows:
        table.add_row(label, str(figures.get("count", 0)),
                      *(_ms(figures.get(k)) for k in ("p50Ms", "p95Ms", "minMs", "maxMs",
                                                      "avgMs")))
    return table


class WaterfallTable:
    """One row per auto-reply turn: when, which call (8 characters on a terminal, whole
    elsewhere), and each mark in ms from the turn's start ('-' for a mark it did not reach)."""

    def __init__(self, turns: Sequence[Mapping[str, Any]]) -> None:
        self.turns = turns

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Table]:
        table = _table("auto-reply turns (ms from the turn's start)")
        table.add_column("time", no_wrap=True)
        table.add_column("call", no_wrap=True)
        steps = reached_steps(self.turns)
        for _key, label in steps:
            table.add_column(label, justify="right", no_wrap=True)
        for turn in self.turns:
            call_id = str(turn.get("callId") or "-")
            table.add_row(clock(turn.get("ts")),
                          short_id(call_id) if options.is_terminal else call_id,
                          *("-" if turn.get(key) is None else str(turn[key])
                            for key, _label in steps))
        yield table


def reached_steps(turns: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The waterfall's steps that at least one of ``turns`` reached (a cascaded reply and a
    realtime voice reply are measured at different steps)."""
    return [(key, label) for key, label in WATERFALL_STEPS
            if any(turn.get(key) is not None for turn in turns)]


def latency_view(result: Mapping[str, Any], *, one_call: bool) -> RenderableType:
    """The percentiles of each auto-reply stage (and of ``continue`` turns, when there are
    any); for ``one_call``, each turn's waterfall first. A store with no measured turn is one
    line saying so."""
    turns = result.get("turns") or []
    agent = result.get("agentTurns") or []
    if not turns and not agent:
        return Text("no measured turns yet: auto-replies on media streams and continue "
                    "turns are measured")
    summary = result.get("summary") or {}
    parts: list[RenderableType] = []
    if turns:
        if one_call:
            parts.append(WaterfallTable(turns))
            parts.append(Text(""))
        stages = summary.get("stages") or {}
        calls = summary.get("calls", "?")
        parts.append(_stats_table(
            f"{_count(summary.get('turns', len(turns)), 'auto-reply turn')} over "
            f"{_count(calls, 'call')}",
            [(label, stages.get(key) or {}) for key, label in reached_steps(turns)]))
    if agent:
        if parts:
            parts.append(Text(""))
        agent_summary = result.get("agentSummary") or {}
        parts.append(_stats_table(_count(len(agent), "continue turn"),
                                  [(label, agent_summary.get(key) or {})
                                   for key, label in _AGENT]))
    return Group(*parts)
