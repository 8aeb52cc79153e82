"""``voicecall mcp``: serve the ``voice_call`` tool to an AI agent over MCP (stdio).

The CLI resolves the control socket as every command does (``--socket``, ``VOICECALL_SOCKET``,
the config's ``controlSocket``, the default) and then becomes ``python -m voicecall_cli.mcp``
(``exec``: the agent's client keeps talking to the same process id, and the CLI never imports
the MCP SDK). The server talks to the running daemon over the socket and starts nothing of it;
without a daemon each tool call answers ``daemon_not_running`` with how to start it.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import click

from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.exit_codes import CliError, ExitCode

SERVER_MODULE = "voicecall_cli.mcp"


@click.command("mcp")
@click.pass_obj
def command(obj: CliContext) -> None:
    """Serve the voice_call tool to an AI agent over MCP (stdio).

    Register it with an MCP client as the command `voicecall mcp`. It needs the daemon
    running (voicecall daemon start) and the MCP SDK (pip install 'voicecall[mcp]').
    """
    if importlib.util.find_spec("mcp") is None:
        raise CliError("voicecall mcp needs the MCP SDK (mcp>=2,<3)", ExitCode.FAILED,
                       "install it with: pip install 'voicecall[mcp]'")
    socket_path = str(obj.socket_path)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", SERVER_MODULE, "--socket", socket_path])
