"""The post-call hook's runs: one row per ended call that has a hook to run, so that a restart
never runs a hook twice.

The row is written by the store itself, in the transaction that makes a call's record terminal
(:meth:`HookRuns._call_became_terminal`, called by the calls table), while hooks are armed
(:meth:`HookRuns.arm_hooks`): a call is never terminal without its ``pending`` row, whatever
moment a ``kill -9`` strikes. Its life: ``pending`` (due; what a start finds pending runs then,
once) -> ``started`` (committed before the hook is run) -> ``ok`` or ``failed``. A row still
``started`` when the daemon starts was cut short by a crash: it becomes ``interrupted`` and is
never run again (at most once). The armed listener is told of each new row once its transaction
committed. Finished rows are bounded like terminal calls (``retention.terminal_calls``, plus a
batch); ``pending`` and ``started`` rows are never pruned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from voicecall_cli.daemon.store.connection import Connection, trim

HOOK_PENDING = "pending"
HOOK_STARTED = "started"
HOOK_OK = "ok"
HOOK_FAILED = "failed"
HOOK_INTERRUPTED = "interrupted"
_FINISHED = (HOOK_OK, HOOK_FAILED, HOOK_INTERRUPTED)
_TRIM_BATCH = 100


class HookRuns(Connection):
    """The ``hook_runs`` table of a :class:`~voicecall_cli.daemon.store.Store`."""

    _hook_listener: Callable[[str], None] | None = None
    _finished_hooks: int

    def _load_counters(self) -> None:
        super()._load_counters()
        self._finished_hooks = self._scalar(
            f"SELECT count(*) FROM hook_runs WHERE status IN {_FINISHED!r}")

    def arm_hooks(self, listener: Callable[[str], None] | None) -> None:
        """From now on a call that becomes terminal gets a ``pending`` row and ``listener``
        is called with its id after the commit (it must not raise); None disarms."""
        self._hook_listener = listener

    def _call_became_terminal(self, db: Any, call_id: str, at_ms: int) -> None:
        super()._call_became_terminal(db, call_id, at_ms)
        listener = self._hook_listener
        if listener is None:
            return
        inserted = db.execute(
            "INSERT OR IGNORE INTO hook_runs (call_id, status, created_at) VALUES (?, ?, ?)",
            (call_id, HOOK_PENDING, at_ms)).rowcount
        if inserted:
            self.after_commit(lambda: listener(call_id))

    def hooks_pending(self) -> list[str]:
        """Call ids whose hook is due and not yet started, oldest first."""
        with self._guard("read"):
            rows = self._conn().execute(
                "SELECT call_id FROM hook_runs WHERE status = ? ORDER BY id",
                (HOOK_PENDING,)).fetchall()
        return [row[0] for row in rows]

    def hook_start(self, call_id: str, kind: str) -> bool:
        """Claim the pending hook of ``call_id`` for its first attempt, run as ``kind``
        (committed before it runs); False when it is not pending (already started or
        finished: it must not run)."""
        with self._transaction() as db:
            return db.execute(
                "UPDATE hook_runs SET status = ?, kind = ?, attempts = 1"
                " WHERE call_id = ? AND status = ?",
                (HOOK_STARTED, kind, call_id, HOOK_PENDING)).rowcount == 1

    def hook_attempt(self, call_id: str, attempt: int) -> None:
        """A started hook begins attempt number ``attempt`` (a URL's retry)."""
        with self._transaction() as db:
            db.execute("UPDATE hook_runs SET attempts = ? WHERE call_id = ? AND status = ?",
                       (attempt, call_id, HOOK_STARTED))

    def hook_finish(self, call_id: str, status: str, error: str | None = None) -> None:
        """Record how a started hook ended: ``ok``, ``failed`` or ``interrupted``."""
        assert status in _FINISHED, status
        count = self._finished_hooks
        with self._transaction() as db:
            if db.execute("UPDATE hook_runs SET status = ?, error = ? WHERE call_id = ?"
                          " AND status IN (?, ?)", (status, error, call_id, HOOK_PENDING,
                                                    HOOK_STARTED)).rowcount:
                count += 1
            limit = self.retention.terminal_calls
            if count > limit + _TRIM_BATCH:
                count -= trim(db, "hook_runs", "id", count - limit,
                              f"status IN {_FINISHED!r}")
        self._finished_hooks = count

    def hooks_cut_short(self) -> list[dict[str, Any]]:
        """The hooks a crash interrupted (still ``started``), oldest first, as
        :meth:`hook_get` shows them; the caller marks each one ``interrupted``."""
        return self._hook_rows("WHERE status = ? ORDER BY id", (HOOK_STARTED,))

    def hook_get(self, call_id: str) -> dict[str, Any] | None:
        rows = self._hook_rows("WHERE call_id = ?", (call_id,))
        return rows[0] if rows else None

    def _hook_rows(self, clause: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._guard("read"):
            rows = self._conn().execute(
                f"SELECT call_id, status, created_at, kind, attempts, error FROM hook_runs"
                f" {clause}", params).fetchall()
        return [{"callId": r[0], "status": r[1], "createdAt": r[2], "kind": r[3],
                 "attempts": r[4], "error": r[5]} for r in rows]
