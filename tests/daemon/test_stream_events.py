"""The ``call.stream`` events the media-stream hooks store: every started stream gets its stop,
even when the carrier's hang-up webhook ended the call before the stream's socket closed."""

from __future__ import annotations

import trio

from voicecall_cli.core.events import EventType
from voicecall_cli.daemon.calls import operations
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.media.streaming import StreamHooks
from voicecall_cli.protocol import InitiateRequest

from .manager_harness import open_env_factory

SETTINGS = CallSettings(default_mode="conversation", to_number="+15550001111")


async def test_a_stream_that_stops_after_its_call_ended_still_records_its_stop(
        tmp_path, env_nursery) -> None:
    env = await open_env_factory(tmp_path)(SETTINGS, nursery=env_nursery)
    call_id = (await operations.initiate(env.manager, InitiateRequest(message="Hi")))["callId"]
    env.event(EventType.ANSWERED, call_id)
    hooks = StreamHooks()
    hooks.bind(env.manager, None)
    pid = env.manager.calls[call_id].provider_call_id
    hooks.on_start(pid, "MZ1")
    env.event(EventType.ENDED, call_id, reason="hangup-user")
    await trio.sleep(0.01)
    assert env.manager.find(pid) is None  # ended and forgotten
    hooks.on_stop(pid, "MZ1")
    streams = [e["data"] for e in env.store.events_after(0, call_id)
               if e["type"] == "call.stream"]
    assert streams == [{"event": "started", "streamSid": "MZ1"},
                       {"event": "stopped", "streamSid": "MZ1"}]
