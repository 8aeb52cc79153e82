"""How the fake Telnyx delivers webhooks: one retry of a failed delivery, duplicates on
request, nothing after a call ended on the carrier, and only to loopback or forwarded URLs.
Every delivery is checked by :class:`tests.simulator.telnyx_fakes.TelnyxReceiver`.
"""

from __future__ import annotations

import trio

from tests.simulator.telnyx_fakes import (
    API_KEY,
    CALLEE_NUMBER,
    CONNECTION_ID,
    OUR_NUMBER,
    TelnyxReceived,
    TelnyxReceiver,
    action,
    dial,
    fake_telnyx,
)
from tests.simulator.webhook_receiver import serve_receiver
from voicecall_cli.simulator.telnyx.simulator import run_telnyx_simulator


async def test_a_failed_delivery_is_retried_once_with_the_same_event_id() -> None:
    answered_once: list[bool] = []

    def status(received: TelnyxReceived) -> int:
        if received.event_type == "call.answered" and not answered_once:
            answered_once.append(True)
            return 500
        return 200

    with trio.fail_after(5):
        async with fake_telnyx(status=status) as (sim, receiver, api):
            call_id = await dial(api, receiver)
            call = sim.calls[call_id]
            await sim.wait_for(lambda: call.event_types.count("call.answered") == 2)

    first, retry = [r for r in receiver.received if r.event_type == "call.answered"]
    assert first.data == retry.data
    assert (first.attempt, retry.attempt) == (1, 2)
    assert int(retry.headers["telnyx-timestamp"]) > int(first.headers["telnyx-timestamp"])
    assert retry.headers["telnyx-signature-ed25519"] != first.headers["telnyx-signature-ed25519"]
    assert first.signature_valid and retry.signature_valid
    assert [d.status_code for d in call.webhooks if d.event_type == "call.answered"] == [
        500, 200]


async def test_duplicate_events_arrive_twice_with_the_same_id_and_new_signatures() -> None:
    with trio.fail_after(5):
        async with fake_telnyx() as (sim, receiver, api):
            sim.duplicate_events = {"call.answered"}
            call_id = await dial(api, receiver)
            await sim.wait_for_status(call_id, "answered")
            await action(api, call_id, "hangup")
            await sim.wait_ended(call_id)

    assert receiver.events() == ["call.initiated", "call.answered", "call.answered",
                                 "call.hangup"]
    one, two = receiver.received[1:3]
    assert one.body == two.body and one.signature_valid and two.signature_valid
    assert one.headers["telnyx-timestamp"] != two.headers["telnyx-timestamp"]


async def test_a_call_ended_on_the_carrier_sends_nothing_and_reads_as_not_alive() -> None:
    with trio.fail_after(5):
        async with fake_telnyx() as (sim, receiver, api):
            call_id = await dial(api, receiver)
            await sim.wait_for_status(call_id, "answered")
            alive = (await api.get(f"/calls/{call_id}")).json()["data"]
            sim.end_on_carrier(call_id)
            gone = (await api.get(f"/calls/{call_id}")).json()["data"]
            hangup = await action(api, call_id, "hangup")
            await trio.sleep(0.1)

    assert alive["is_alive"] is True and gone["is_alive"] is False
    assert "call.hangup" not in receiver.events()
    assert hangup.status_code == 422 and sim.calls[call_id].hangups == 0


async def test_webhooks_to_other_hosts_are_refused_and_forwarded_ones_delivered() -> None:
    with trio.fail_after(5):
        async with fake_telnyx() as (sim, receiver, api):
            call_id = await dial(api, receiver, webhook_url="https://example.com/events")
            await sim.wait_for_status(call_id, "answered")
            refused = sim.calls[call_id].webhooks[0]
        async with serve_receiver(TelnyxReceiver()) as receiver:
            forward = {"https://voice.example.com": receiver.base_url}
            async with run_telnyx_simulator(api_key=API_KEY, connection_id=CONNECTION_ID,
                                            forward=forward) as sim:
                receiver.public_key = sim.public_key
                call_id = await sim.place_inbound(from_=CALLEE_NUMBER, to=OUR_NUMBER,
                                                  webhook_url="https://voice.example.com/ev")
                await receiver.wait_for(lambda: bool(receiver.received))

    assert refused.status_code is None and "refused" in (refused.error or "")
    assert receiver.received[0].signature_valid
    assert receiver.received[0].headers["host"] == "voice.example.com"
    assert receiver.received[0].path == "/ev"
