"""Where ``voicecall`` writes what: the one place commands print through.

* stdout carries the command's result only: with ``--json`` exactly one JSON document (NDJSON
  lines for ``tail``) and nothing else; without it the human form of the result (a call id, a
  transcript, a rich table).
* stderr carries everything else: notes, progress, warnings and errors
  (``voicecall: <message>`` then ``hint: <advice>``).

rich is imported only by :func:`console`, i.e. only when something is rendered for a human.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    """The ``--json`` flag every data command takes (stored as ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout and nothing else.")(func)


def emit_json(value: Any) -> None:
    """Write ``value`` as one JSON document (2-space indented) to stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_json_line(raw: bytes) -> None:
    """Write one NDJSON line to stdout byte for byte, and flush it."""
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream: write the same bytes through it
        sys.stdout.write((raw + b"\n").decode("utf-8", "surrogateescape"))
        sys.stdout.flush()
        return
    binary.write(raw + b"\n")
    binary.flush()


def emit_text(text: str) -> None:
    """Write a plain result line (a call id, a transcript, a path) to stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A message for the human at the terminal, on stderr."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    note(f"voicecall: warning: {message}")


def report_error(message: str, hint: str | None = None) -> None:
    note(f"voicecall: {message}")
    if hint:
        note(f"hint: {hint}")


def console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr); colour follows rich's detection and NO_COLOR."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def render(renderable: RenderableType) -> None:
    """Print a rich renderable as the command's human result, on stdout."""
    console().print(renderable)
