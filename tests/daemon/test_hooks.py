"""The post-call hook's runner and its store rows, in process: real SQLite files, real
processes, the real event bus (issue #15, item 4).

What a ``kill -9`` leaves is what the store committed, so a "restart" here is a new runner over
the same file: a hook cut short while running is reported and never run again; one that was due
but not started runs once. The pending row is written in the very transaction that ends the
call; a clean stop kills a running command's whole process group.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.hooks import HookTarget
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.bus import EventBus
from voicecall_cli.daemon.hooks import HookRunner, HookSettings
from voicecall_cli.daemon.store import Retention, Store, StoreError
from voicecall_cli.protocol import events as ev

SCRIPT = """\
#!/bin/sh
dir=$(dirname "$0")
cat > /dev/null
echo "$VOICECALL_CALL_ID" >> "$dir/runs"
case "$VOICECALL_CALL_ID" in
  hang*) sh -c 'echo $$ > "$0/child.pid"; exec sleep 300' "$dir" &
         echo $$ > "$dir/$VOICECALL_CALL_ID.pid"; wait ;;
  fail*) echo "first line" >&2; echo "boom: token s3cret-hook-key" >&2; exit 3 ;;
esac
"""
SECRET = "s3cret-hook-key"


@pytest.fixture
def hook_dir(tmp_path: Path) -> Path:
    script = tmp_path / "hook.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    return tmp_path


def command_settings(hook_dir: Path, timeout_ms: int = 30_000) -> HookSettings:
    return HookSettings(HookTarget("command", argv=(str(hook_dir / "hook.sh"),)),
                        secret=SECRET, timeout_ms=timeout_ms)


def runs(hook_dir: Path) -> list[str]:
    path = hook_dir / "runs"
    return path.read_text().split() if path.exists() else []


def end_call(store: Store, call_id: str) -> None:
    """Store a call, then its end (as the call manager does)."""
    call = CallRecord(call_id=call_id, provider="mock", direction="outbound",
                      state=CallState.INITIATED, from_number="+15550000000",
                      to_number="+15550001111", started_at=1)
    store.save_call(call.to_dict())
    call.state, call.ended_at, call.end_reason = CallState.COMPLETED, 2, "completed"
    store.save_call(call.to_dict())


async def next_hook_event(subscription) -> dict:
    while True:
        event = await subscription.receive()
        if event["type"] == ev.CALL_HOOK and event["data"]["status"] != "retrying":
            return event


def new_bus(store: Store) -> EventBus:
    return EventBus(store, list, clock_ms=lambda: 1_000)


async def test_the_pending_row_commits_with_the_terminal_record_or_not_at_all(tmp_path):
    with Store.open(tmp_path) as store:
        end_call(store, "unarmed")
        assert store.hook_get("unarmed") is None  # no hook configured: nothing to run
        told: list[str] = []
        store.arm_hooks(told.append)
        store.save_call({"callId": "c1", "state": "active", "startedAt": 1})
        with pytest.raises(StoreError), store.batch():
            store.save_call({"callId": "c1", "state": "completed", "startedAt": 1,
                             "endedAt": 2})
            store.journal_placed("no-such-call", "X")  # fails: the whole batch rolls back
        assert store.hook_get("c1") is None and told == []
        with store.batch():
            store.save_call({"callId": "c1", "state": "completed", "startedAt": 1,
                             "endedAt": 2})
            assert told == []  # told only once it is committed
        assert told == ["c1"] and store.hook_get("c1")["status"] == "pending"
        store.save_call({"callId": "c1", "state": "completed", "startedAt": 1, "endedAt": 3})
        assert told == ["c1"]  # saved again while ended: no second hook


def test_the_runner_is_told_only_once_another_connection_sees_the_row(tmp_path):
    with Store.open(tmp_path) as store:
        seen: list[tuple] = []

        def committed(call_id: str) -> None:
            other = sqlite3.connect(store.path)
            try:
                seen.append(other.execute("SELECT call_id, status FROM hook_runs").fetchone())
            finally:
                other.close()

        store.arm_hooks(committed)
        end_call(store, "c1")  # two plain saves, no batch
        assert seen == [("c1", "pending")]


async def test_after_a_crash_a_started_hook_is_reported_and_a_due_one_runs_once(
        tmp_path, hook_dir):
    store_dir = tmp_path / "state"
    with Store.open(store_dir) as store:
        store.arm_hooks(lambda call_id: None)  # a daemon that died right after these commits
        end_call(store, "was-running")
        end_call(store, "was-due")
        assert store.hook_start("was-running", "command")
    # The next start, over the same file.
    with Store.open(store_dir) as store:
        bus = new_bus(store)
        with bus.subscribe("all") as events:
            async with trio.open_nursery() as nursery:
                await nursery.start(HookRunner(command_settings(hook_dir), store, bus,
                                               clock_ms=lambda: 1_000).run)
                with trio.fail_after(30):
                    first, second = await next_hook_event(events), await next_hook_event(events)
                nursery.cancel_scope.cancel()
    assert (first["callId"], first["data"]) == ("was-running", {
        "status": "failed", "kind": "command", "attempt": 1,
        "error": "the daemon died while the hook ran; it is not run again"})
    assert (second["callId"], second["data"]) == ("was-due", {
        "status": "ok", "kind": "command", "attempt": 1})
    assert runs(hook_dir) == ["was-due"]
    with Store.open(store_dir) as store:
        assert store.hook_get("was-running")["status"] == "interrupted"
        assert store.hook_get("was-due")["status"] == "ok"
        assert store.hooks_pending() == [] and store.hooks_cut_short() == []


async def test_a_failing_command_is_reported_with_its_stderr_without_the_secret(
        tmp_path, hook_dir):
    with Store.open(tmp_path / "state") as store:
        bus = new_bus(store)
        with bus.subscribe(None) as events:
            async with trio.open_nursery() as nursery:
                await nursery.start(HookRunner(command_settings(hook_dir), store, bus,
                                               clock_ms=lambda: 1_000).run)
                end_call(store, "fail-1")
                with trio.fail_after(30):
                    event = await next_hook_event(events)
                nursery.cancel_scope.cancel()
    assert event["data"] == {"status": "failed", "kind": "command", "attempt": 1,
                             "error": "exit status 3: boom: token ***"}


async def test_a_missing_command_fails_and_the_runner_carries_on(tmp_path, hook_dir):
    missing = HookSettings(HookTarget("command", argv=(str(hook_dir / "nope"),)))
    with Store.open(tmp_path / "state") as store:
        bus = new_bus(store)
        with bus.subscribe(None) as events:
            async with trio.open_nursery() as nursery:
                runner = HookRunner(missing, store, bus, clock_ms=lambda: 1_000)
                await nursery.start(runner.run)
                end_call(store, "a")
                with trio.fail_after(30):
                    failed = await next_hook_event(events)
                runner.update(command_settings(hook_dir))  # a reload fixes it
                end_call(store, "b")
                with trio.fail_after(30):
                    fixed = await next_hook_event(events)
                nursery.cancel_scope.cancel()
    assert failed["data"]["status"] == "failed"
    assert failed["data"]["error"].startswith("cannot start ")
    assert (fixed["callId"], fixed["data"]["status"]) == ("b", "ok")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_a_stop_kills_a_running_hook_group_and_leaves_waiting_ones_due(
        tmp_path, hook_dir):
    with Store.open(tmp_path / "state") as store:
        bus = new_bus(store)
        async with trio.open_nursery() as nursery:
            runner = HookRunner(command_settings(hook_dir), store, bus,
                                clock_ms=lambda: 1_000, max_concurrent=1)
            await nursery.start(runner.run)
            end_call(store, "hang-1")
            with trio.fail_after(30):
                while not (hook_dir / "child.pid").exists() or not (
                        hook_dir / "hang-1.pid").exists():
                    await trio.sleep(0.02)
            end_call(store, "later")  # waits: one hook at a time here
            await trio.testing.wait_all_tasks_blocked()  # it would have started by now
            assert store.hook_get("later")["status"] == "pending"
            nursery.cancel_scope.cancel()  # the daemon stops
        hook_pid = int((hook_dir / "hang-1.pid").read_text())
        child_pid = int((hook_dir / "child.pid").read_text())
        assert not _alive(hook_pid)  # reaped by the runner
        with trio.fail_after(10):  # the child got SIGKILL too; init reaps it when it dies
            while _alive(child_pid):
                await trio.sleep(0.01)
        assert store.hook_get("hang-1")["status"] == "failed"
        assert store.hook_get("hang-1")["error"] == (
            "the daemon stopped while the hook ran; it is not run again")
        assert store.hooks_pending() == ["later"]  # runs at the next start
        assert runs(hook_dir) == ["hang-1"]


def test_finished_hook_rows_are_bounded_like_terminal_calls(tmp_path):
    with Store.open(tmp_path, retention=Retention(terminal_calls=3)) as store:
        store.arm_hooks(lambda call_id: None)
        for n in range(110):
            end_call(store, f"c{n}")
            if n != 5:  # c5 stays due: never pruned
                assert store.hook_start(f"c{n}", "command")
                store.hook_finish(f"c{n}", "ok")
        other = sqlite3.connect(store.path)
        rows = other.execute("SELECT call_id FROM hook_runs ORDER BY id").fetchall()
        other.close()
        assert len(rows) <= 3 + 100 + 1
        assert ("c5",) in rows and ("c109",) in rows and ("c0",) not in rows
        assert store.hooks_pending() == ["c5"]
