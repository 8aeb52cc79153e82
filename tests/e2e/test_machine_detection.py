"""Answering-machine detection end to end (``outbound.machineDetection``): a real daemon process
against each carrier's simulator (Twilio, Telnyx, Plivo: their own dial parameters, signed
result webhooks and, for Plivo, the ``<Wait beep>``) and the mock carrier, driven by the CLI.

Per carrier, one daemon in ``voicemail`` mode (a notify call to a machine is left after the
beep, never over the greeting; a conversation call to a machine ends ``voicemail``; a human
hears the notify message) and one in ``detect`` mode (a machine is recorded, the message is
not held; a human's conversation call goes on as before). The simulators' callees: one number
answered by a machine with a short greeting, another by a person.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from voicecall_cli.simulator.plivo.simulator import CalleeScript as PlivoCallee
from voicecall_cli.simulator.plivo.simulator import run_plivo_simulator
from voicecall_cli.simulator.telnyx.simulator import CalleeScript as TelnyxCallee
from voicecall_cli.simulator.telnyx.simulator import run_telnyx_simulator
from voicecall_cli.simulator.twilio.simulator import CalleeScript as TwilioCallee
from voicecall_cli.simulator.twilio.simulator import run_twilio_simulator

from .conftest import Daemon, carrier_daemon, cli_json

MACHINE = "+15550002222"
HUMAN = "+15550001111"
MESSAGE = "Your prescription is ready for pickup."
GREETING_S = 0.6

COMMON = """\
fromNumber = "+15550009999"
toNumber = "+15550001111"
maxConcurrentCalls = 3
store = "{store}"
[serve]
bind = "127.0.0.1"
port = 0
[outbound]
defaultMode = "notify"
notifyHangupDelaySec = 0
machineDetection = "{amd}"
"""
TWILIO = """provider = "twilio"
[twilio]
accountSid = "AC{zeros}"
authToken = "amd-e2e-auth-token-0123456789"
apiBaseUrl = "{api}"
"""
TELNYX = """provider = "telnyx"
[telnyx]
apiKey = "KEYamd0123456789"
connectionId = "1494404757140276705"
publicKey = "{public}"
apiBaseUrl = "{api}"
"""
PLIVO = """provider = "plivo"
[plivo]
authId = "MAAMD000000000000000"
authToken = "amd-e2e-plivo-token-0123456789"
apiBaseUrl = "{api}"
"""
MOCK = """provider = "mock"
[mock]
ringDelayMs = 30
answerDelayMs = 30
answeredBy = "{answered_by}"
greetingMs = {greeting_ms}
"""


@dataclass
class Carrier:
    """One carrier's daemon and what its simulator saw (None for the mock carrier)."""

    daemon: Daemon
    sim_call: Callable[[str], Any]  # providerCallId -> the simulator's call record

    async def call(self, to: str, mode: str, message: str = MESSAGE) -> str:
        placed = await cli_json(self.daemon, "call", "--to", to, "--mode", mode,
                                "--message", message)
        return placed["callId"]

    async def status(self, call_id: str) -> dict:
        return (await cli_json(self.daemon, "status", "--call-id", call_id))["call"]

    async def wait(self, call_id: str, predicate: Callable[[dict], Any]) -> dict:
        with trio.fail_after(20):
            while True:
                call = await self.status(call_id)
                if predicate(call):
                    return call
                await trio.sleep(0.05)

    async def events(self, call_id: str) -> list[dict]:
        out = await trio.to_thread.run_sync(lambda: self.daemon.cli(
            "tail", "--since", "all", "--call-id", call_id, "--no-follow", "--json",
            check=True))
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def _config(amd: str, carrier_part: str) -> Callable[[Path], str]:
    provider, _, tables = carrier_part.partition("\n")  # its provider line, then its tables
    return lambda store: provider + "\n" + COMMON.format(store=store, amd=amd) + tables


@asynccontextmanager
async def twilio(amd: str) -> AsyncIterator[Carrier]:
    callee = TwilioCallee(replies=["Sure."], greeting_s=GREETING_S)
    async with run_twilio_simulator(account_sid="AC" + "0" * 32,
                                    auth_token="amd-e2e-auth-token-0123456789",
                                    callee=callee) as sim:
        sim.callees[MACHINE] = TwilioCallee(answered_by="machine", greeting_s=GREETING_S)
        part = TWILIO.format(zeros="0" * 32, api=sim.base_url)
        async with carrier_daemon(_config(amd, part), "vcamd") as daemon:
            yield Carrier(daemon, lambda pid: sim.calls[pid])


@asynccontextmanager
async def telnyx(amd: str) -> AsyncIterator[Carrier]:
    callee = TelnyxCallee(replies=["Sure."], greeting_s=GREETING_S)
    async with run_telnyx_simulator(api_key="KEYamd0123456789",
                                    connection_id="1494404757140276705", callee=callee) as sim:
        sim.callees[MACHINE] = TelnyxCallee(answered_by="machine", greeting_s=GREETING_S)
        part = TELNYX.format(public=sim.public_key, api=sim.base_url)
        async with carrier_daemon(_config(amd, part), "vcamd") as daemon:
            yield Carrier(daemon, lambda pid: sim.calls[pid])


@asynccontextmanager
async def plivo(amd: str) -> AsyncIterator[Carrier]:
    callee = PlivoCallee(replies=["Sure."], greeting_s=GREETING_S)
    async with run_plivo_simulator(auth_id="MAAMD000000000000000",
                                   auth_token="amd-e2e-plivo-token-0123456789",
                                   callee=callee) as sim:
        machine = PlivoCallee(answered_by="machine", greeting_s=GREETING_S)
        sim.callees[MACHINE] = sim.callees[MACHINE.lstrip("+")] = machine
        part = PLIVO.format(api=sim.base_url)
        async with carrier_daemon(_config(amd, part), "vcamd") as daemon:
            yield Carrier(daemon, sim.find_call)


