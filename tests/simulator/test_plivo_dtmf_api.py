"""The fake Plivo's DTMF API (``POST Call/<uuid>/DTMF/``) at the wire level: the keys an app
sends are recorded as written (``w``/``W`` are Plivo's pauses); what Plivo refuses is refused."""

from __future__ import annotations

import trio

from tests.simulator.plivo_fakes import KEEP_ALIVE, dial, fake_plivo
from voicecall_cli.simulator.plivo.simulator import CalleeScript


async def test_keys_sent_to_a_live_call_are_recorded_and_bad_ones_refused() -> None:
    with trio.fail_after(10):
        async with fake_plivo({"/answer": KEEP_ALIVE}) as (sim, app, api):
            request_uuid = await dial(api, app)
            call = await sim.wait_for_status(request_uuid, "in-progress")
            sent = await api.post(f"/Call/{call.call_uuid}/DTMF/", json={"digits": "ww1W#"})
            bad = await api.post(f"/Call/{call.call_uuid}/DTMF/", json={"digits": "12x"})
            missing = await api.post(f"/Call/{call.call_uuid}/DTMF/", json={})
            unknown = await api.post("/Call/no-such-call/DTMF/", json={"digits": "1"})
            got = await api.get(f"/Call/{call.call_uuid}/DTMF/")
    assert sent.status_code == 202 and sent.json()["message"] == "digits sent"
    assert call.dtmf_sent == ["ww1W#"]
    assert bad.status_code == 400 and "0-9, *, #, w and W" in bad.json()["error"]
    assert missing.status_code == 400 and unknown.status_code == 404
    assert got.status_code == 405


async def test_keys_for_a_call_not_answered_yet_are_refused() -> None:
    with trio.fail_after(10):
        async with fake_plivo(callee=CalleeScript(answer_delay_s=5)) as (sim, app, api):
            request_uuid = await dial(api, app)
            call = await sim.wait_for_status(request_uuid, "ringing")
            early = await api.post(f"/Call/{call.call_uuid}/DTMF/", json={"digits": "1"})
    assert early.status_code == 400 and early.json()["error"] == "call is not answered"
    assert call.dtmf_sent == []
