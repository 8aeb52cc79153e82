"""No configured secret in any output (issue #14, item 13), on every carrier.

A real daemon per carrier (its simulator for Twilio, Telnyx and Plivo) runs with the carrier's
credentials plus distinctive secrets in every other secret field that needs no network (the
ngrok token with the tunnel off). A call is placed, spoken to, listened to and ended, failures
are provoked, and then every output is searched for every configured secret, in every form a
secret travels in (as is, URL-encoded, inside HTTP Basic credentials): ``daemon.log``, the
stdout and stderr of every CLI command (plain and ``--json``: status, calls, tail, doctor,
daemon status and logs, config show, errors). Expected hits: 0.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any
from urllib.parse import quote

import pytest
import trio

from tests.conformance.carriers import HARNESSES, CarrierHarness
from tests.conformance.session import Session, open_session

pytestmark = pytest.mark.reliability

NGROK_TOKEN = "ngrok-tok-SECRETgrep0123456789"


def secrets_of(config: dict[str, Any]) -> list[str]:
    """Every configured value of a secret field (the fields ``config show`` redacts)."""
    from voicecall_cli.core.config import SECRET_PATHS

    found = []
    for path in SECRET_PATHS:
        node: Any = config
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str) and node:
            found.append(node)
    return found


def forms(secrets: list[str]) -> set[str]:
    out = set(secrets) | {quote(s, safe="") for s in secrets}
    for line in (ln for s in secrets for ln in s.splitlines() if len(ln) >= 8):
        out.add(line)
    for user, password in itertools.permutations(secrets, 2):
        out.add(base64.b64encode(f"{user}:{password}".encode()).decode())
    return out


async def run_everything(s: Session) -> list[tuple[str, str]]:
    """Drive a call through every command; every output as (label, text)."""
    outputs: list[tuple[str, str]] = []

    async def cli(*args: str) -> Any:
        proc = await s.cli(*args)
        outputs.append((" ".join(args), proc.stdout + proc.stderr))
        return proc

    placed = await cli("call", "--message", "Hello from the grep test.", "--json")
    call_id = json.loads(placed.stdout)["callId"]
    await s.answered(call_id)
    await cli("continue", "--call-id", call_id, "--message", "Does ten work?")
    await cli("speak", "--call-id", call_id, "--message", "Thanks.", "--json")
    for as_json in ((), ("--json",)):
        await cli("status", *as_json)
        await cli("status", "--call-id", call_id, *as_json)
        await cli("calls", *as_json)
        await cli("tail", "--since", "all", "--no-follow", *as_json)
        await cli("daemon", "status", *as_json)
        await cli("doctor", *as_json)
    await cli("end", "--call-id", call_id)
    await s.wait_call(call_id, lambda c: c["endedAt"], "the end")
    # Failures: their messages too.
    await cli("speak", "--call-id", call_id, "--message", "Too late.")
    await cli("status", "--call-id", "no-such-call", "--json")
    await cli("end", "--call-id", "no-such-call")
    await cli("call", "--to", "not-a-number", "--json")
    await cli("call", "--to", "+15550001111", "--from", "+1555", "--message", "x")
    await cli("tail", "--since", "all", "--no-follow", "--json")
    await cli("calls", "--json")
    config = str(s.daemon.config)
    for args in (("config", "show"), ("config", "show", "--json"), ("config", "validate")):
        proc = await trio.to_thread.run_sync(lambda a=args: s.daemon.cli("--config", config,
                                                                           *a))
        outputs.append((" ".join(args), proc.stdout + proc.stderr))
    return outputs


@pytest.mark.parametrize("harness", HARNESSES, ids=[h.name for h in HARNESSES])
async def test_no_configured_secret_reaches_any_output(harness: type[CarrierHarness]) -> None:
    carrier = harness()
    base_config = carrier.config
    carrier.config = lambda plan: {**base_config(plan),  # type: ignore[method-assign]
                                   "tunnel": {"provider": "none", "ngrokAuthToken": NGROK_TOKEN}}
    with trio.fail_after(90):
        async with open_session(carrier) as s:
            configured = json.loads(s.daemon.config.read_text())
            secrets = secrets_of(configured)
            assert NGROK_TOKEN in secrets and len(secrets) >= 1 + (harness.name != "mock")
            outputs = await run_everything(s)
            await s.cli("daemon", "logs")
            logs = await s.cli("daemon", "logs")
            outputs.append(("daemon logs", logs.stdout + logs.stderr))
            await trio.to_thread.run_sync(s.daemon.stop)
            outputs.append(("daemon.log", s.daemon.log.read_text(errors="replace")))
    # The outputs are real: the call's own words and ids are in them.
    assert any("Does ten work?" in text for _, text in outputs)
    hits = [(label, form[:6] + "...") for label, text in outputs for form in forms(secrets)
            if form in text]
    assert hits == [], hits
