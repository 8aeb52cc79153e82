"""Golden snapshots of ``status`` and ``tail`` at 80 and 160 columns and into a pipe.

The expected outputs live in ``tests/cli/golden/``; a change in what users see fails here.
After an intended change, regenerate them and review the diff::

    VOICECALL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/cli/test_golden.py

Terminal output is replayed through :mod:`tests.cli.screen` (what the screen shows, scrollback
included, failing on any line wider than the terminal); pipe output is compared byte for byte.
Times are local: every test here runs with ``TZ=UTC``.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from tests.cli.conftest import Env, run_cli
from tests.cli.fake_daemon import FakeDaemon
from tests.cli.screen import screen_text
from voicecall_cli.cli import render
from voicecall_cli.cli.commands.tail import HumanView

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("VOICECALL_UPDATE_GOLDEN") == "1"
WIDTHS = (80, 160)
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
NOW = T0 + 3_723_000
ANSWERED = T0 + 4_000
ID1 = "3f2a9c1e-5b7d-4c2a-9e1f-0a1b2c3d4e5f"
ID2 = "9b1c2d3e-0f1e-4d2c-8b3a-495867a6b7c8"
ID3 = "c0ffee00-1234-4abc-8def-001122334455"

CALLS = [
    {"callId": ID1, "state": "listening", "direction": "outbound", "from": "+15550009999",
     "to": "+15550001111", "provider": "twilio", "startedAt": T0, "answeredAt": ANSWERED,
     "metadata": {"mode": "conversation"}},
    {"callId": ID2, "state": "ringing", "direction": "inbound", "from": "+447700900123",
     "to": "+15550009999", "provider": "twilio", "startedAt": T0 + 3_700_000,
     "metadata": {"mode": "conversation"}},
    {"callId": ID3, "state": "speaking", "direction": "outbound", "from": "+15550009999",
     "to": "+861391234567890", "provider": "twilio", "startedAt": T0 + 3_600_000,
     "answeredAt": T0 + 3_605_000, "metadata": {"mode": "notify"}},
]
GREETING = ("Hi, this is the Riverside clinic calling about your appointment on Thursday "
            "morning; do you have a minute to confirm the time with me?")
ENDED_CALL = {
    "callId": ID1, "providerCallId": "CA0123456789abcdef0123456789abcdef", "provider": "twilio",
    "direction": "outbound", "state": "completed", "from": "+15550009999", "to": "+15550001111",
    "startedAt": T0, "answeredAt": ANSWERED, "endedAt": T0 + 187_000, "endReason": "hangup-bot",
    "transcript": [
        {"timestamp": T0 + 5_000, "speaker": "bot", "text": GREETING, "isFinal": True},
        {"timestamp": T0 + 11_000, "speaker": "user", "text": "Yes.\nTen works.",
         "isFinal": True},
        {"timestamp": T0 + 12_000, "speaker": "bot", "text": "Great, see you then.",
         "isFinal": True},
    ],
    "metadata": {"mode": "conversation", "turnCount": 2, "lastTurnLatencyMs": 850,
                 "lastTurnListenWaitMs": 600,
                 "lastReplyWaterfall": {"endOfSpeechMs": 0, "transcriptMs": 310,
                                        "firstTokenMs": 420, "replyMs": 530,
                                        "firstTtsByteMs": 610, "audioMs": 702}},
}
LONG_ERROR = ("carrier rejected the hangup: 21220 Call is not in-progress. Cannot redirect "
              "(https://www.twilio.com/docs/errors/21220)")
WEBHOOK = "https://voice.example.com/voice/webhook"


def _event(cursor: int, ts: int, call_id: str | None, kind: str, **data: object) -> dict:
    return {"cursor": cursor, "ts": ts, "callId": call_id, "type": kind, "data": data}


# A tail session: the backlog after cursor 14 (reflected in the snapshot), then live events.
TAIL = [
    {"type": "snapshot", "cursor": 20, "calls": CALLS[:2]},
    _event(15, T0 - 60_000, None, "daemon.started", pid=4242, version="0.1.0",
           provider="twilio", webhookUrl=WEBHOOK),
    _event(16, T0 + 5_000, ID1, "call.transcript", speaker="bot", text=GREETING, isFinal=True),
    _event(17, T0 + 11_000, ID1, "call.transcript", speaker="user", text="Yes.\nTen works.",
           isFinal=True),
    _event(18, T0 + 3_700_000, ID2, "call.created", direction="inbound",
           **{"from": "+447700900123", "to": "+15550009999"}, mode="conversation",
           provider="twilio"),
    _event(19, T0 + 3_700_500, ID2, "call.state", state="ringing", previous="initiated"),
    _event(20, T0 + 3_701_000, ID1, "call.latency", endOfSpeechMs=0, transcriptMs=310,
           firstTokenMs=420, replyMs=530, firstTtsByteMs=610, audioMs=702),
    {"type": "heartbeat", "cursor": 20, "ts": T0 + 3_701_500},
    _event(21, T0 + 3_702_000, ID3, "call.created", direction="outbound",
           **{"from": "+15550009999", "to": "+861391234567890"}, mode="notify",
           provider="twilio"),
    _event(22, T0 + 3_702_500, ID3, "call.state", state="ringing", previous="initiated"),
    _event(23, T0 + 3_710_000, ID2, "call.ended", reason="no-answer"),
    _event(24, T0 + 3_711_000, ID3, "call.state", state="answered", previous="ringing"),
    _event(25, T0 + 3_712_000, ID1, "call.error", message=LONG_ERROR),
]
TAIL_EVENTS = [e for e in TAIL if e["type"] not in ("snapshot", "heartbeat")]


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Local time is UTC for the renderers (``time.tzset``), restored afterwards."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden {path}: run with VOICECALL_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if intended, regenerate with VOICECALL_UPDATE_GOLDEN=1 and review")


def terminal(width: int) -> Console:
    return Console(file=io.StringIO(), width=width, height=24, force_terminal=True,
                   color_system="standard", legacy_windows=False, _environ={})


def pipe() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, _environ={})


def written(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def assert_plain(text: str) -> None:
    assert "\x1b" not in text and "…" not in text


def table_rows(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if re.match(r"[0-9a-f]{8}", line)]


# -- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_status_table_on_a_terminal(width: int) -> None:
    out = terminal(width)
    render.show(render.calls_table(CALLS, now_ms=NOW), out)
    screen = screen_text(written(out), width)  # fails on a line wider than the terminal
    check_golden(f"status_table_{width}.txt", screen)
    rows = table_rows(screen)
    assert len(rows) == 3
    for row, call in zip(rows, CALLS, strict=True):
        assert row.startswith(call["callId"][:8] + " ") and call["callId"] not in row
        assert f" {call['state']} " in row  # the state is never cut
        assert call["to"] in row  # every column readable, numbers whole
    assert rows[0].endswith("1h01m59s")


def test_status_table_into_a_pipe() -> None:
    out = pipe()
    render.show(render.calls_table(CALLS, now_ms=NOW), out)
    text = written(out)
    check_golden("status_table_pipe.txt", text)
    assert_plain(text)
    assert all(line == line.rstrip() for line in text.splitlines())
    for call in CALLS:  # whole ids, every column, one line per call: cut or squeezed nowhere
        [row] = [line for line in text.splitlines() if call["callId"] in line]
        for value in (call["state"], call["direction"], call["metadata"]["mode"], call["to"]):
            assert value in row


@pytest.mark.parametrize("width", [*WIDTHS, None])
async def test_status_of_one_call(width: int | None, env: Env, fake: FakeDaemon,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The real command; a terminal as rich recognises one (TTY_COMPATIBLE) of COLUMNS."""
    if width is not None:
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        monkeypatch.setenv("COLUMNS", str(width))
    fake.answer("voicecall.status", {"found": True, "call": ENDED_CALL})
    result = await run_cli("status", "--call-id", ID1, socket=env.socket)
    assert result.exit_code == 0, result.output
    if width is None:
        text = result.stdout
        check_golden("status_call_pipe.txt", text)
        assert_plain(text)
        assert f"bot: {GREETING}\n" in text and "user: Yes. Ten works.\n" in text
        assert "first TTS byte 610 ms -> first audio 702 ms\n" in text
        return
    screen = screen_text(result.stdout, width)
    check_golden(f"status_call_{width}.txt", screen)
    assert f"call {ID1}" in screen and "completed" in screen and "3m03s" in screen


