"""The outbound rails on a real ``voicecall daemon run`` process, driven by the real CLI:
refusals exit 9 naming the rail, show in ``tail``, and an idempotent retry survives ``kill -9``.
"""

from __future__ import annotations

import json
import time

from .conftest import Daemon

OUTBOUND = 'defaultMode = "conversation"\n'


def with_outbound(daemon: Daemon, lines: str) -> None:
    """Add ``lines`` to the config's ``[outbound]`` table."""
    text = daemon.config.read_text()
    assert OUTBOUND in text
    daemon.config.write_text(text.replace(OUTBOUND, OUTBOUND + lines))


def refusal(daemon: Daemon, *args: str) -> dict:
    """``voicecall call ARGS --json`` that must exit 9; its error object."""
    proc = daemon.cli("call", "--message", "Hello", *args, "--json")
    assert proc.returncode == 9, (proc.returncode, proc.stdout, proc.stderr)
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "refused"
    assert f"voicecall: {error['message']}" in proc.stderr
    return error


def events(daemon: Daemon) -> list[dict]:
    out = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True).stdout
    return [json.loads(line) for line in out.splitlines()[1:]]


def test_allow_to_and_the_hourly_limit_refuse_with_exit_9(daemon_factory) -> None:
    daemon: Daemon = daemon_factory()
    with_outbound(daemon, 'allowTo = ["+1555"]\nmaxCallsPerHour = 2\n')
    daemon.start()

    error = refusal(daemon, "--to", "+447700900123")
    assert error["rail"] == "outbound.allowTo"
    assert error["message"].startswith("+447700900123 is not in outbound.allowTo")
    placed = [daemon.cli_json("call", "--message", "Hello", "--mode", "notify")["callId"]
              for _ in range(2)]
    assert len(set(placed)) == 2
    error = refusal(daemon, "--to", "+15550002222")
    assert error == {"code": "refused", "rail": "outbound.maxCallsPerHour",
                     "message": "outbound.maxCallsPerHour (2) reached; next call possible in "
                                "60 min"}

    refused = [e for e in events(daemon) if e["type"] == "call.refused"]
    assert [(e["callId"], e["data"]["rail"], e["data"]["to"], e["data"]["origin"])
            for e in refused] == [
        (None, "outbound.allowTo", "+447700900123", "cli"),
        (None, "outbound.maxCallsPerHour", "+15550002222", "cli")]
    human = daemon.cli("tail", "--since", "all", "--no-follow", check=True).stdout
    assert "refused to call +447700900123 (outbound.allowTo)" in human


def test_an_idempotent_retry_survives_kill_9_and_skips_the_rails(daemon_factory) -> None:
    daemon: Daemon = daemon_factory()
    daemon.start()
    first = daemon.cli_json("call", "--message", "Your order shipped", "--mode", "notify",
                            "--idempotency-key", "order-7")
    assert first == {"callId": first["callId"], "initiated": True}
    daemon.kill9()

    # Restart with quiet hours that cover now (UTC): a new call is refused, the retry is not.
    now = time.gmtime()
    minute = now.tm_hour * 60 + now.tm_min
    start, end = (minute - 5) % 1440, (minute + 60) % 1440
    window = f"{start // 60:02d}:{start % 60:02d}", f"{end // 60:02d}:{end % 60:02d}"
    with_outbound(daemon, f'quietHours = {{ start = "{window[0]}", end = "{window[1]}", '
                          'timezone = "UTC" }\n')
    daemon.start()
    retry = daemon.cli_json("call", "--message", "Your order shipped", "--mode", "notify",
                            "--idempotency-key", "order-7")
    assert retry == {"callId": first["callId"], "initiated": True, "replayed": True}
    error = refusal(daemon, "--mode", "notify", "--idempotency-key", "order-8")
    assert error["rail"] == "outbound.quietHours"
    assert error["message"].startswith(f"quiet hours ({window[0]}-{window[1]} UTC) until "
                                       f"{window[1]}")
    conflict = daemon.cli("call", "--message", "Something else", "--idempotency-key",
                          "order-7", "--json")
    assert conflict.returncode == 6, conflict.stderr
    assert first["callId"] in json.loads(conflict.stdout)["error"]["message"]

    types = [e["type"] for e in events(daemon)]
    assert types.count("call.dialled") == 1  # the carrier was asked to dial once
    assert types.count("call.refused") == 1
