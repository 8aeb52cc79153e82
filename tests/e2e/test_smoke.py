"""``voicecall smoke``: without --yes nothing is dialled; with it one notify call is placed and
its outcome decides the exit code (a real daemon on the mock carrier)."""

from __future__ import annotations

import json

TO = "+15550007777"


def test_without_yes_it_only_says_what_it_would_do(daemon):
    dry = daemon.cli("smoke", "--to", TO)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"would call {TO} through mock (webhooks at http://127.0.0.1:")
    assert "run again with --yes" in dry.stderr
    plan = json.loads(daemon.cli("smoke", "--to", TO, "--json", check=True).stdout)
    assert plan["dialled"] is False and plan["plan"]["mode"] == "notify"
    assert daemon.cli_json("calls")["calls"] == []  # nothing was dialled


def test_with_yes_it_places_one_notify_call_and_reports_it(daemon):
    done = daemon.cli("smoke", "--to", TO, "--yes", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "answered, message spoken, ended" in done.stdout
    [call] = daemon.cli_json("calls")["calls"]
    assert (call["to"], call["metadata"].get("mode"), call["state"]) == (TO, "notify", "hangup-bot")
    assert call["transcript"][0]["text"].startswith("This is a voicecall test call.")


def test_an_unanswered_test_call_exits_1(daemon_factory):
    daemon = daemon_factory(extra='outcome = "busy"\n')  # the [mock] table is last
    daemon.start()
    result = daemon.cli("smoke", "--to", TO, "--yes", "--json", timeout=60)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["dialled"] is True and report["answered"] is False
    assert "was not answered: busy" in result.stderr
