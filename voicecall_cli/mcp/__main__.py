"""``python -m voicecall_cli.mcp --socket PATH``: the stdio MCP server (``voicecall mcp`` runs
this, with the socket the CLI resolved). Stdout belongs to the MCP protocol; messages go to
stderr."""

from __future__ import annotations

import argparse
import functools
import os
import sys

from voicecall_cli.protocol import resolve_socket_path

MISSING_SDK = ("voicecall mcp needs the MCP SDK (mcp>=2,<3); install it with: "
               "pip install 'voicecall[mcp]'")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicecall mcp", description=__doc__)
    parser.add_argument("--socket", help="the daemon's control socket")
    args = parser.parse_args(argv)
    socket_path = resolve_socket_path(args.socket, None, os.environ)
    try:
        import anyio

        from voicecall_cli.mcp.server import run_stdio
    except ImportError:
        print(f"voicecall: {MISSING_SDK}", file=sys.stderr)
        return 1
    try:
        anyio.run(functools.partial(run_stdio, socket_path))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
