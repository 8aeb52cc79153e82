"""Opt-in call recording (``recording.enabled``, ``voicecall call --record``).

A call is recorded when it was placed with ``record`` (``metadata["record"]``) or when
``recording.enabled`` is set (every call, inbound ones included). Nothing is recorded
otherwise: recording is never on by default.

* :func:`on_answered` (wired beside the greeting by :mod:`.service`): when a recorded call is
  answered, the carrier is asked to record it (:meth:`ProviderClient.start_recording`) in a
  task of the manager's nursery, so the webhook that reported the answer is never held up.
  A refusal (or a carrier that cannot record) is a ``call.error`` event on the call; the call
  goes on. The task dies with the manager (daemon shutdown) like every per-call task.
* :func:`on_recording` (the manager hands it every ``call.recording`` event before its usual
  processing): the carrier's report of the saved recording, which usually comes after the
  hang-up, when the call has left memory. The recording (``{"url", "durationSec"}``) is put
  on the call, live or ended (then in its stored record), and published as a
  ``call.recording`` event. A replayed report changes nothing (its dedupe key is
  remembered); a report for a call the daemon never knew is dropped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.events import NormalizedEvent
from voicecall_cli.protocol import events as ev

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls.manager import CallManager

log = logging.getLogger("voicecall.calls")

RECORD_KEY = "record"  # metadata: this call is to be recorded (initiate's ``record``)
STARTED_KEY = "recordingRequestedAt"  # metadata: when the carrier was asked to record (ms)
FAILED_KEY = "recordingFailed"  # metadata: the carrier refused (no recording will come)


def wants_recording(manager: CallManager, call: CallRecord) -> bool:
    """Whether ``call`` is recorded: asked for at initiate, or ``recording.enabled``."""
    return bool(call.metadata.get(RECORD_KEY)) or manager.settings.record_all


def on_answered(manager: CallManager, call: CallRecord) -> None:
    """Start the carrier's recording of a recorded call that was just answered (once: a
    carrier may report the answer more than once, Twilio by callback and by fetch)."""
    if (not wants_recording(manager, call) or not call.provider_call_id
            or call.metadata.get(STARTED_KEY)):
        return
    call.metadata[STARTED_KEY] = manager.now_ms()
    if not manager.provider.capabilities.recording:
        call.metadata[FAILED_KEY] = True
        manager.persist(call)
        manager.publish(call, ev.CALL_ERROR, {
            "message": f"recording not started: provider {manager.provider.name} cannot "
                       "record calls"})
        return
    manager.persist(call)
    manager.spawn(_start, manager, call, call.provider_call_id)


async def _start(manager: CallManager, call: CallRecord, provider_call_id: str) -> None:
    try:
        await manager.client.start_recording(call.call_id, provider_call_id)
    except Exception as exc:
        log.warning("recording of call %s could not be started: %s", call.call_id, exc)
        call.metadata[FAILED_KEY] = True
        manager.persist(call)
        manager.publish(call, ev.CALL_ERROR, {"message": f"recording not started: {exc}"})
        return
    log.info("recording of call %s started", call.call_id)


def on_recording(manager: CallManager, event: NormalizedEvent) -> None:
    """Put the reported recording on its call (live, else stored) and publish it."""
    call = manager.find(event.call_id) or (
        manager.find(event.provider_call_id) if event.provider_call_id else None)
    stored: dict[str, Any] | None = None
    if call is None:
        store = manager.store
        stored = store.get_call(event.call_id) or (
            store.find_call_by_provider_id(event.provider_call_id)
            if event.provider_call_id else None)
        if stored is None:
            log.info("recording for an unknown call (%s) dropped", event.call_id)
            return
    if not event.recording_url:
        log.info("recording report without a URL ignored")
        return
    if not manager.store.add_processed_key(event.key, manager.now_ms()):
        log.info("duplicate recording report ignored")
        return
    recording = {"url": event.recording_url, "durationSec": event.recording_duration_s}
    if call is not None:
        call_id = call.call_id
        call.recording = recording
        manager.persist(call)
        manager.publish(call, ev.CALL_RECORDING, dict(recording))
    else:
        assert stored is not None
        call_id = str(stored["callId"])
        stored["recording"] = recording
        manager.store.save_call(stored)
        manager.bus.publish(call_id, ev.CALL_RECORDING, dict(recording))
    if manager.hooks is not None:  # a post-call hook may be waiting for it
        manager.hooks.recording_arrived(call_id)
