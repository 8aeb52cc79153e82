"""How the CLI runs the daemon: its command line, and a start-up that fails."""

from __future__ import annotations

import sys

from tests.cli.conftest import Env, run_cli
from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.daemon_process import daemon_argv


def test_daemon_argv_passes_the_socket_and_a_config_that_exists_or_was_named(env: Env) -> None:
    base = [sys.executable, "-m", "voicecall_cli.daemon", "run"]
    plain = CliContext(socket_option=str(env.socket))
    assert daemon_argv(plain) == [*base, "--socket", str(env.socket)]
    named = CliContext(socket_option=str(env.socket), config_option=str(env.root / "x.toml"))
    assert daemon_argv(named) == [*base, "--config", str(env.root / "x.toml"), "--socket",
                                  str(env.socket)]
    default = env.config_home / "voicecall" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('provider = "mock"\n')
    assert daemon_argv(CliContext(socket_option=str(env.socket))) == [
        *base, "--config", str(default), "--socket", str(env.socket)]


async def test_start_with_a_broken_config_exits_78_and_shows_the_log(env: Env) -> None:
    config = env.root / "broken.toml"
    config.write_text('provider = "mock"\n[serve]\nprot = 0\n')
    result = await run_cli("--config", str(config), "daemon", "start", socket=env.socket,
                           timeout=30)
    assert result.exit_code == 78, result.output
    log = env.state_home / "voicecall" / "daemon.log"
    assert log.is_file()
    assert str(log) in result.stderr
    assert result.stderr.startswith("voicecall: configuration error in ")
    assert "serve.prot" in result.stderr  # the daemon's own message, from the log
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
