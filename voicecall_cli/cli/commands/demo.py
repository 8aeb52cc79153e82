"""``voicecall demo``: a complete call, shown live, on a fresh machine with no accounts.

It starts a private daemon (its own temporary directory, config, store, socket and port 0),
places a conversation call, runs two turns, hangs up, stops the daemon and removes the
directory. ``--carrier mock`` (the default) talks to the mock carrier's simulated callee; any
other ``--carrier`` is a name in :mod:`voicecall_cli.simulator.registry`: the demo runs
``python -m voicecall_cli.simulator NAME --stdin --stream-audio --reply ...`` as a second child
process (REST API, signed webhooks, the caller's side of a media stream) and deep-merges the
``config`` of its first stdout line into the daemon's config, so the call is carrier-shaped end
to end without this module knowing the carrier. With Twilio the daemon's speech goes out as
paced mu-law frames and the caller's audio is transcribed offline (``sttProvider =
"scripted"``). Children are stopped (then killed, if need be) on every way out, Ctrl-C included.
The registry is the only piece of the simulators this module imports (it imports nothing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import click

from voicecall_cli.cli.commands.tail import HumanView, JsonLines
from voicecall_cli.cli.daemon_process import spawn_detached, wait_until_ready
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import emit_json_line, note, render
from voicecall_cli.client import ControlClient
from voicecall_cli.protocol import ApiError
from voicecall_cli.simulator import registry

CARRIERS = ("mock", *registry.names())  # the mock runs in the daemon; the rest are simulators

CALLEE = "+15550001111"
GREETING = "Hi, this is voicecall, calling about your appointment."
QUESTIONS = ("Does tomorrow at ten work for you?", "Is there anything else I can help with?")
REPLIES = ("Yes, tomorrow at ten works for me.", "No, that's everything. Thank you!")
READY_TIMEOUT_S = 20.0
TURN_TIMEOUT_S = 30.0


def _config(carrier: str, root: Path) -> dict[str, Any]:
    """The private configuration of ``voicecall demo`` (a simulator's ``config`` goes over it)."""
    return {
        "provider": carrier,
        "fromNumber": "+15550009999",
        "store": str(root / "state"),
        "inboundPolicy": "disabled",
        "serve": {"bind": "127.0.0.1", "port": 0},
        "outbound": {"defaultMode": "conversation"},
        "mock": {"ringDelayMs": 400, "answerDelayMs": 600, "replyDelayMs": 700,
                 "replies": list(REPLIES)},
    }


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
    raise CliError("the call was not answered and greeted in time", ExitCode.TIMED_OUT,
                   "with TTS keys in the environment the greeting needs the TTS service; "
                   "see the daemon's log for the cause")


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


def _start_simulator(carrier: str, root: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """The carrier's simulator as a child process; its first stdout line says where it listens
    and holds the daemon config that uses it (``config``)."""
    argv = [sys.executable, "-m", "voicecall_cli.simulator", carrier, "--stdin",
            "--stream-audio"]
    for reply in REPLIES:
        argv += ["--reply", reply]
    log = (root / "simulator.log").open("ab")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    log.close()
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise CliError(f"the {carrier} simulator did not start; see {root / 'simulator.log'}")
    return proc, json.loads(line)


def _stop_simulator(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    assert proc.stdin is not None
    proc.stdin.close()  # the simulator stops when its stdin closes
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@click.command("demo")
@click.option("--carrier", type=click.Choice(CARRIERS), default="mock", show_default=True,
              help="mock: the mock carrier's callee; any other: that carrier's local simulator.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the event stream as NDJSON, then one JSON summary line, on stdout.")
def command(carrier: str, as_json: bool) -> None:
    """Run a complete call against a simulated carrier, shown live.

    Starts a private daemon in a temporary directory (nothing of yours is touched), places a
    conversation call to a simulated callee, runs two turns, hangs up and stops the daemon.
    Needs no account, no network and no API keys.
    """
    root = Path(tempfile.mkdtemp(prefix="voicecall-demo-"))
    socket_path = root / "control.sock"
    config_path = root / "config.json"
    config = _config(carrier, root)
    simulator = None
    spawned = None
    try:
        if carrier != "mock":
            simulator, where = _start_simulator(carrier, root)
            from voicecall_cli.core.config.merge import deep_merge

            config = deep_merge(config, where["config"])
            note(f"{where['displayName']} simulator pid {where['pid']} at {where['baseUrl']}")
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        argv = [sys.executable, "-m", "voicecall_cli.daemon", "run", "--config", str(config_path),
                "--socket", str(socket_path)]
        spawned = spawn_detached(argv, root / "daemon.log")
        health = wait_until_ready(spawned, socket_path, READY_TIMEOUT_S)
        note(f"demo daemon pid {health['pid']} on the {carrier} carrier; webhooks at "
             f"{health['webhookUrl']}")
        viewer = EventViewer(socket_path, as_json)
        viewer.start()
        viewer.subscribed.wait(READY_TIMEOUT_S)
        summary = _converse(socket_path)
        _stop(socket_path, spawned.process)
        viewer.join(timeout=10)
    finally:
        if spawned is not None:
            _stop(socket_path, spawned.process)
        _stop_simulator(simulator)
        shutil.rmtree(root, ignore_errors=True)
    if as_json:
        # The summary is the last NDJSON line, after the stream's own lines.
        brief = {k: v for k, v in summary.items() if k != "call"}
        emit_json_line(json.dumps(brief, ensure_ascii=False).encode())
        return
    from voicecall_cli.cli import render as views

    render(views.call_panel(summary["call"]))
    note(f"demo call {summary['callId']} ended ({summary['state']}); the daemon stopped.")
