"""Help works for every command; the global options name their environment twins."""

from __future__ import annotations

import click
from click.testing import CliRunner

from tests.cli.conftest import Env, run_cli
from voicecall_cli import __version__
from voicecall_cli.cli.main import cli
from voicecall_cli.protocol import PROTOCOL_VERSION


def command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: click.Command, path: list[str], ctx: click.Context) -> None:
        paths.append(path)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name], click.Context(sub, info_name=name, parent=ctx))

    walk(cli, [], click.Context(cli, info_name="voicecall"))
    return paths


def test_every_command_has_working_help(env: Env) -> None:
    paths = command_paths()
    expected = {("call",), ("continue",), ("speak",), ("end",), ("status",), ("tail",),
                ("daemon", "run"), ("daemon", "start"), ("daemon", "stop"),
                ("daemon", "status"), ("config", "init"), ("config", "show"),
                ("config", "validate"), ("config", "path")}
    assert expected <= {tuple(p) for p in paths}
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"], prog_name="voicecall")
        assert result.exit_code == 0, (path, result.output)
        assert result.stdout.startswith(f"Usage: {' '.join(['voicecall', *path])}")


async def test_global_options_name_their_environment_variables(env: Env) -> None:
    result = await run_cli("--help")
    assert result.exit_code == 0
    assert "VOICECALL_SOCKET" in result.stdout and "VOICECALL_CONFIG" in result.stdout


async def test_version(env: Env) -> None:
    result = await run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"voicecall {__version__} (control protocol {PROTOCOL_VERSION})\n"


def test_every_data_command_takes_json() -> None:
    for path in command_paths():
        command = cli
        ctx = click.Context(cli, info_name="voicecall")
        for name in path:
            command = command.get_command(ctx, name)
            ctx = click.Context(command, info_name=name, parent=ctx)
        # daemon run serves, config init writes a file, mcp's stdout is the MCP protocol
        if isinstance(command, click.Group) or path in (["daemon", "run"], ["config", "init"],
                                                        ["mcp"]):
            continue
        assert any("--json" in p.opts for p in command.params if isinstance(p, click.Option)), path
