"""``--call-id`` completion through click's shell-completion protocol, as the shells run it.

Each test runs a completion subprocess with the env the generated scripts set
(``_VOICECALL_COMPLETE=<shell>_complete``, ``COMP_WORDS``, ``COMP_CWORD``) against the fake
control server, a hung one, or nothing at all. ``tests.cli.completion_probe`` is ``voicecall``'s
root with one command that uses :func:`call_id_option`; the real commands are checked too once
they use it.
"""

from __future__ import annotations

import pytest

from tests.cli.completion_probe import bash_values, complete, uses_call_id_completion
from tests.cli.conftest import Env
from tests.cli.fake_daemon import FakeDaemon, Reply
from voicecall_cli.cli.call_ids import active_calls

OUT_ID = "3f6b2a10-5c1e-4c7e-9a51-0d1e2f3a4b5c"
IN_ID = "3f00aa77-0000-4000-8000-000000000001"
OTHER_ID = "9e8d7c6b-1111-4222-8333-444455556666"
CALLS = [
    {"callId": OUT_ID, "state": "listening", "direction": "outbound", "to": "+15550001111",
     "from": "+15550009999"},
    {"callId": IN_ID, "state": "ringing", "direction": "inbound", "from": "+15550002222",
     "to": "+15550009999"},
    {"callId": OTHER_ID, "state": "speaking", "direction": "outbound", "to": "+15550003333"},
]


def test_bash_offers_the_active_calls_full_ids(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": CALLS})
    proc = complete("bash", ["--socket", str(env.socket), "probe", "--call-id", ""])
    assert bash_values(proc) == [OUT_ID, IN_ID, OTHER_ID]
    assert proc.stdout.splitlines()[0] == f"plain,{OUT_ID}"
    # One status request for the active calls (no callId).
    assert fake.bodies("/v1/voicecall.status") == [{}]


def test_the_incomplete_prefix_filters(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": CALLS})
    base = ["--socket", str(env.socket), "probe", "--call-id"]
    assert bash_values(complete("bash", [*base, "3f"])) == [OUT_ID, IN_ID]
    assert bash_values(complete("bash", [*base, "3f6b"])) == [OUT_ID]
    assert bash_values(complete("bash", [*base, "zz"])) == []
    # The option's value given with "=" completes too.
    assert bash_values(complete("bash", ["--socket", str(env.socket), "probe",
                                         "--call-id=9e"])) == [OTHER_ID]


def test_zsh_and_fish_show_state_and_number(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": CALLS})
    words = ["--socket", str(env.socket), "probe", "--call-id", "3f"]
    zsh = complete("zsh", words)
    assert zsh.returncode == 0 and zsh.stderr == ""
    assert zsh.stdout.splitlines() == ["plain", OUT_ID, "listening, to +15550001111",
                                       "plain", IN_ID, "ringing, from +15550002222"]
    fish = complete("fish", words)
    assert fish.returncode == 0 and fish.stderr == ""
    assert fish.stdout.splitlines() == [f"plain,{OUT_ID}\tlistening, to +15550001111",
                                        f"plain,{IN_ID}\tringing, from +15550002222"]


def test_a_positional_call_id_completes_too(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": CALLS})
    proc = complete("bash", ["--socket", str(env.socket), "probe", "9"])
    assert bash_values(proc) == [OTHER_ID]


def test_the_socket_comes_from_the_environment_or_the_config(env: Env,
                                                              fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": CALLS[:1]})
    by_env = complete("bash", ["probe", "--call-id", ""],
                      env={"VOICECALL_SOCKET": str(env.socket)})
    assert bash_values(by_env) == [OUT_ID]
    config = env.root / "config.toml"
    config.write_text(f'controlSocket = "{env.socket}"\n')
    by_config = complete("bash", ["--config", str(config), "probe", "--call-id", ""])
    assert bash_values(by_config) == [OUT_ID]
    by_config_env = complete("bash", ["probe", "--call-id", ""],
                             env={"VOICECALL_CONFIG": str(config)})
    assert bash_values(by_config_env) == [OUT_ID]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_no_daemon_completes_nothing_silently(env: Env, shell: str) -> None:
    proc = complete(shell, ["--socket", str(env.socket), "probe", "--call-id", ""])
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.strip() == ""


def test_a_broken_config_completes_nothing_silently(env: Env) -> None:
    config = env.root / "broken.toml"
    config.write_text("controlSocket = [\n")
    proc = complete("bash", ["--config", str(config), "probe", "--call-id", ""])
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout.strip() == ""


def test_odd_answers_complete_nothing_and_print_no_warning(env: Env, fake: FakeDaemon) -> None:
    words = ["--socket", str(env.socket), "probe", "--call-id", ""]
    fake.answer("voicecall.status", {"found": False})
    assert bash_values(complete("bash", words)) == []
    fake.answer("voicecall.status", {"calls": [{"state": "ringing"}, "x", {"callId": 7}]})
    assert bash_values(complete("bash", words)) == []
    fake.answer("voicecall.status", {"calls": CALLS[:1]}, protocol=None)  # not our daemon
    assert bash_values(complete("bash", words)) == []
    # Another protocol version: the ids still come, and the CLI's warning does not.
    fake.answer("voicecall.status", {"calls": CALLS[:1]}, protocol="999")
    assert bash_values(complete("bash", words)) == [OUT_ID]


def test_a_daemon_that_does_not_answer_costs_about_the_timeout(env: Env,
                                                               fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": CALLS}, delay_s=10)
    # The ids come 10 s late: an empty answer means it gave up at its timeout instead of
    # waiting (no clock: a wait would have returned the ids).
    assert active_calls(env.socket) == []
    fake.on("POST", "/v1/voicecall.status", Reply(200, {"calls": CALLS}, delay_s=10))
    proc = complete("bash", ["--socket", str(env.socket), "probe", "--call-id", ""])
    assert bash_values(proc) == []


def test_no_daemon_gives_no_ids(env: Env) -> None:
    # How fast: tests/bench/bench_pacing.py measures it; a test never checks the real clock.
    assert active_calls(env.socket) == []
    assert active_calls(None) == []


# -- the real commands, once they take call_id_option ----------------------------------------

CALL_ID_COMMANDS = ["continue", "speak", "end", "status", "tail"]


@pytest.mark.parametrize("name", CALL_ID_COMMANDS)
def test_real_commands_complete_call_ids(env: Env, fake: FakeDaemon, name: str) -> None:
    if not uses_call_id_completion(name):
        pytest.skip(f"`voicecall {name} --call-id` does not use call_id_option yet")
    fake.answer("voicecall.status", {"calls": CALLS})
    proc = complete("bash", ["--socket", str(env.socket), name, "--call-id", "3f"],
                    module="voicecall_cli")
    assert bash_values(proc) == [OUT_ID, IN_ID]
