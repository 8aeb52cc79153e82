"""The hold queue's own decisions (issue #14 item 19), on a real manager, store and stream
registry, with the carrier's side of the plug-in interface recorded at the provider edge: who
is connected when a slot frees, a failed connection retried with the caller still first, and
a caller the carrier reports gone ended and skipped. Time is trio's MockClock.

The carriers' own hold queues run end to end in ``tests/e2e/test_*_hold_queue.py``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import trio
import trio.testing

from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.daemon.bus import EventBus
from voicecall_cli.daemon.calls.holdqueue import RECHECK_S
from voicecall_cli.daemon.calls.service import new_call_manager, run_calls
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.calls.speech import SpeechRouter
from voicecall_cli.daemon.clock import WallClock
from voicecall_cli.daemon.endpoints import DaemonEndpoints
from voicecall_cli.daemon.media.registry import Stream, StreamRegistry
from voicecall_cli.daemon.store import Store
from voicecall_cli.providers.base import Capabilities, Provider, ProviderError
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec

from .manager_harness import RecordingCarrier


@dataclass
class HoldingCarrier(RecordingCarrier):
    """Holds callers in line; ``outcomes[pid]`` says what each connection attempt meets:
    ``fail`` (an API error: the caller stays first), ``gone`` (they hung up), ``ok``."""

    held: list[str] = field(default_factory=list)
    outcomes: dict[str, list[str]] = field(default_factory=dict)

    def held_calls(self) -> list[str]:
        return list(self.held)

    async def connect_held(self, call_id: str, provider_call_id: str) -> bool:
        self.log.append(("connect", provider_call_id))
        outcome = self.outcomes[provider_call_id].pop(0)
        if outcome == "fail":
            raise ProviderError("Twilio API error: 503 try later")
        self.held.remove(provider_call_id)
        return outcome == "ok"


def inbound(manager, pid: str) -> str:
    for kind in (EventType.INITIATED, EventType.ANSWERED):
        manager.handle_events([NormalizedEvent(
            type=kind, id=str(uuid.uuid4()), call_id=pid, timestamp=manager.now_ms(),
            provider_call_id=pid, direction="inbound", from_number="+15550002222",
            to_number="+15550001111")])
    call = manager.find(pid)
    assert call is not None
    return call.call_id


def stream(registry: StreamRegistry, pid: str) -> Stream:
    started = Stream(pid, f"MZ-{pid}", playback=None, inbound=True)  # type: ignore[arg-type]
    registry.add(started)
    return started


def holding_manager(tmp_path: Path, carrier: HoldingCarrier, registry: StreamRegistry):
    """A call manager on a real store and bus, inbound calls open, its speech routed to
    ``registry``'s streams and its calls held and connected through ``carrier``."""
    store = Store.open(tmp_path / "state")
    wall = WallClock()
    holder: list = []
    bus = EventBus(store, lambda: holder[0].snapshot(), clock_ms=wall.now_ms)
    provider = Provider("mock", carrier, MockWebhookCodec(), Capabilities())
    manager = new_call_manager(
        CallSettings(inbound_policy="open"), store, bus, provider, wall,
        endpoints=DaemonEndpoints(),
        speech=SpeechRouter(carrier, Capabilities(), streams=registry))
    holder.append(manager)
    return manager


async def test_the_first_in_line_is_retried_then_connected_and_a_gone_caller_is_ended(
        tmp_path: Path, env_nursery: trio.Nursery, clock: trio.testing.MockClock) -> None:
    clock.autojump_threshold = math.inf  # time moves only when the test moves it

    async def settle(seconds: float = 0.0) -> None:
        """Let ``seconds`` pass, then let every task run until all wait again."""
        clock.jump(seconds)
        await trio.testing.wait_all_tasks_blocked()

    registry = StreamRegistry(max_inbound_streams=1)
    carrier = HoldingCarrier(held=["p2", "p3"], outcomes={"p2": ["fail", "ok"],
                                                          "p3": ["gone"]})
    manager = holding_manager(tmp_path, carrier, registry)
    first = stream(registry, "p1")  # the one inbound slot is taken from the start
    await env_nursery.start(run_calls, manager)
    ids = {pid: inbound(manager, pid) for pid in ("p1", "p2", "p3")}

    def connects() -> list[str]:
        return [pid for _, pid in carrier.of("connect")]

    await settle(RECHECK_S * 3)
    assert connects() == []  # the slot is taken: nobody is connected

    registry.remove(first)
    manager.on_streams_changed()  # the media side reports the stream gone
    await settle()  # no time passes
    assert connects() == ["p2"] and carrier.held == ["p2", "p3"]  # failed: still first
    await settle(RECHECK_S)
    assert connects() == ["p2", "p2"] and carrier.held == ["p3"]  # retried, connected
    await settle(RECHECK_S * 3)
    assert connects() == ["p2", "p2"]  # the slot is p2's until their stream starts
    second = stream(registry, "p2")
    manager.on_streams_changed()
    await settle(RECHECK_S * 3)
    assert connects() == ["p2", "p2"]  # p2 streams: no slot for p3

    registry.remove(second)
    manager.on_streams_changed()
    await settle()
    assert manager.find(ids["p3"]) is None  # ended at once, not at the next recheck
    assert connects() == ["p2", "p2", "p3"] and carrier.held == []
    ended = manager.store.find_call_by_provider_id("p3")
    assert ended is not None and ended["state"] == "hangup-user"
