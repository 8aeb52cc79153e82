"""``python -m voicecall_cli.simulator NAME [--port N] [--reply TEXT]... [--stdin]``: a carrier's
simulator, for any NAME in :mod:`voicecall_cli.simulator.registry`.

It serves the carrier's REST API on 127.0.0.1, prints one JSON line on stdout once it listens
(:meth:`~voicecall_cli.simulator.base.Started.first_line`: ``baseUrl``, the carrier's
credentials, ``pid``, ``carrier``, ``displayName`` and ``config``, the daemon config keys that
use it), and runs until stdin closes (with ``--stdin``) or SIGTERM/SIGINT. ``voicecall demo
--carrier NAME`` runs it as a child process and deep-merges ``config`` into its daemon's
config; so can a developer, by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

import trio

from voicecall_cli.simulator import registry
from voicecall_cli.simulator.base import PROG, SimulatorSpec


async def _until_stdin_closes() -> None:
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stdin:
        while await stdin.receive_some(4096):
            pass


async def _until_signalled() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        async for _ in received:
            return


async def serve(spec: SimulatorSpec, args: argparse.Namespace) -> None:
    """Run ``spec`` until a signal (or, with ``--stdin``, the end of stdin) stops it."""
    async with spec.serve(args) as started:
        print(json.dumps(started.first_line(spec, os.getpid())), flush=True)
        async with trio.open_nursery() as nursery:
            async def stop_after(waiter) -> None:
                await waiter()
                nursery.cancel_scope.cancel()
            nursery.start_soon(stop_after, _until_signalled)
            if args.stdin:
                nursery.start_soon(stop_after, _until_stdin_closes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="A local, wire-faithful carrier.")
    sub = parser.add_subparsers(dest="carrier", required=True)
    specs = {name: registry.load(name) for name in registry.names()}
    for name, spec in specs.items():
        spec.configure(sub.add_parser(name, help=spec.help, description=spec.help))
    args = parser.parse_args(argv)
    trio.run(serve, specs[args.carrier], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
