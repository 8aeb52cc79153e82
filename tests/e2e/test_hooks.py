"""The post-call hook on a real ``voicecall daemon run`` (issue #15, item 4): a command gets the
ended call's JSON on stdin once, a hook that hangs is killed at its timeout, a ``kill -9`` and
restart never run a hook again; a URL gets one POST signed with HMAC-SHA256 (checked here with
``hmac``, not our code, and with the README's snippet), and a URL answering 500 is retried,
then reported failed; a Twilio call (through its simulator) that the carrier ends gets its
hook once too."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trio

from .conftest import VOICECALL, Daemon, cli_json
from .test_readme import readme_blocks
from .test_twilio import twilio_daemon

HOOK_SCRIPT = """\
#!/bin/sh
# The call's JSON arrives on stdin; a call whose message says HANG hangs the hook.
dir=$(dirname "$0")
input=$(cat)
printf '%s' "$input" > "$dir/$VOICECALL_CALL_ID.json"
echo "$VOICECALL_CALL_ID" >> "$dir/runs"
case "$input" in
  *HANG*) echo $$ > "$dir/$VOICECALL_CALL_ID.pid"; exec sleep 300 ;;
esac
"""
SECRET = "whsec-e2e-0123456789abcdef"


def notify_daemon(daemon_factory, hooks: str | None) -> Daemon:
    """A mock daemon whose notify calls hang up as soon as the message is spoken; ``hooks``
    opens its ``[hooks]`` table (None: no table)."""
    daemon: Daemon = daemon_factory(extra="" if hooks is None else f"\n[hooks]\n{hooks}")
    text = daemon.config.read_text().replace(
        'defaultMode = "conversation"', 'defaultMode = "notify"\nnotifyHangupDelaySec = 0')
    daemon.config.write_text(text)
    return daemon


def add_hook_script(daemon: Daemon, more: str = "", *, table: bool = False) -> None:
    """Make :data:`HOOK_SCRIPT` the daemon's ``onCallEnded`` (its config file ends inside the
    ``[hooks]`` table, or, with ``table``, gets one), followed by ``more`` settings."""
    script = daemon.root / "hook.sh"
    script.write_text(HOOK_SCRIPT)
    script.chmod(0o755)
    with daemon.config.open("a") as f:
        f.write(("\n[hooks]\n" if table else "") + f'onCallEnded = "{script}"\n' + more)


def hook_events(daemon: Daemon, call_id: str) -> list[dict]:
    out = daemon.cli("tail", "--since", "all", "--no-follow", "--json", "--call-id", call_id,
                     check=True).stdout
    events = [json.loads(line) for line in out.splitlines()]
    return [e["data"] for e in events if e.get("type") == "call.hook"]


def wait_hook_done(daemon: Daemon, call_id: str, timeout: float = 30) -> list[dict]:
    """The call's hook events, once one of them is final (ok or failed): read as they come
    from one following ``voicecall tail --json`` (killed after ``timeout``, a hang guard)."""
    tail = subprocess.Popen(
        [*VOICECALL, "--socket", str(daemon.socket), "tail", "--since", "all", "--call-id",
         call_id, "--json"], stdout=subprocess.PIPE, text=True)
    guard = threading.Timer(timeout, tail.kill)
    guard.start()
    events: list[dict] = []
    try:
        assert tail.stdout is not None
        for line in tail.stdout:
            event = json.loads(line)
            if event.get("type") == "call.hook":
                events.append(event["data"])
                if event["data"]["status"] in ("ok", "failed"):
                    return events
        raise AssertionError(f"no final call.hook event for {call_id} within {timeout}s: "
                             f"{events}\n" + daemon.log.read_text()[-3000:])
    finally:
        guard.cancel()
        tail.kill()
        tail.wait()


def readme_signature_check():
    """The README's verification snippet (its Python block under "Post-call hook"), run."""
    [block] = [b for b in readme_blocks() if b.section == "Post-call hook" and b.lang == "python"]
    namespace: dict = {}
    exec(compile(block.text, "README.md", "exec"), namespace)
    return namespace["verify"]


def place(daemon: Daemon, message: str) -> str:
    return daemon.cli_json("call", "--message", message)["callId"]


def test_command_hook_runs_once_is_killed_at_its_timeout_and_not_rerun_after_kill9(
        daemon_factory) -> None:
    daemon = notify_daemon(daemon_factory, "")
    add_hook_script(daemon, "timeoutMs = 1000\n")
    daemon.start()

    first = place(daemon, "Your table is ready.")
    events = wait_hook_done(daemon, first)
    assert events == [{"status": "ok", "kind": "command", "attempt": 1}]
    # stdin held the ended call exactly as `status --json` shows it, final transcript included.
    given = json.loads((daemon.root / f"{first}.json").read_text())
    shown = daemon.cli_json("status", "--call-id", first)
    assert given == shown
    assert given["call"]["state"] == "hangup-bot" and given["call"]["endedAt"]
    assert [t["text"] for t in given["call"]["transcript"]] == ["Your table is ready."]

    hanging = place(daemon, "HANG please")
    pid_file = daemon.root / f"{hanging}.pid"
    daemon.wait_for(pid_file.exists, what="the hanging hook to start")
    # While it hangs, the daemon answers and takes calls.
    assert daemon.cli_json("status", "--call-id", hanging)["call"]["endedAt"]
    assert daemon.health()["ok"] is True
    events = wait_hook_done(daemon, hanging)
    assert events == [{"status": "failed", "kind": "command", "attempt": 1,
                       "error": "timed out after 1000 ms; killed"}]
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # killed (and reaped by the daemon)

    daemon.kill9()
    daemon.start()
    after = place(daemon, "One more thing.")
    assert wait_hook_done(daemon, after)[-1]["status"] == "ok"
    # Each call's hook ran once: the restart ran neither of the earlier two again.
    assert (daemon.root / "runs").read_text().split() == [first, hanging, after]
    assert len(hook_events(daemon, first)) == 1 and len(hook_events(daemon, hanging)) == 1


