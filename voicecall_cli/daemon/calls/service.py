"""The call manager and what runs on top of it, put together: the greeting (and the opt-in
recording) on answer, the carrier's recording reports, restore of
the calls a previous run left live, the stale-call reaper, and the hold queue of inbound callers
waiting for a stream slot.

:func:`new_call_manager` builds a wired manager; :func:`run_calls` runs it: it starts the
manager's nursery, restores persisted calls (before reporting ready, so no request sees a
half-restored daemon) and starts the reaper. Cancelling it cancels every per-call task.
"""

from __future__ import annotations

from functools import partial

import trio

from voicecall_cli.core.call import CallRecord
from voicecall_cli.daemon.bus import EventBus
from voicecall_cli.daemon.calls import machine, recording
from voicecall_cli.daemon.calls.holdqueue import HoldQueue
from voicecall_cli.daemon.calls.manager import CallManager
from voicecall_cli.daemon.calls.restore import restore_calls
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.calls.speech import SpeechRouter
from voicecall_cli.daemon.calls.timers import reap_stale_calls
from voicecall_cli.daemon.clock import WallClock
from voicecall_cli.daemon.hooks import HookRunner, HookSettings
from voicecall_cli.daemon.store import Store
from voicecall_cli.providers.base import Endpoints, Provider


def new_call_manager(settings: CallSettings, store: Store, bus: EventBus, provider: Provider,
                     clock: WallClock, *, endpoints: Endpoints,
                     speech: SpeechRouter | None = None) -> CallManager:
    """A :class:`CallManager` whose answered calls are greeted (reference 2.6) and whose
    answering-machine detection results are acted on (:mod:`.machine`)."""
    manager = CallManager(settings, store, bus, provider, clock, endpoints=endpoints,
                          speech=speech)
    manager.on_answered = partial(_on_answered, manager)
    manager.on_recording = partial(recording.on_recording, manager)
    manager.on_answered_by = partial(machine.on_answered_by, manager)
    manager.hold_queue = HoldQueue(manager, manager.speech.streams)
    manager.on_streams_changed = manager.hold_queue.wake
    return manager


def _on_answered(manager: CallManager, call: CallRecord) -> None:
    recording.on_answered(manager, call)  # first: the recording starts before the greeting
    machine.on_answered(manager, call)


async def run_calls(manager: CallManager, *, hooks: HookSettings | None = None,
                    task_status: trio.TaskStatus[CallManager] = trio.TASK_STATUS_IGNORED
                    ) -> None:
    """Run ``manager`` (see the module docstring) until cancelled. The post-call hook's
    runner (``manager.hooks``, with ``hooks``, None for none) starts before restore, so a
    call that restore ends gets its hook too."""
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        manager.hooks = HookRunner(hooks, manager.store, manager.bus,
                                   clock_ms=manager.clock.now_ms)
        await nursery.start(manager.hooks.run)
        manager.adopt_restored(await restore_calls(manager))
        if manager.settings.stale_call_reaper_s > 0:
            nursery.start_soon(reap_stale_calls, manager)
        if manager.hold_queue is not None:
            nursery.start_soon(manager.hold_queue.run)
        task_status.started(manager)