@asynccontextmanager
async def mock(amd: str, answered_by: str = "machine") -> AsyncIterator[Carrier]:
    part = MOCK.format(answered_by=answered_by, greeting_ms=int(GREETING_S * 1000))
    async with carrier_daemon(_config(amd, part), "vcamd") as daemon:
        yield Carrier(daemon, lambda pid: None)


CARRIERS = {"twilio": twilio, "telnyx": telnyx, "plivo": plivo}


def dial_asked(carrier: str, sim_call: Any) -> str | None:
    """What the dial asked of the carrier's answering-machine detection."""
    if carrier == "twilio":
        return sim_call.machine_detection
    if carrier == "telnyx":
        return sim_call.answering_machine_detection
    return sim_call.machine_detection


EXPECTED_DIAL = {"twilio": {"voicemail": "DetectMessageEnd", "detect": "Enable"},
                 "telnyx": {"voicemail": "detect_beep", "detect": "detect"},
                 "plivo": {"voicemail": "true", "detect": "true"}}


@pytest.mark.parametrize("name", list(CARRIERS))
async def test_voicemail_mode_through_the_carrier(name: str) -> None:
    with trio.fail_after(90):
        async with CARRIERS[name]("voicemail") as c:
            notify = await c.call(MACHINE, "notify")
            talk = await c.call(MACHINE, "conversation", "Hi, this is the clinic.")
            person = await c.call(HUMAN, "notify", "Hello in person.")

            # A notify call to a machine: the message after the beep, then the hang-up.
            left = await c.wait(notify, lambda call: call["endedAt"])
            assert left["answeredBy"] == "machine"
            assert [t["text"] for t in left["transcript"]] == [MESSAGE]
            sim_notify = c.sim_call(left["providerCallId"])
            assert dial_asked(name, sim_notify) == EXPECTED_DIAL[name]["voicemail"]
            assert MESSAGE in sim_notify.spoken
            assert sim_notify.spoken_over_greeting == []  # never over the greeting
            kinds = [(e["type"], e["data"]) for e in await c.events(notify)
                     if e["type"] in ("call.answered_by", "call.transcript")]
            assert kinds[-1] == ("call.transcript", {"speaker": "bot", "text": MESSAGE,
                                                     "isFinal": True})
            assert ("call.answered_by", {"answeredBy": "machine", "greetingEnded": True}) \
                in kinds

            # A conversation call that reached a machine ends "voicemail".
            ended = await c.wait(talk, lambda call: call["endedAt"])
            assert ended["endReason"] == "voicemail" and ended["answeredBy"] == "machine"
            assert c.sim_call(ended["providerCallId"]).hangups == 1

            # A person hears the notify message as before.
            heard = await c.wait(person, lambda call: call["endedAt"])
            assert heard["answeredBy"] == "human"
            assert [t["text"] for t in heard["transcript"]] == ["Hello in person."]
            assert "Hello in person." in c.sim_call(heard["providerCallId"]).spoken


@pytest.mark.parametrize("name", list(CARRIERS))
async def test_detect_mode_through_the_carrier(name: str) -> None:
    with trio.fail_after(90):
        async with CARRIERS[name]("detect") as c:
            notify = await c.call(MACHINE, "notify")
            person = await c.call(HUMAN, "conversation", "Hi, this is the clinic.")

            recorded = await c.wait(notify, lambda call: call.get("answeredBy"))
            assert recorded["answeredBy"] == "machine"
            sim_notify = c.sim_call(recorded["providerCallId"])
            assert dial_asked(name, sim_notify) == EXPECTED_DIAL[name]["detect"]
            done = await c.wait(notify, lambda call: call["endedAt"])
            assert [t["text"] for t in done["transcript"]] == [MESSAGE]  # not held back
            assert done["endReason"] != "voicemail"
            assert {"answeredBy": "machine"} in [
                e["data"] for e in await c.events(notify) if e["type"] == "call.answered_by"]

            # A person on a conversation call: recorded, and the call goes on as before.
            live = await c.wait(person, lambda call: call.get("answeredBy"))
            assert live["answeredBy"] == "human" and live["endedAt"] is None
            turn = await cli_json(c.daemon, "continue", "--call-id", person,
                                  "--message", "Does ten work?")
            assert turn["transcript"] == "Sure."
            assert await cli_json(c.daemon, "end", "--call-id", person) == {"success": True}


async def test_voicemail_and_detect_with_the_mock_carrier() -> None:
    with trio.fail_after(90):
        async with mock("voicemail") as c:
            notify = await c.call(MACHINE, "notify")
            left = await c.wait(notify, lambda call: call["endedAt"])
            assert left["answeredBy"] == "machine"
            assert [t["text"] for t in left["transcript"]] == [MESSAGE]
            order = [(e["type"], e["data"].get("greetingEnded")) for e in await c.events(notify)
                     if e["type"] in ("call.answered_by", "call.transcript")]
            assert order == [("call.answered_by", None), ("call.answered_by", True),
                             ("call.transcript", None)]
            talk = await c.call(MACHINE, "conversation", "Hi.")
            ended = await c.wait(talk, lambda call: call["endedAt"])
            assert ended["endReason"] == "voicemail"
        async with mock("detect", answered_by="human") as c:
            talk = await c.call(HUMAN, "conversation", "Hi.")
            live = await c.wait(talk, lambda call: call.get("answeredBy"))
            assert live["answeredBy"] == "human" and live["endedAt"] is None
            assert await cli_json(c.daemon, "end", "--call-id", talk) == {"success": True}
