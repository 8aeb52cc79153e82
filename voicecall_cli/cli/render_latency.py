"""``voicecall latency``'s human output: rich tables from a ``voicecall.latency`` answer.

Imported only when the answer is rendered for a human (the command's ``--json`` path never
loads rich). :func:`latency_view` returns one renderable; the caller prints it
(:func:`voicecall_cli.cli.output.render`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from voicecall_cli.cli.render import WATERFALL_STEPS, clock, short_id

_AGENT = (("latencyMs", "turn (request to answer)"), ("listenWaitMs", "waiting for the caller"))


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value} ms"


def _stats_table(title: str, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    table.add_column("stage")
    for header in ("count", "p50", "p95", "min", "max", "avg"):
        table.add_column(header, justify="right")
    for label, figures in rows:
        table.add_row(label, str(figures.get("count", 0)),
                      *(_ms(figures.get(k)) for k in ("p50Ms", "p95Ms", "minMs", "maxMs",
                                                      "avgMs")))
    return table


def waterfall_table(turns: Sequence[Mapping[str, Any]]) -> Table:
    """One row per auto-reply turn: when, which call, and each mark in ms from its start."""
    table = Table(title="auto-reply turns (ms from the turn's start)", title_justify="left",
                  title_style="bold")
    table.add_column("time")
    table.add_column("call")
    for _key, label in WATERFALL_STEPS:
        table.add_column(label, justify="right")
    for turn in turns:
        table.add_row(clock(turn.get("ts")), short_id(turn.get("callId")),
                      *("-" if turn.get(key) is None else str(turn[key])
                        for key, _label in WATERFALL_STEPS))
    return table


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
            parts.append(waterfall_table(turns))
        stages = summary.get("stages") or {}
        parts.append(_stats_table(
            f"{summary.get('turns', len(turns))} auto-reply turns over "
            f"{summary.get('calls', '?')} calls",
            [(label, stages.get(key) or {}) for key, label in WATERFALL_STEPS]))
    if agent:
        agent_summary = result.get("agentSummary") or {}
        parts.append(_stats_table(f"{len(agent)} continue turns",
                                  [(label, agent_summary.get(key) or {})
                                   for key, label in _AGENT]))
    return Group(*parts)
