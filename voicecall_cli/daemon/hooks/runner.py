"""The post-call hook's runner: which ended calls get their hook, when, and what is reported.

Trigger: a call's record becoming terminal. The store writes the hook's ``pending`` row in
that same transaction (:meth:`Store.arm_hooks`) and tells the runner once it committed; the
terminal record already holds the whole transcript (nothing adds to a call once it ended), so
the hook always sees the final call. The document is the stored call as ``voicecall status
--call-id ID --json`` prints it (``{"found": true, "call": {...}}``), read when the hook
starts. A recorded call's hook first waits (at most :data:`RECORDING_WAIT_S`, still
``pending``) for the carrier's report of the recording, which usually follows the hang-up, so
the document carries its ``recording`` (the call manager calls :meth:`recording_arrived`).

At most once, across restarts: the row turns ``started`` (committed) before the command runs
or the first POST leaves; a row still ``started`` at the next start was cut short by a crash and
is reported ``failed`` (never run again); a row still ``pending`` (the daemon died, or stopped,
between the end and the hook's start) runs at the next start, once. A clean stop cancels the
running hooks (a command's process group is killed) and reports them ``failed``.

Every outcome is a ``call.hook`` event ``{status: ok|failed|retrying, kind, attempt, error?}``;
errors never hold the secret. Nothing a hook does reaches the daemon or another call: hooks run
in the runner's own nursery, at most :data:`MAX_CONCURRENT_HOOKS` at once (the rest wait, still
``pending``), and every failure is caught and reported.

Resource handling: :meth:`HookRunner.run` owns the nursery of every delivery until cancelled;
:meth:`HookRunner.update` swaps the settings (a reload), and deliveries that start afterwards
use the new ones.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import trio

from voicecall_cli.core.hooks import KIND_URL, backoff_s, scrub
from voicecall_cli.daemon.bus import EventBus
from voicecall_cli.daemon.hooks.command import run_command
from voicecall_cli.daemon.hooks.settings import HookSettings
from voicecall_cli.daemon.hooks.url import post_once
from voicecall_cli.daemon.store import (
    HOOK_FAILED,
    HOOK_INTERRUPTED,
    HOOK_OK,
    Store,
    StoreError,
)
from voicecall_cli.protocol import events as ev
from voicecall_cli.protocol.views import CallView, StatusResult

log = logging.getLogger("voicecall.hooks")
MAX_CONCURRENT_HOOKS = 4
STOPPED = "the daemon stopped while the hook ran; it is not run again"
CUT_SHORT = "the daemon died while the hook ran; it is not run again"
RECORDING_WAIT_S = 60.0
# Call metadata (set by daemon.calls.recording): the carrier was asked to record / refused.
RECORDING_REQUESTED = "recordingRequestedAt"
RECORDING_FAILED = "recordingFailed"
UNCONFIGURED = "no hook is configured any more"


class HookRunner:
    """Runs ``settings``' hook for each ended call (None: no hook; calls end without one)."""

    def __init__(self, settings: HookSettings | None, store: Store, bus: EventBus, *,
                 clock_ms: Callable[[], int],
                 max_concurrent: int = MAX_CONCURRENT_HOOKS) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self._clock_ms = clock_ms
        self._limiter = trio.CapacityLimiter(max_concurrent)
        self._nursery: trio.Nursery | None = None
        self._attempts: dict[str, int] = {}  # call id -> attempt, while its hook runs
        self._recordings: dict[str, trio.Event] = {}  # call id -> its recording was reported

    async def run(self, *, task_status: trio.TaskStatus[HookRunner] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Report the hooks a crash cut short, arm the store, start the pending hooks; then
        run every new one until cancelled. Ready once armed (before any call can end)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                self._report_cut_short()
                self.update(self.settings)
                for call_id in self.store.hooks_pending():
                    self._due(call_id)
                task_status.started(self)
                await trio.sleep_forever()
            finally:
                self.store.arm_hooks(None)
                self._nursery = None

    def update(self, settings: HookSettings | None) -> None:
        """Use ``settings`` from now on (a config reload); None stops arming new hooks."""
        self.settings = settings
        self.store.arm_hooks(self._due if settings is not None else None)

    def _due(self, call_id: str) -> None:
        """The store committed a pending hook (or found one at start). Never raises: it runs
        inside the store's after-commit callbacks."""
        nursery = self._nursery
        if nursery is None:
            return  # shutting down: it stays pending and runs at the next start
        with contextlib.suppress(RuntimeError):  # the nursery is closing
            nursery.start_soon(self._deliver, call_id)

    def recording_arrived(self, call_id: str) -> None:
        """The carrier's recording of ``call_id`` is stored: a hook waiting for it goes on."""
        arrived = self._recordings.get(call_id)
        if arrived is not None:
            arrived.set()

    async def _await_recording(self, call_id: str) -> None:
        """Wait (bounded) for a recorded call's recording report, unless it is in already."""
        stored = self.store.get_call(call_id)
        metadata = (stored or {}).get("metadata") or {}
        if (stored is None or stored.get("recording") or not metadata.get(RECORDING_REQUESTED)
                or metadata.get(RECORDING_FAILED)):
            return
        arrived = self._recordings.setdefault(call_id, trio.Event())
        try:
            with trio.move_on_after(RECORDING_WAIT_S):
                await arrived.wait()
        finally:
            self._recordings.pop(call_id, None)

    def _report_cut_short(self) -> None:
        for row in self.store.hooks_cut_short():
            self._finish(row["callId"], row["kind"] or "command", HOOK_INTERRUPTED,
                         max(row["attempts"], 1), CUT_SHORT)

    async def _deliver(self, call_id: str) -> None:
        await self._await_recording(call_id)
        async with self._limiter:
            settings = self.settings
            if settings is None:
                self._drop(call_id)
                return
            kind = settings.target.kind
            try:
                if not self.store.hook_start(call_id, kind):
                    return  # started or finished before: never twice
            except StoreError as exc:
                log.error("the hook of call %s was not started: %s", call_id, exc)
                return
            self._attempts[call_id] = 1
            try:
                document = self._document(call_id)
                if document is None:
                    self._finish(call_id, kind, HOOK_FAILED, 1, "the call is no longer stored")
                elif kind == KIND_URL:
                    await self._post(call_id, settings, document)
                else:
                    error = await run_command(settings.target.argv, document,
                                              timeout_ms=settings.timeout_ms,
                                              env=_command_env(call_id))
                    self._outcome(call_id, kind, 1, scrub(error, settings.secret)
                                  if error else None)
            except Exception as exc:  # a bug must not end the daemon
                log.exception("the hook of call %s failed", call_id)
                self._finish(call_id, kind, HOOK_FAILED, self._attempts[call_id],
                             f"internal error ({type(exc).__name__})")
            finally:  # still running: cancelled (trio may wrap Cancelled in a group)
                if call_id in self._attempts:
                    self._finish(call_id, kind, HOOK_FAILED, self._attempts[call_id], STOPPED)

    async def _post(self, call_id: str, settings: HookSettings, document: bytes) -> None:
        """POST with retries: after a retryable failure, a ``retrying`` event, the backoff,
        the next attempt; the last failure is reported ``failed``."""
        last = settings.retries + 1
        for attempt in range(1, last + 1):
            if attempt > 1:
                self._attempts[call_id] = attempt
                self._record_attempt(call_id, attempt)
            result = await post_once(settings.target.url, document,
                                     secret=settings.secret or "", delivery_id=call_id,
                                     now_s=self._clock_ms() // 1000,
                                     timeout_ms=settings.timeout_ms)
            error = scrub(result.error, settings.secret) if result.error else None
            if error is None or not result.retryable or attempt == last:
                self._outcome(call_id, KIND_URL, attempt, error)
                return
            self._publish(call_id, {"status": "retrying", "kind": KIND_URL,
                                    "attempt": attempt, "error": error})
            await trio.sleep(backoff_s(attempt, result.retry_after))

    def _document(self, call_id: str) -> bytes | None:
        stored = self.store.get_call(call_id)
        if stored is None:
            return None
        result = StatusResult(found=True, call=CallView.from_json(stored)).to_json()
        return json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()

    def _outcome(self, call_id: str, kind: str, attempt: int, error: str | None) -> None:
        self._finish(call_id, kind, HOOK_OK if error is None else HOOK_FAILED, attempt, error)

    def _finish(self, call_id: str, kind: str, status: str, attempt: int,
                error: str | None) -> None:
        """Record the end of a hook and publish it, in one transaction; a store that cannot
        record it is logged (the row stays ``started``: never run again)."""
        self._attempts.pop(call_id, None)
        data: dict[str, Any] = {"status": "ok" if status == HOOK_OK else "failed",
                                "kind": kind, "attempt": attempt}
        if error is not None:
            data["error"] = error
        try:
            with self.store.batch():
                self.store.hook_finish(call_id, status, error)
                self.bus.publish(call_id, ev.CALL_HOOK, data)
        except StoreError as exc:
            log.error("the hook outcome of call %s was not recorded: %s", call_id, exc)
        if error is not None:
            log.warning("hook of call %s: %s (attempt %d)", call_id, error, attempt)

    def _publish(self, call_id: str, data: dict[str, Any]) -> None:
        try:
            self.bus.publish(call_id, ev.CALL_HOOK, data)
        except StoreError as exc:
            log.error("call.hook event of call %s not recorded: %s", call_id, exc)

    def _record_attempt(self, call_id: str, attempt: int) -> None:
        try:
            self.store.hook_attempt(call_id, attempt)
        except StoreError as exc:
            log.error("hook attempt of call %s not recorded: %s", call_id, exc)

    def _drop(self, call_id: str) -> None:
        """A pending hook with nothing configured to run (hooks were switched off)."""
        try:
            self.store.hook_finish(call_id, HOOK_FAILED, UNCONFIGURED)
        except StoreError as exc:
            log.error("the hook of call %s was not dropped: %s", call_id, exc)
        log.info("call %s: %s; its hook is dropped", call_id, UNCONFIGURED)


def _command_env(call_id: str) -> dict[str, str]:
    """The daemon's environment plus ``VOICECALL_CALL_ID`` and ``VOICECALL_HOOK``."""
    return {**os.environ, "VOICECALL_CALL_ID": call_id, "VOICECALL_HOOK": "onCallEnded"}