@pytest.mark.parametrize("width", [*WIDTHS, None])
async def test_status_table_command(width: int | None, env: Env, fake: FakeDaemon,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The real command (its durations run on the wall clock, so no golden here)."""
    if width is not None:
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        monkeypatch.setenv("COLUMNS", str(width))
    now = int(time.time() * 1000)
    calls = [{**call, "startedAt": now - 65_000, "answeredAt": now - 60_000} for call in CALLS]
    fake.answer("voicecall.status", {"calls": calls})
    result = await run_cli("status", socket=env.socket)
    assert result.exit_code == 0, result.output
    if width is None:
        assert_plain(result.stdout)
        rows = [line for line in result.stdout.splitlines() if line.startswith((ID1, ID2, ID3))]
        assert [row.split()[:2] for row in rows] == [[c["callId"], c["state"]] for c in CALLS]
        assert max(map(len, rows)) > 80  # not squeezed to 80 columns
        return
    rows = table_rows(screen_text(result.stdout, width))  # no line wider than the terminal
    assert [row.split()[:2] for row in rows] == [[c["callId"][:8], c["state"]] for c in CALLS]
    assert all(call["to"] in row for row, call in zip(rows, CALLS, strict=True))


# -- tail -----------------------------------------------------------------------------------


def run_tail_view(out: Console) -> str:
    with HumanView(out, clock=lambda: NOW / 1000) as view:
        for event in TAIL:
            view.show(b"", event)
    return written(out)


@pytest.mark.parametrize("width", WIDTHS)
def test_tail_on_a_terminal(width: int) -> None:
    screen = screen_text(run_tail_view(terminal(width)), width)
    check_golden(f"tail_{width}.txt", screen)
    lines = screen.splitlines()
    # Every event is in the scrollback, each on one line, oldest first, the table below them.
    event_lines = [line for line in lines if re.match(r"\d\d:\d\d:\d\d  ", line)]
    assert len(event_lines) == len(TAIL_EVENTS)
    for line, event in zip(event_lines, TAIL_EVENTS, strict=True):
        assert line.split()[1] == (event["callId"] or "-")[:8]
        assert line.split()[2] == event["type"]
    assert lines.index(event_lines[-1]) < lines.index("active calls")
    rows = table_rows("\n".join(lines[lines.index("active calls"):]))
    assert [row.split()[:2] for row in rows] == [[ID1[:8], "listening"], [ID3[:8], "answered"]]
    if width == 80:
        assert any(line.endswith("…") for line in event_lines)  # cut, not wrapped


def test_tail_into_a_pipe() -> None:
    text = run_tail_view(pipe())
    check_golden("tail_pipe.txt", text)
    assert_plain(text)
    lines = text.splitlines()
    # The table at the snapshot, then one whole line per event, whatever its length.
    assert lines[0] == "active calls"
    event_lines = lines[4:]
    assert len(event_lines) == len(TAIL_EVENTS)
    assert max(map(len, event_lines)) > 160
    for line, event in zip(event_lines, TAIL_EVENTS, strict=True):
        assert line.split()[1:3] == [event["callId"] or "-", event["type"]]
    assert event_lines[1].endswith(f"bot: {GREETING}")
    assert event_lines[2].endswith("user: Yes. Ten works.")
    assert event_lines[-1].endswith(LONG_ERROR)
    assert event_lines[0].endswith(WEBHOOK)
