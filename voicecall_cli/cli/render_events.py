"""The event log's lines: what each stored event means, one line per event (``voicecall tail``).

Pure, like :mod:`voicecall_cli.cli.render` whose helpers it uses; imported only when events are
shown to a human.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.text import Text

from voicecall_cli.cli.render import (
    FULL_ID,
    SHORT_ID,
    clock,
    one_line,
    short_id,
    waterfall_text,
)


def event_summary(event: Mapping[str, Any]) -> str:
    """One line saying what a stored event means (the data of unknown types as JSON)."""
    return one_line(_summary(event))


def _summary(event: Mapping[str, Any]) -> str:
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
    if kind == "call.dtmf":
        who = "we sent" if d.get("direction") == "out" else "caller pressed"
        return f"{who} {d.get('digits', '?')}"
    if kind == "call.ended":
        return f"ended: {d.get('reason', '?')}"
    if kind == "call.recording":
        return f"recording {d.get('url', '?')} ({d.get('durationSec', '?')} s)"
    if kind == "call.answered_by":
        return f"answered by {d.get('answeredBy', '?')}" + (
            ", greeting over" if d.get("greetingEnded") else "")
    if kind == "call.error":
        return str(d.get("message", "error"))
    if kind == "call.rejected":
        return f"rejected {d.get('from', '?')} -> {d.get('to', '?')} ({d.get('policy', '?')})"
    if kind == "call.refused":
        return (f"refused to call {d.get('to', '?')} ({d.get('rail', '?')}): "
                f"{d.get('reason', '?')}")
    if kind == "call.latency":
        return "reply waterfall: " + waterfall_text(d)
    if kind == "call.stream":
        return f"media stream {d.get('event', '?')} ({d.get('streamSid', '?')})"
    if kind == "call.hook":
        return (f"post-call hook ({d.get('kind', '?')}) {d.get('status', '?')}, attempt "
                f"{d.get('attempt', '?')}" + (f": {d['error']}" if d.get("error") else ""))
    if kind == "call.realtime":
        return realtime_summary(d)
    if kind == "call.restored":
        return f"restored after a daemon restart in state {d.get('state', '?')}"
    if kind == "daemon.started":
        return (f"daemon {d.get('version', '?')} started, pid {d.get('pid', '?')}, "
                f"provider {d.get('provider', '?')}, webhook {d.get('webhookUrl', '-')}")
    if kind == "daemon.stopping":
        return "daemon stopping"
    if kind == "daemon.reloaded":
        return ("config reloaded: applied " + (", ".join(d.get("applied") or []) or "nothing")
                + "; needs a restart: " + (", ".join(d.get("needsRestart") or []) or "nothing"))
    if kind == "daemon.exposed":
        mode = d.get("mode", "?")
        where = d.get("publicUrl") or d.get("webhookUrl") or "-"
        return (f"exposure {mode}: carriers are given {where}"
                + (f", streams {d['streamUrl']}" if d.get("streamUrl") else ""))
    if kind == "daemon.tunnel_down":
        return f"tunnel {d.get('tunnel', '?')} down: {d.get('error', '?')}"
    return json.dumps(dict(d), separators=(",", ":"), ensure_ascii=False)


def realtime_summary(d: Mapping[str, Any]) -> str:
    """``realtime interrupted: the caller heard 1240 ms`` and the like."""
    what = str(d.get("event", "?"))
    if what == "interrupted":
        return f"realtime interrupted: the caller heard {d.get('playedMs', '?')} ms"
    if what == "end_call":
        return f"realtime model ended the call: {d.get('reason') or 'no reason given'}"
    detail = d.get("reason") or d.get("model")
    return f"realtime {what}" + (f": {detail}" if detail else "")


def event_line(event: Mapping[str, Any], *, full_id: bool = False) -> Text:
    """``HH:MM:SS  callid8  type  summary``: one event, always one line.

    Printed on a terminal it is cut with an ellipsis at the width (never wrapped); off a
    terminal use ``.plain`` with ``full_id=True``: the whole id and the whole summary.
    """
    call_id = event.get("callId")
    shown = (str(call_id) if call_id else "-").ljust(FULL_ID) if full_id else short_id(call_id)
    text = Text(no_wrap=True, overflow="ellipsis", end="\n")
    text.append(f"{clock(event.get('ts'))}  ", style="dim")
    text.append(f"{shown:<{SHORT_ID}}  ", style="bold")
    text.append(f"{one_line(str(event.get('type', '?'))):<16} ", style=_event_style(event))
    text.append(event_summary(event))
    return text


def _event_style(event: Mapping[str, Any]) -> str:
    kind = str(event.get("type", ""))
    if kind in ("call.error", "call.rejected", "call.refused", "daemon.tunnel_down"):
        return "red"
    if kind == "call.realtime":
        what = (event.get("data") or {}).get("event")
        return "red" if what == "failed" else "yellow" if what in (
            "reconnecting", "fallback", "interrupted") else "green"
    if kind == "call.hook":
        status = (event.get("data") or {}).get("status")
        return "red" if status == "failed" else "yellow" if status == "retrying" else "green"
    if kind == "call.transcript":
        return "cyan"
    return "blue" if kind.startswith("daemon.") else "green"
