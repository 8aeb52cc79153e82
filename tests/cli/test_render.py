"""The pure renderers and the live view's model of the active calls."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from voicecall_cli.cli import render, render_events
from voicecall_cli.cli.commands.tail import ActiveCalls, Progress

T0 = 1_700_000_000_000


def text_of(renderable: object) -> str:
    console = Console(record=True, width=120, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.export_text()


def on_terminal(renderable: object, width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=True,
                      legacy_windows=False, _environ={})
    console.print(renderable, no_wrap=True, overflow="ellipsis")
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue().splitlines()


def test_call_panel_shows_the_record_and_transcript() -> None:
    call = {"callId": "call-1", "state": "completed", "direction": "outbound",
            "from": "+15550000000", "to": "+15550001111", "provider": "mock",
            "providerCallId": "mock-9", "startedAt": T0, "answeredAt": T0 + 2000,
            "endedAt": T0 + 65_000, "endReason": "hangup-bot",
            "transcript": [{"timestamp": T0 + 3000, "speaker": "bot", "text": "Hello"},
                           {"timestamp": T0 + 4000, "speaker": "user", "text": "Hi!"}],
            "metadata": {"mode": "conversation"}}
    shown = text_of(render.call_panel(call))
    for part in ("call call-1", "completed", "outbound (conversation)", "+15550001111",
                 "mock mock-9", "1m03s", "hangup-bot", "bot: Hello", "user: Hi!"):
        assert part in shown, part


def test_calls_table_and_health() -> None:
    table = text_of(render.calls_table([{"callId": "call-2", "state": "ringing",
                                         "direction": "inbound", "from": "+1", "to": "+2",
                                         "startedAt": T0}], now_ms=T0 + 5000))
    assert "call-2" in table and "ringing" in table and "5s" in table
    health = text_of(render.health_panel({"ok": True, "version": "0.1.0", "protocol": 1,
                                          "pid": 99, "uptimeS": 3725, "provider": "mock",
                                          "activeCalls": 2}))
    assert "daemon running" in health and "1h02m05s" in health and "99" in health


def test_event_summaries() -> None:
    def summary(kind: str, **data: object) -> str:
        return render_events.event_summary({"type": kind, "data": data})

    assert summary("call.state", state="active", previous="answered") == "answered -> active"
    assert summary("call.transcript", speaker="user", text="yes", isFinal=False) == (
        "user: yes (partial)")
    assert summary("call.ended", reason="hangup-user") == "ended: hangup-user"
    assert summary("call.turn", turn=2, latencyMs=850, listenWaitMs=600) == (
        "turn 2: 850 ms, listened 600 ms")
    assert summary("something.new", a=1) == '{"a":1}'
    line = render_events.event_line({"ts": T0, "callId": "abcdef123456", "type": "call.error",
                              "data": {"message": "carrier said no"}}).plain
    assert "abcdef12 " in line and "call.error" in line and line.endswith("carrier said no")


def test_realtime_events_say_what_happened_to_the_call_s_model() -> None:
    def summary(kind: str, **data: object) -> str:
        return render_events.event_summary({"type": kind, "data": data})

    assert summary("call.realtime", event="end_call", reason="caller said bye") == (
        "realtime model ended the call: caller said bye")
    assert summary("call.realtime", event="interrupted", playedMs=1240) == (
        "realtime interrupted: the caller heard 1240 ms")
    assert summary("call.realtime", event="reconnecting", reason="code 1011") == (
        "realtime reconnecting: code 1011")
    assert summary("call.realtime", event="connected") == "realtime connected"
    assert summary("call.latency", endOfSpeechMs=0, requestMs=2, modelAudioMs=180,
                   audioMs=183) == ("reply waterfall: end of speech 0 ms -> model asked 2 ms "
                                    "-> model audio 180 ms -> first audio 183 ms")


def test_event_text_from_outside_stays_on_one_line_and_sends_no_escapes() -> None:
    event = {"ts": T0, "callId": "abcdef123456", "type": "call.transcript",
             "data": {"speaker": "user", "text": "yes\nno\r\x1b[2Jwhy\tnot\u2028end"}}
    summary = render_events.event_summary(event)
    assert summary == "user: yes no  [2Jwhy not end"
    full = render_events.event_line(event, full_id=True).plain
    assert full.split()[1:3] == ["abcdef123456", "call.transcript"]
    assert full.index("call.transcript") == len("HH:MM:SS  ") + render.FULL_ID + 2  # aligned
    assert full.endswith(summary) and "\n" not in full


@pytest.mark.parametrize("width", [40, 60, 80, 100, 160])
def test_the_calls_table_fits_the_terminal_and_never_cuts_the_state(width: int) -> None:
    calls = [{"callId": f"{n}bcdef12-3456-4789-8abc-def012345678", "state": state,
              "direction": "inbound", "from": "+441234567890123", "to": "+861391234567890",
              "startedAt": T0, "answeredAt": T0, "metadata": {"mode": "conversation"}}
             for n, state in enumerate(("listening", "initiated", "hangup-user"))]
    lines = on_terminal(render.calls_table(calls, now_ms=T0 + 5000), width)
    assert max(map(len, lines)) <= width
    for n, state in enumerate(("listening", "initiated", "hangup-user")):
        [row] = [line for line in lines if line.startswith(f"{n}bcdef12 ")]
        assert f" {state} " in f"{row} "
    header = lines[1].split()
    assert ("mode" in header) == (width >= 160)


def test_an_event_line_on_a_terminal_is_cut_not_wrapped() -> None:
    event = {"ts": T0, "callId": "abcdef123456", "type": "call.error",
             "data": {"message": "x" * 200}}
    [line] = on_terminal(render_events.event_line(event), 80)
    assert len(line) == 80 and line.endswith("…")


def test_active_calls_follow_events_after_the_snapshot_only() -> None:
    calls = ActiveCalls()
    calls.apply({"type": "snapshot", "cursor": 10,
                 "calls": [{"callId": "a", "state": "listening"}]})
    # Backlog at or before the snapshot's cursor is already reflected in it.
    calls.apply({"cursor": 9, "callId": "a", "type": "call.state", "data": {"state": "ringing"}})
    assert calls.calls["a"]["state"] == "listening"
    calls.apply({"cursor": 11, "ts": T0, "callId": "b", "type": "call.created",
                 "data": {"direction": "inbound", "from": "+1", "to": "+2"}})
    calls.apply({"cursor": 12, "ts": T0 + 1, "callId": "b", "type": "call.state",
                 "data": {"state": "answered"}})
    calls.apply({"cursor": 13, "callId": "a", "type": "call.ended", "data": {}})
    assert list(calls.calls) == ["b"]
    assert calls.calls["b"]["state"] == "answered" and calls.calls["b"]["answeredAt"] == T0 + 1


def test_progress_knows_when_the_backlog_is_out() -> None:
    live_only = Progress(None, follow=False)
    assert live_only.done_after({"type": "snapshot", "cursor": 4})
    replay = Progress(2, follow=False)
    assert not replay.done_after({"type": "snapshot", "cursor": 4})
    assert not replay.done_after({"type": "x", "cursor": 3})
    assert replay.done_after({"type": "x", "cursor": 4})
    following = Progress("all", follow=True)
    for event in ({"type": "snapshot", "cursor": 1}, {"type": "x", "cursor": 1},
                  {"type": "heartbeat", "cursor": 1}):
        assert not following.done_after(event)
    assert following.resume_since() == 1


def test_progress_resumes_after_what_was_shown() -> None:
    everything = Progress("all", follow=True)
    assert everything.resume_since() == "all"
    everything.done_after({"type": "snapshot", "cursor": 9})
    assert everything.resume_since() == "all"  # the backlog was not shown yet
    everything.done_after({"type": "x", "cursor": 3})
    assert everything.resume_since() == 3
    live = Progress(None, follow=True)
    assert live.resume_since() is None
    live.done_after({"type": "snapshot", "cursor": 9})
    assert live.resume_since() == 9
    assert live.resume_hint().endswith("voicecall tail --since 9")
