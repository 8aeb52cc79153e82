"""A real ``voicecall daemon run`` whose store cannot be written (issue #14, item 9).

The store fails because the daemon's file-size limit drops to one byte (:mod:`.store_limits`):
every SQLite write fails as on a full disk. The CLI must get a clear ``store_unavailable``
error naming the store's file (exit 10), the daemon must stay up and keep nothing it could not
record (no phantom call holding the only ``maxConcurrentCalls`` slot), and once space returns
it works again with a consistent store.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
import trio

from tests.conformance.carriers import TwilioHarness
from tests.conformance.session import Session, open_session

from ..e2e.conftest import Daemon, make_daemon
from .store_limits import disk_full

EXIT_STORE_UNAVAILABLE = 10


@pytest.fixture
def one_slot_daemon() -> Iterator[Daemon]:
    daemon = make_daemon()
    daemon.config.write_text(daemon.config.read_text().replace(
        "maxConcurrentCalls = 3", "maxConcurrentCalls = 1"))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(daemon.root, ignore_errors=True)


def store_file(daemon: Daemon) -> str:
    return str(daemon.root / "state" / "voicecall.sqlite3")


def test_disk_full_while_placing_a_call_names_the_store_and_leaves_nothing(
        one_slot_daemon: Daemon) -> None:
    daemon = one_slot_daemon
    assert daemon.proc is not None
    with disk_full(daemon.proc.pid):
        failed = daemon.cli("call", "--message", "Hello", "--json", timeout=30)
        plain = daemon.cli("call", "--message", "Hello", timeout=30)
        # The daemon is up and shows no call: nothing half-placed was left in memory.
        live = daemon.cli_json("status")["calls"]
    assert failed.returncode == EXIT_STORE_UNAVAILABLE, (failed.stdout, failed.stderr)
    error = json.loads(failed.stdout)["error"]
    assert error["code"] == "store_unavailable"
    assert store_file(daemon) in error["message"] and "cannot be written" in error["message"]
    assert plain.returncode == EXIT_STORE_UNAVAILABLE
    assert plain.stderr.startswith("voicecall: ") and store_file(daemon) in plain.stderr
    assert "Traceback" not in plain.stderr + failed.stderr
    assert live == []

    # Space is back: the only slot is free, and the store holds exactly the call placed now.
    placed = daemon.cli_json("call", "--message", "Hello again")
    assert placed["initiated"] is True
    stored = daemon.cli_json("calls", "--limit", "10")["calls"]
    assert [c["callId"] for c in stored] == [placed["callId"]]
    ended = daemon.cli("end", "--call-id", placed["callId"])
    assert ended.returncode == 0, ended.stderr


def cli_outcome(proc) -> str:
    """``ok``, ``store`` (a clear store_unavailable naming the file) or what else happened."""
    if proc.returncode == 0:
        return "ok"
    if proc.returncode == EXIT_STORE_UNAVAILABLE and "voicecall.sqlite3" in proc.stderr:
        return "store"
    return f"exit {proc.returncode}: {proc.stderr.strip()}"


@pytest.mark.reliability
async def test_store_failing_mid_call_loses_nothing_acknowledged() -> None:
    """On Twilio (its simulator keeps the carrier's truth across daemon restarts)."""
    carrier = TwilioHarness()
    with trio.fail_after(120):
        async with open_session(carrier) as s:
            await _fail_mid_call(s)


async def _fail_mid_call(s: Session) -> None:
    daemon = s.daemon
    assert daemon.proc is not None
    call_id = await s.place("Hi, confirming tomorrow.")
    pid = (await s.answered(call_id))["providerCallId"]
    first = await s.cli_json("continue", "--call-id", call_id, "--message", "Does ten work?")
    before = await s.events()
    dials = s.carrier.dials()

    outcomes: dict[str, str] = {}
    with disk_full(daemon.proc.pid):
        for label, args in (
                ("speak", ("speak", "--call-id", call_id, "--message", "One moment.")),
                ("continue", ("continue", "--call-id", call_id, "--message", "Anything else?")),
                ("end", ("end", "--call-id", call_id))):
            outcomes[label] = cli_outcome(await s.cli(*args))
        health = await trio.to_thread.run_sync(daemon.health)  # still up and answering
        during = await s.active()
        placed = cli_outcome(await s.cli("call", "--message", "A second call"))
    assert health["pid"] == daemon.proc.pid
    # Every command either worked or failed clearly, naming the store: never "internal".
    assert set(outcomes.values()) <= {"ok", "store"}, outcomes
    assert placed == "store"  # refused, nothing dialled
    assert s.carrier.dials() == dials
    # The call is over at the carrier (hung up by the daemon, or by Twilio itself once a
    # TwiML request was refused with 503 so as not to acknowledge what was not stored), and
    # the daemon no longer holds it as live.
    hung_up = s.carrier.hangups(pid)
    assert hung_up == 1 or (hung_up == 0 and s.carrier.sim.calls[pid].ended)
    assert during == [], during

    # Space returns; the daemon restarts (as systemd would after a failure).
    await trio.to_thread.run_sync(daemon.stop)
    await s.start()
    kept = {e["cursor"]: e for e in await s.events()}
    lost = [e for e in before if kept.get(e["cursor"]) != e]
    assert lost == []  # every event acknowledged before the failure is still there
    stored = await s.wait_call(call_id, lambda c: c["endedAt"], "the restored end")
    assert stored["state"] == "completed", stored  # the carrier's word, not a live phantom
    said = [t["text"] for t in stored["transcript"]]
    assert first["transcript"] in said
    if outcomes["speak"] == "ok":
        assert "One moment." in said
    assert await s.active() == []
    assert s.carrier.dials() == dials and s.carrier.hangups(pid) == hung_up  # nothing redone
    again = await s.place("After the disk was freed")
    assert (await s.answered(again))["callId"] == again