class _Receiver(BaseHTTPRequestHandler):
    """Records each POST; answers with the server's current ``answer`` status."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        server = self.server
        server.received.append((dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(server.answer)  # type: ignore[attr-defined]
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    server.answer = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_url_hook_posts_once_signed_and_retries_a_500_then_reports_it(
        daemon_factory, receiver) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/voicecall"
    daemon = notify_daemon(daemon_factory,
                           f'onCallEnded = "{url}"\nsecret = "{SECRET}"\nretries = 1\n')
    daemon.start()

    delivered = place(daemon, "Your parcel arrives today.")
    assert wait_hook_done(daemon, delivered) == [{"status": "ok", "kind": "url", "attempt": 1}]
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-voicecall-delivery"] == delivered
    fields = dict(part.split("=", 1) for part in headers["x-voicecall-signature"].split(","))
    expected = hmac.new(SECRET.encode(), fields["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    readme_verify = readme_signature_check()
    assert readme_verify(SECRET, headers["x-voicecall-signature"], body)
    assert not readme_verify(SECRET, headers["x-voicecall-signature"], body + b" ")
    assert json.loads(body) == daemon.cli_json("status", "--call-id", delivered)

    receiver.answer = 500
    refused = place(daemon, "Second notice.")
    events = wait_hook_done(daemon, refused)
    assert events == [
        {"status": "retrying", "kind": "url", "attempt": 1, "error": "HTTP 500"},
        {"status": "failed", "kind": "url", "attempt": 2, "error": "HTTP 500"},
    ]
    assert len(receiver.received) == 3  # one for the first call, two attempts here
    assert {h["X-Voicecall-Delivery"] for h, _ in receiver.received[1:]} == {refused}
    # The secret is in no event, no status and no log line.
    everything = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True).stdout
    assert SECRET not in everything and SECRET not in daemon.log.read_text()
    assert SECRET not in daemon.cli("--config", str(daemon.config), "config", "show",
                                    check=True).stdout


async def test_a_twilio_call_the_carrier_ends_runs_the_hook_once() -> None:
    """Through the Twilio simulator: the end comes in a signed status webhook (the webhook
    batch's commit), and the hook gets the call as the carrier ended it."""
    hook_dir = Path(tempfile.mkdtemp(prefix="vchook", dir="/tmp"))
    try:
        script = hook_dir / "hook.sh"
        script.write_text(HOOK_SCRIPT)
        script.chmod(0o755)
        with trio.fail_after(60):
            async with twilio_daemon(extra_config=f'\n[hooks]\nonCallEnded = "{script}"\n'
                                     ) as (daemon, _sim):
                placed = await cli_json(daemon, "call", "--mode", "notify",
                                        "--message", "Your order has shipped.")
                call_id = placed["callId"]
                events = await trio.to_thread.run_sync(wait_hook_done, daemon, call_id)
                assert events == [{"status": "ok", "kind": "command", "attempt": 1}]
                given = json.loads((hook_dir / f"{call_id}.json").read_text())
                assert given == await cli_json(daemon, "status", "--call-id", call_id)
                assert given["call"]["state"] == "completed"
                assert given["call"]["providerCallId"].startswith("CA")
        assert (hook_dir / "runs").read_text().split() == [call_id]
    finally:
        shutil.rmtree(hook_dir, ignore_errors=True)


def test_a_reload_arms_a_new_hook_for_calls_that_end_afterwards(daemon_factory) -> None:
    daemon = notify_daemon(daemon_factory, None)
    daemon.start()
    before = place(daemon, "Before the hook.")
    daemon.wait_for(lambda: daemon.cli_json("status", "--call-id", before)["call"]["endedAt"],
                    what="the first call to end")
    add_hook_script(daemon, table=True)
    reply = daemon.cli_json("daemon", "reload")
    assert "hooks" in reply["applied"] and reply["needsRestart"] == []

    after = place(daemon, "After the hook.")
    assert wait_hook_done(daemon, after)[-1] == {"status": "ok", "kind": "command", "attempt": 1}
    # Only the call that ended after the reload had a hook to run.
    assert (daemon.root / "runs").read_text().split() == [after]
    assert hook_events(daemon, before) == []


def test_a_recorded_calls_hook_carries_the_recording_the_carrier_reports_after_the_end(
        daemon_factory) -> None:
    daemon = notify_daemon(daemon_factory, "")
    add_hook_script(daemon)
    daemon.start()

    call_id = daemon.cli_json("call", "--record", "--message", "This call is recorded.")["callId"]
    assert wait_hook_done(daemon, call_id)[-1]["status"] == "ok"
    given = json.loads((daemon.root / f"{call_id}.json").read_text())
    # The mock reports its recording after the hang-up; the hook waited for it.
    assert given["call"]["recording"]["url"].startswith("mock://")
    assert given == daemon.cli_json("status", "--call-id", call_id)
