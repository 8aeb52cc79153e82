"""``voicecall demo``: a complete call on the mock carrier, shown live, on a fresh machine.

It starts a private daemon (its own temporary directory, config, store, socket and port 0),
places a conversation call to the mock carrier's simulated callee, runs two turns, hangs up,
stops the daemon and removes the directory. The daemon is this CLI's child until the demo
ends: it is stopped (then killed, if need be) on every way out, Ctrl-C included.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import click

from voicecall_cli.cli.client import ControlClient
from voicecall_cli.cli.commands.tail import HumanView, JsonLines
from voicecall_cli.cli.daemon_process import spawn_detached, wait_until_ready
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import emit_json_line, note, render
from voicecall_cli.protocol import ApiError

CALLEE = "+15550001111"
GREETING = "Hi, this is voicecall, calling about your appointment."
QUESTIONS = ("Does tomorrow at ten work for you?", "Is there anything else I can help with?")
REPLIES = ("Yes, tomorrow at ten works for me.", "No, that's everything. Thank you!")
CONFIG = """\
# The private configuration of `voicecall demo`.
provider = "mock"
store = "{store}"
inboundPolicy = "disabled"

[serve]
bind = "127.0.0.1"
port = 0

[outbound]
defaultMode = "conversation"

[mock]
ringDelayMs = 400
answerDelayMs = 600
replyDelayMs = 700
replies = {replies}
"""
READY_TIMEOUT_S = 20.0
TURN_TIMEOUT_S = 30.0


class EventViewer(threading.Thread):
    """Shows the daemon's event stream until the daemon closes it (or the demo ends)."""

    def __init__(self, socket_path: Path, as_json: bool) -> None:
        super().__init__(name="voicecall-demo-events", daemon=True)
        self.stream = ControlClient(socket_path, READY_TIMEOUT_S * 3).event_lines(None, None)
        self.sink = JsonLines() if as_json else HumanView()
        self.subscribed = threading.Event()

    def run(self) -> None:
        try:
            with closing(self.stream), self.sink as sink:
                for raw, event in self.stream:
                    sink.show(raw, event)
                    self.subscribed.set()
        except (ApiError, OSError, ValueError):
            pass  # the daemon went away: the demo reports its own outcome
        finally:
            self.subscribed.set()


def _wait_greeted(client: ControlClient, call_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        call = client.call("voicecall.status", {"callId": call_id}).get("call") or {}
        if call.get("endedAt"):
            raise CliError(f"the demo call ended early: {call.get('endReason')}")
        if any(t.get("speaker") == "bot" for t in call.get("transcript") or []):
            return call
        time.sleep(0.1)
    raise CliError("the mock callee did not answer in time", ExitCode.TIMED_OUT)


def _converse(socket_path: Path) -> dict[str, Any]:
    client = ControlClient(socket_path, TURN_TIMEOUT_S)
    placed = client.call("voicecall.initiate",
                         {"to": CALLEE, "message": GREETING, "mode": "conversation"})
    call_id = placed["callId"]
    _wait_greeted(client, call_id)
    turns = []
    for question in QUESTIONS:
        answer = client.call("voicecall.continue", {"callId": call_id, "message": question})
        turns.append({"question": question, "answer": answer["transcript"]})
    client.call("voicecall.end", {"callId": call_id})
    call = client.call("voicecall.status", {"callId": call_id})["call"]
    return {"callId": call_id, "state": call["state"], "turns": turns, "call": call}


def _stop(socket_path: Path, process: Any) -> None:
    if process.poll() is None:
        with suppress(ApiError):
            ControlClient(socket_path, 5).call("daemon.stop", {})
        try:
            process.wait(timeout=15)
        except Exception:
            process.kill()
            process.wait(timeout=5)


@click.command("demo")
@click.option("--json", "as_json", is_flag=True,
              help="Print the event stream as NDJSON, then one JSON summary line, on stdout.")
def command(as_json: bool) -> None:
    """Run a complete call against the mock carrier, shown live.

    Starts a private daemon in a temporary directory (nothing of yours is touched), places a
    conversation call to a simulated callee, runs two turns, hangs up and stops the daemon.
    Needs no account, no network and no API keys.
    """
    root = Path(tempfile.mkdtemp(prefix="voicecall-demo-"))
    socket_path = root / "control.sock"
    config = root / "config.toml"
    replies = "[" + ", ".join(f'"{r}"' for r in REPLIES) + "]"
    config.write_text(CONFIG.format(store=root / "state", replies=replies))
    argv = [sys.executable, "-m", "voicecall_cli.daemon", "run", "--config", str(config),
            "--socket", str(socket_path)]
    spawned = spawn_detached(argv, root / "daemon.log")
    try:
        health = wait_until_ready(spawned, socket_path, READY_TIMEOUT_S)
        note(f"demo daemon pid {health['pid']} on the mock carrier; webhooks at "
             f"{health['webhookUrl']}")
        viewer = EventViewer(socket_path, as_json)
        viewer.start()
        viewer.subscribed.wait(READY_TIMEOUT_S)
        summary = _converse(socket_path)
        _stop(socket_path, spawned.process)
        viewer.join(timeout=10)
    finally:
        _stop(socket_path, spawned.process)
        shutil.rmtree(root, ignore_errors=True)
    if as_json:
        # The summary is the last NDJSON line, after the stream's own lines.
        brief = {k: v for k, v in summary.items() if k != "call"}
        emit_json_line(json.dumps(brief, ensure_ascii=False).encode())
        return
    from voicecall_cli.cli import render as views

    render(views.call_panel(summary["call"]))
    note(f"demo call {summary['callId']} ended ({summary['state']}); the daemon stopped.")
