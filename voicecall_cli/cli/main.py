"""The root ``voicecall`` group, its global options and the console-script entry point.

Command modules are imported only when their command runs (or when help lists them), so
``voicecall status --json`` loads click, the stdlib, :mod:`voicecall_cli.protocol` and the few
``voicecall_cli.cli`` modules it uses. Each module under ``commands/`` exposes its click
command as ``command``.

Failures end here, in :meth:`VoicecallGroup.invoke`: an :class:`~voicecall_cli.protocol.ApiError`
or :class:`~voicecall_cli.cli.exit_codes.CliError` becomes ``voicecall: <message>`` (+ hint) on
stderr and its exit code; Ctrl-C exits 130 without a traceback. Usage errors are click's (2).
Anything else (a bug) is one line on stderr and exit 1; its traceback goes to a file
(:mod:`voicecall_cli.cli.crash`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any

import click

from voicecall_cli import __version__
from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.output import JSON_REQUESTED, emit_json, json_emitted, report_error
from voicecall_cli.protocol import CONFIG_ENV, PROTOCOL_VERSION, SOCKET_ENV, ApiError
from voicecall_cli.protocol.text import invalid_text_message

PROG_NAME = "voicecall"
COMPLETE_VAR = "_VOICECALL_COMPLETE"
COMMANDS_PACKAGE = "voicecall_cli.cli.commands"
# Command name -> module under COMMANDS_PACKAGE, in the order help lists them.
COMMAND_MODULES: dict[str, str] = {
    "call": "call",
    "continue": "continue_",
    "speak": "speak",
    "dtmf": "dtmf",
    "end": "end",
    "status": "status",
    "calls": "calls",
    "tail": "tail",
    "latency": "latency",
    "daemon": "daemon",
    "expose": "expose",
    "doctor": "doctor",
    "smoke": "smoke",
    "mcp": "mcp",
    "config": "config",
    "completion": "completion",
    "demo": "demo",
}
ARGS_META = "voicecall.args"  # the command line as the root group got it
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class VoicecallGroup(click.Group):
    """A group that imports command modules on demand and maps failures to exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMAND_MODULES if self.get_command(ctx, name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        qualified = f"{COMMANDS_PACKAGE}.{module_name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name == qualified:  # a command not shipped in this build
                return None
            raise
        command: click.Command = module.command
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGS_META] = list(args)
        try:
            _refuse_undecodable(args)
        except click.UsageError as err:
            if _wants_json(ctx):
                _emit_json_error(CliError(err.format_message(), ExitCode.USAGE))
            raise
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as err:
            _exit_with(ctx, CliError.from_api(err))
        except CliError as err:
            _exit_with(ctx, err)
        except KeyboardInterrupt:
            _exit_with(ctx, CliError("interrupted", ExitCode.INTERRUPTED), quiet=True)
        except BrokenPipeError:
            _silence_stdout()
            raise click.exceptions.Exit(ExitCode.BROKEN_PIPE) from None
        except click.UsageError as err:
            if _wants_json(ctx):
                _emit_json_error(CliError(err.format_message(), ExitCode.USAGE))
            raise
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            from voicecall_cli.cli import crash

            if crash.debugging():
                raise
            _exit_with(ctx, CliError(crash.one_line(exc, crash.record(exc)), ExitCode.FAILED))


def _refuse_undecodable(args: list[str]) -> None:
    """A usage error (exit 2) for the first argument that was not valid UTF-8 (Python hands
    such bytes over as lone surrogates, which no JSON answer, store or log could carry)."""
    for position, arg in enumerate(args, 1):
        problem = invalid_text_message(f"argument {position}", arg)
        if problem:
            try:  # the bytes as given (os.fsdecode made them surrogates)
                shown = repr(arg.encode("utf-8", "surrogateescape"))[2:-1]
            except UnicodeEncodeError:
                shown = arg.encode("utf-8", "backslashreplace").decode()
            raise click.UsageError(f"{problem}: {shown[:60]}")


def _wants_json(ctx: click.Context) -> bool:
    """--json was given to the command (parsed, or at least on its command line)."""
    if ctx.meta.get(JSON_REQUESTED):
        return True
    args = ctx.meta.get(ARGS_META) or []
    return "--json" in args[:args.index("--")] if "--" in args else "--json" in args


def _emit_json_error(err: CliError) -> None:
    if not json_emitted():
        with contextlib.suppress(BrokenPipeError):
            emit_json(err.to_json())


def _exit_with(ctx: click.Context, err: CliError, *, quiet: bool = False) -> None:
    """Report ``err`` (stderr; and stdout under --json, unless a document is already out)
    and exit with its code."""
    if _wants_json(ctx):
        _emit_json_error(err)
    if not quiet:
        report_error(err.message, err.hint)
    raise click.exceptions.Exit(err.exit_code) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@click.group(cls=VoicecallGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--socket", "socket_option", metavar="PATH", envvar=SOCKET_ENV, show_envvar=True,
              help="The daemon's control socket [default: the config's controlSocket, else "
                   "$XDG_RUNTIME_DIR/voicecall/control.sock].")
@click.option("--config", "config_option", metavar="PATH", envvar=CONFIG_ENV, show_envvar=True,
              help="The config file, .toml, .json or .json5 "
                   "[default: $XDG_CONFIG_HOME/voicecall/config.toml].")
@click.version_option(__version__, "--version", prog_name=PROG_NAME,
                      message=f"%(prog)s %(version)s (control protocol {PROTOCOL_VERSION})")
@click.pass_context
def cli(ctx: click.Context, socket_option: str | None, config_option: str | None) -> None:
    """Place and receive AI phone calls from a terminal, a shell script or an agent.

    The commands talk to the voicecall daemon over its control socket; start it with
    `voicecall daemon start` (or run it under systemd with `voicecall daemon run`).
    """
    ctx.obj = CliContext(socket_option=socket_option, config_option=config_option)


def main(argv: list[str] | None = None) -> None:
    """The ``voicecall`` console script; exits the process with the command's exit code."""
    cli.main(args=argv, prog_name=PROG_NAME, complete_var=COMPLETE_VAR)
