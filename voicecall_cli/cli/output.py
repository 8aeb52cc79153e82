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


# Keys in click's context ``meta`` (shared by the whole context tree): --json was given; a
# JSON document already went to stdout. The root group reads both to print a failure as
# ``{"error": ...}`` exactly when nothing else was printed.
JSON_REQUESTED = "voicecall.json_requested"
JSON_EMITTED = "voicecall.json_emitted"


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[JSON_REQUESTED] = True
    return value


def json_option(func: F) -> F:
    """The ``--json`` flag every data command takes (stored as ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, callback=_remember_json,
                        help="Print one JSON document on stdout and nothing else "
                             '(a failure too: {"error": {"code", "message"}}).')(func)


def json_emitted() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(JSON_EMITTED))


def _mark_json_emitted() -> None:
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[JSON_EMITTED] = True


def emit_json(value: Any) -> None:
    """Write ``value`` as one JSON document (2-space indented) to stdout."""
    _mark_json_emitted()
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_json_line(raw: bytes) -> None:
    """Write one NDJSON line to stdout byte for byte, and flush it."""
    _mark_json_emitted()
    emit_bytes(raw + b"\n")


def emit_bytes(data: bytes) -> None:
    """Write ``data`` to stdout as it is (a text-only stdout gets it decoded), and flush."""
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream: write the same bytes through it
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()
        return
    binary.write(data)
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
    """Print a rich renderable as the command's human result, on stdout: fitted to a
    terminal, or plain and whole into a pipe or file (:func:`voicecall_cli.cli.render.show`)."""
    from voicecall_cli.cli.render import show

    show(renderable, console())
