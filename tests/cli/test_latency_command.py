"""``voicecall latency`` against a stand-in control server: what it asks the daemon, its JSON
and human output, and that its ``--json`` path stays as light as ``status --json``."""

from __future__ import annotations

import json

from tests.cli.conftest import Env, run_cli
from tests.cli.fake_daemon import FakeDaemon
from tests.cli.test_import_cost import imported_modules, offenders
from voicecall_cli.protocol.latency import latency_result

EVENTS = [
    {"cursor": 4, "ts": 1_796_000_000_000, "callId": "3f2a9c1d-0000-4000-8000-000000000001",
     "type": "call.latency", "data": {"transcriptMs": 0, "firstTokenMs": 410, "replyMs": 655,
                                      "firstTtsByteMs": 870, "audioMs": 912}},
    {"cursor": 9, "ts": 1_796_000_001_000, "callId": "3f2a9c1d-0000-4000-8000-000000000001",
     "type": "call.turn", "data": {"turn": 1, "latencyMs": 5321, "listenWaitMs": 2877}},
]
ANSWER = latency_result(EVENTS)


def test_latency_json_asks_for_the_default_window_and_imports_nothing_heavy(
        env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.latency", ANSWER)
    proc, modules = imported_modules(env, "latency", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == ANSWER
    assert fake.bodies("/v1/voicecall.latency") == [{"last": 200}]
    assert offenders(modules) == []


async def test_call_id_and_last_are_sent_and_bad_values_refused(fake: FakeDaemon,
                                                                env: Env) -> None:
    fake.answer("voicecall.latency", ANSWER)
    result = await run_cli("latency", "3f2a9c1d", "--last", "5", "--json", socket=env.socket)
    assert result.exit_code == 0, result.output
    assert fake.bodies("/v1/voicecall.latency") == [{"callId": "3f2a9c1d", "last": 5}]
    for bad in ("0", "1001", "ten"):
        refused = await run_cli("latency", "--last", bad, socket=env.socket)
        assert refused.exit_code == 2, refused.output
    assert len(fake.bodies("/v1/voicecall.latency")) == 1


async def test_human_output_shows_each_turn_and_the_stage_figures(fake: FakeDaemon,
                                                                  env: Env) -> None:
    fake.answer("voicecall.latency", ANSWER)
    one = await run_cli("latency", "--call-id", "3f2a9c1d", socket=env.socket)
    assert one.exit_code == 0, one.output
    [row] = [line.split() for line in one.stdout.splitlines() if "3f2a9c1d-0000" in line]
    # no end of speech reported, no realtime voice turn: those steps have no column
    assert row[2:] == ["0", "410", "655", "870", "912"]
    assert "end of speech" not in one.stdout and "model audio" not in one.stdout
    assert "1 auto-reply turn over 1 call" in one.stdout
    [audio] = [line.split() for line in one.stdout.splitlines() if line.startswith("first audio")]
    assert audio[2:] == ["1", "912", "ms", "912", "ms", "912", "ms", "912", "ms", "912", "ms"]
    assert "1 continue turn" in one.stdout
    [waited] = [line for line in one.stdout.splitlines() if "waiting for the caller" in line]
    assert "2877 ms" in waited


async def test_no_measured_turn_is_a_message_not_an_error(fake: FakeDaemon, env: Env) -> None:
    fake.answer("voicecall.latency", latency_result([]))
    result = await run_cli("latency", socket=env.socket)
    assert result.exit_code == 0
    assert result.stdout.startswith("no measured turns yet")
