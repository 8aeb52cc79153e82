"""The shape every carrier simulator takes: a :class:`SimulatorSpec`, and what it reports when it
listens (:class:`Started`).

A simulator package ``voicecall_cli/simulator/<name>/`` exports ``SIMULATOR = SimulatorSpec(...)``
and is listed in :mod:`voicecall_cli.simulator.registry`. ``python -m voicecall_cli.simulator
<name> [options]`` then parses the common options (:func:`add_common_arguments`) plus the
spec's own, enters ``spec.serve(args)`` and prints :meth:`Started.first_line` as the first line
of stdout: whoever started it (``voicecall demo``, a developer) learns where it listens and the
config keys that point a daemon at it, without knowing the carrier.

The same spec serves a test in-process: ``async with spec.serve(spec.parse([...])) as started``.

This module stays light (stdlib only): a spec's package imports its heavy parts (trio,
hypercorn, ...) inside ``serve``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

PROG = "python -m voicecall_cli.simulator"


@dataclass(frozen=True, slots=True)
class Started:
    """What a listening simulator reports.

    * ``base_url``: its REST API (what the provider's ``apiBaseUrl``-like key points at).
    * ``config``: the daemon configuration that uses it, as nested config keys: ``provider``,
      the carrier's block with credentials and base URL, and ``streaming`` when the simulated
      caller streams audio. A daemon config deep-merged with it talks to this simulator.
    * ``details``: carrier facts a developer may want on their own (credentials, ids).
    """

    base_url: str
    config: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)

    def first_line(self, spec: SimulatorSpec, pid: int) -> dict[str, Any]:
        """The JSON object printed on the simulator process's first stdout line."""
        return {"baseUrl": self.base_url, **self.details, "pid": pid, "carrier": spec.name,
                "displayName": spec.display_name, "config": dict(self.config)}


@dataclass(frozen=True, slots=True)
class SimulatorSpec:
    """One carrier's simulator, as the registry and ``python -m voicecall_cli.simulator`` see it.

    * ``name``: the registry and provider name (``twilio``); ``display_name``: for people
      (``Twilio``); ``help``: one line for ``--help``.
    * ``add_arguments(parser)``: adds the carrier's own options (the common ones are added for
      it, see :func:`add_common_arguments`).
    * ``serve(args)``: an async context manager that listens, yields :class:`Started`, and on
      exit stops everything it started (its calls are cancelled where they are).
    """

    name: str
    display_name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    serve: Callable[[argparse.Namespace], AbstractAsyncContextManager[Started]]

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the common options and this carrier's own to ``parser``."""
        add_common_arguments(parser)
        self.add_arguments(parser)

    def parse(self, argv: Sequence[str] = ()) -> argparse.Namespace:
        """Parse ``argv`` as ``python -m voicecall_cli.simulator <name>`` would."""
        parser = argparse.ArgumentParser(prog=f"{PROG} {self.name}", description=self.help)
        self.configure(parser)
        return parser.parse_args(list(argv))


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every simulator takes, so a caller need not know the carrier."""
    parser.add_argument("--port", type=int, default=0,
                        help="REST API port on 127.0.0.1 (default: 0, a free one)")
    parser.add_argument("--reply", action="append",
                        help="what the callee says, in turn (repeat for each reply)")
    parser.add_argument("--stream-audio", action="store_true",
                        help="be the caller on the carrier's media streams, where it has them, "
                             "and ask the daemon to stream (its config then enables streaming)")
    parser.add_argument("--stdin", action="store_true", help="stop when stdin closes")


def scripted_streaming(replies: Sequence[str]) -> dict[str, Any]:
    """The ``streaming`` config block for a simulated caller that speaks ``replies``: the
    daemon hears each burst of the caller's audio as the next reply, offline (no STT keys)."""
    return {"enabled": True, "sttProvider": "scripted", "scriptedTranscripts": list(replies),
            "silenceDurationMs": 500}
