"""The event bus over a real store: snapshot + backlog + live with no gap or duplicate, filters,
slow subscribers dropped without slowing anyone, and resuming from a cursor."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from voicecall_cli.daemon.bus import EventBus, Lagged
from voicecall_cli.daemon.store import Store

ACTIVE_CALLS = [{"callId": "c1", "state": "active"}, {"callId": "c2", "state": "ringing"}]


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path) as store:
        yield store


def make_bus(store: Store, **kwargs) -> EventBus:
    ticks = itertools.count(1_000)
    return EventBus(store, lambda: [dict(c) for c in ACTIVE_CALLS],
                    clock_ms=lambda: next(ticks), **kwargs)


async def test_snapshot_backlog_and_live_events_line_up(store):
    bus = make_bus(store)
    first = bus.publish("c1", "call.state", {"state": "active", "previous": "answered"})
    second = bus.publish("c2", "call.state", {"state": "ringing", "previous": "initiated"})
    with trio.fail_after(5), bus.subscribe(since=first["cursor"], call_id=None) as sub:
        assert sub.snapshot == {"type": "snapshot", "cursor": second["cursor"],
                                "calls": ACTIVE_CALLS}
        assert sub.backlog == [second]
        assert sub.cursor == second["cursor"]
        third = bus.publish("c1", "call.ended", {"reason": "completed"})
        assert await sub.receive() == third
        assert third == {"cursor": second["cursor"] + 1, "ts": 1_002, "callId": "c1",
                         "type": "call.ended", "data": {"reason": "completed"}}
        assert sub.cursor == third["cursor"]
    assert store.events_after(0) == [first, second, third]


async def test_subscribing_while_events_flow_misses_and_repeats_nothing(store):
    bus = make_bus(store)
    total = 300

    async def publisher() -> None:
        for i in range(total):
            bus.publish("c1", "call.turn", {"turn": i})
            await trio.sleep(0)

    subs = {}
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(publisher)
            for name, since in [("all", "all"), ("resumed", 40), ("live", None)]:
                for _ in range(57):
                    await trio.sleep(0)
                subs[name] = bus.subscribe(since=since, call_id=None)
                assert 40 < subs[name].snapshot["cursor"] < total  # taken mid-flow
        seen = {}
        for name, sub in subs.items():
            with sub:
                cursors = [e["cursor"] for e in sub.backlog]
                while sub.cursor < total:
                    cursors.append((await sub.receive())["cursor"])
            seen[name] = cursors
    assert seen["all"] == list(range(1, total + 1))
    assert seen["resumed"] == list(range(41, total + 1))
    assert seen["live"] == list(range(subs["live"].snapshot["cursor"] + 1, total + 1))


async def test_call_id_filter_applies_to_snapshot_backlog_and_live(store):
    bus = make_bus(store)
    bus.publish("c1", "call.created", {"direction": "outbound"})
    mine = bus.publish("c2", "call.created", {"direction": "inbound"})
    bus.publish(None, "daemon.started", {"pid": 1})
    with trio.fail_after(5), bus.subscribe(since="all", call_id="c2") as sub:
        assert sub.snapshot["calls"] == [{"callId": "c2", "state": "ringing"}]
        assert sub.snapshot["cursor"] == 3
        assert sub.backlog == [mine]
        bus.publish("c1", "call.ended", {"reason": "completed"})
        ended = bus.publish("c2", "call.ended", {"reason": "hangup-user"})
        assert await sub.receive() == ended


async def test_a_slow_subscriber_is_dropped_and_resumes_without_loss(store):
    bus = make_bus(store, buffer_size=4)
    fast_got: list[int] = []
    slow = bus.subscribe(since=None, call_id=None)
    fast = bus.subscribe(since=None, call_id=None)

    async def fast_reader() -> None:
        while len(fast_got) < 20:
            fast_got.append((await fast.receive())["cursor"])

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fast_reader)
            await trio.testing.wait_all_tasks_blocked()
            for i in range(20):
                bus.publish("c1", "call.turn", {"turn": i})  # never waits for anyone
                await trio.testing.wait_all_tasks_blocked()
        assert fast_got == list(range(1, 21))

        drained = [(await slow.receive())["cursor"] for _ in range(4)]
        assert drained == [1, 2, 3, 4]
        with pytest.raises(Lagged) as lagged:
            await slow.receive()
        assert lagged.value.cursor == 4
        slow.close()
        slow.close()

        bus.publish("c1", "call.turn", {"turn": 20})  # a dropped subscriber is not an error
        with bus.subscribe(since=lagged.value.cursor, call_id=None) as resumed:
            assert [e["cursor"] for e in resumed.backlog] == list(range(5, 22))
    fast.close()


async def test_lagged_reports_the_last_event_received_or_the_snapshot_cursor(store):
    bus = make_bus(store, buffer_size=1)
    bus.publish(None, "daemon.started", {})
    with trio.fail_after(5), bus.subscribe(since=None, call_id=None) as sub:
        for i in range(3):
            bus.publish("c1", "call.turn", {"turn": i})
        assert (await sub.receive())["cursor"] == 2
        with pytest.raises(Lagged) as lagged:
            await sub.receive()
        assert lagged.value.cursor == 2

    unbuffered = make_bus(store, buffer_size=0)
    with trio.fail_after(5), unbuffered.subscribe(since=None, call_id=None) as idle:
        unbuffered.publish("c1", "call.turn", {"turn": 3})
        with pytest.raises(Lagged) as lagged:
            await idle.receive()
        assert lagged.value.cursor == idle.snapshot["cursor"] == 4


async def test_a_huge_backlog_is_paged_through_lagged(store):
    bus = make_bus(store, backlog_limit=5)
    for i in range(12):
        bus.publish("c1", "call.turn", {"turn": i})
    resumed: list[int] = []
    since: int | str = "all"
    with trio.fail_after(5):
        while True:
            with bus.subscribe(since=since, call_id=None) as sub:
                resumed += [e["cursor"] for e in sub.backlog]
                if len(sub.backlog) < 5:
                    break
                with pytest.raises(Lagged) as lagged:
                    await sub.receive()
                since = lagged.value.cursor
    assert resumed == list(range(1, 13))


async def test_since_beyond_the_last_cursor_is_live_only(store):
    bus = make_bus(store)
    bus.publish(None, "daemon.started", {})
    with trio.fail_after(5), bus.subscribe(since=99, call_id=None) as sub:
        assert sub.backlog == []
        assert sub.snapshot["cursor"] == 1
        live = bus.publish(None, "daemon.stopping", {})
        assert await sub.receive() == live
    with pytest.raises(ValueError, match="since must be a cursor"):
        bus.subscribe(since="yesterday", call_id=None)


async def test_a_cancelled_receive_loses_no_event(store):
    bus = make_bus(store)
    with trio.fail_after(5), bus.subscribe(since=None, call_id=None) as sub:
        with trio.move_on_after(0.01):
            await sub.receive()
        event = bus.publish(None, "daemon.started", {})
        assert await sub.receive() == event


async def test_close_ends_every_subscription_after_what_it_buffered(store):
    bus = make_bus(store)
    with trio.fail_after(5):
        sub = bus.subscribe(since=None, call_id=None)
        buffered = bus.publish(None, "daemon.stopping", {})
        bus.close()
        assert await sub.receive() == buffered
        with pytest.raises(trio.EndOfChannel):
            await sub.receive()
        sub.close()
        with pytest.raises(trio.ClosedResourceError):
            await sub.receive()

        late = bus.publish("c1", "call.ended", {"reason": "completed"})  # still stored
        assert store.events_after(buffered["cursor"]) == [late]
        with bus.subscribe(since=buffered["cursor"], call_id=None) as after_close:
            assert after_close.backlog == [late]
            with pytest.raises(trio.EndOfChannel):
                await after_close.receive()


async def test_subscribers_get_a_batched_event_only_after_its_commit(store):
    bus = make_bus(store)
    with bus.subscribe(None) as sub:
        with store.batch():
            event = bus.publish("c1", "call.state", {"state": "ringing"})
            with trio.move_on_after(0.01):
                await sub.receive()
                raise AssertionError("delivered before the commit")
        assert await sub.receive() == event
