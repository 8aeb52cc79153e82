"""A mock call killed (kill -9) while ringing does not stay ringing forever after the restart
(issue #14, item 11): it is ended, ``no-answer``, at its ring deadline, and never redialled."""

from __future__ import annotations

import json

from .conftest import Daemon


def test_a_call_killed_while_ringing_ends_after_the_restart(daemon_factory) -> None:
    daemon: Daemon = daemon_factory()
    # The callee rings at once and would answer only after a minute: the kill finds it ringing.
    text = daemon.config.read_text().replace("answerDelayMs = 50", "answerDelayMs = 60000")
    daemon.config.write_text(text.replace("maxConcurrentCalls = 3",
                                          "maxConcurrentCalls = 3\nringTimeoutMs = 1500"))
    daemon.start()
    call_id = daemon.cli_json("call", "--message", "Hello")["callId"]
    daemon.wait_for(lambda: daemon.call_state(call_id)["state"] == "ringing", what="ringing")
    daemon.kill9()
    daemon.start()

    ended = daemon.wait_for(lambda: (c := daemon.call_state(call_id))["endedAt"] and c,
                            timeout=20, what="the restored ringing call to end")
    assert ended["state"] == "no-answer", ended
    assert daemon.cli_json("status")["calls"] == []
    events = daemon.cli("tail", "--since", "all", "--no-follow", "--json", check=True).stdout
    kinds = [json.loads(line)["type"] for line in events.splitlines()[1:]]
    assert kinds.count("call.dialled") == 1 and "call.restored" in kinds
    assert any("ringTimeoutMs" in line for line in events.splitlines()
               if '"call.error"' in line)
