"""``--call-id`` completion against a real daemon: live calls are offered, ended ones are not.

Completion runs as the shells run it (``_VOICECALL_COMPLETE`` on a subprocess), through the
probe command of ``tests.cli.completion_probe`` and through the real commands that use
``call_id_option``.
"""

from __future__ import annotations

import pytest

from tests.cli.completion_probe import bash_values, complete, uses_call_id_completion

from .conftest import Daemon
from .test_call_flow import place_answered_call


def test_live_calls_complete_and_ended_ones_drop_out(daemon: Daemon) -> None:
    first = place_answered_call(daemon)
    second = place_answered_call(daemon, "Hi again.")
    words = ["--socket", str(daemon.socket), "probe", "--call-id"]
    assert sorted(bash_values(complete("bash", [*words, ""]))) == sorted([first, second])
    assert bash_values(complete("bash", [*words, first[:8]])) == [first]

    fish = complete("fish", [*words, first[:8]])
    assert fish.returncode == 0 and fish.stderr == ""
    value, help_text = fish.stdout.splitlines()[0].split("\t")
    assert value == f"plain,{first}"
    state, _, number = help_text.partition(", ")
    assert state in {"answered", "active", "speaking", "listening"} and number == "to +15550001111"

    daemon.cli_json("end", "--call-id", first)
    assert bash_values(complete("bash", [*words, ""])) == [second]

    daemon.stop()
    gone = complete("zsh", [*words, ""])
    assert gone.returncode == 0 and gone.stderr == "" and gone.stdout.strip() == ""


@pytest.mark.parametrize("name", ["continue", "speak", "end", "status", "tail"])
def test_real_commands_complete_live_calls(daemon: Daemon, name: str) -> None:
    if not uses_call_id_completion(name):
        pytest.skip(f"`voicecall {name} --call-id` does not use call_id_option yet")
    call_id = place_answered_call(daemon)
    proc = complete("bash", ["--socket", str(daemon.socket), name, "--call-id", ""],
                    module="voicecall_cli")
    assert bash_values(proc) == [call_id]
