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
