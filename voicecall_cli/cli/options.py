"""Options several commands share, each taking its value in more than one way.

* :func:`message_options`: ``-m/--message TEXT`` or ``--message-file PATH`` (``-`` for stdin),
  exactly one of them, handed to the command as ``message``.
* :class:`Seconds`: a duration in seconds, finite, above 0 and at most a bound (click's
  ``FloatRange`` lets ``nan`` through, and ``inf`` would mean waiting forever).
* :func:`call_id_params`: the call id as the positional ``CALL_ID`` or as ``--call-id ID``
  (the seed's spelling), both completing live call ids, handed to the command as ``call_id``.
  The daemon accepts unique prefixes (the 8-character ids ``tail`` and ``status`` show).

Both wrap the command's function, so a command body sees one plain value; mistakes (both
forms given, neither) are click usage errors (exit 2).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from voicecall_cli.cli.call_ids import call_id_option, complete_call_ids

F = TypeVar("F", bound=Callable[..., Any])


def message_options(help: str) -> Callable[[F], F]:
    """``-m/--message TEXT`` and ``--message-file PATH|-``; the command gets ``message``."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, message_file: IO[str] | None = None, **kwargs: Any) -> Any:
            kwargs["message"] = _one_message(kwargs.get("message"), message_file)
            return func(*args, **kwargs)

        with_file = click.option(
            "--message-file", type=click.File("r", encoding="utf-8"), metavar="PATH",
            help="Read the message from PATH instead (- reads stdin).")(wrapper)
        return click.option("-m", "--message", metavar="TEXT", help=help)(with_file)

    return decorate


def _one_message(message: str | None, message_file: IO[str] | None) -> str:
    if message is not None and message_file is not None:
        raise click.UsageError("give the message once: --message or --message-file")
    if message_file is not None:
        try:
            text = message_file.read()
        except UnicodeDecodeError:
            raise click.UsageError(f"{message_file.name} is not UTF-8 text") from None
        if not text.strip():
            raise click.UsageError(f"the message file {message_file.name} is empty")
        return text.strip()
    if message is None:
        raise click.UsageError("Missing option '-m' / '--message' (or --message-file PATH)")
    return message


class Seconds(click.FloatRange):
    """Seconds: a finite number above 0 and at most ``max_s``."""

    def __init__(self, max_s: float) -> None:
        super().__init__(min=0, min_open=True, max=max_s)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return number


def call_id_params(help: str, *, required: bool = True) -> Callable[[F], F]:
    """``[CALL_ID]`` and ``--call-id ID``; the command gets ``call_id`` (None only when not
    ``required``)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, call_id_argument: str | None = None, **kwargs: Any) -> Any:
            option = kwargs.get("call_id")
            if call_id_argument and option and call_id_argument != option:
                raise click.UsageError("give the call id once: as CALL_ID or as --call-id")
            kwargs["call_id"] = option or call_id_argument
            if required and not kwargs["call_id"]:
                raise click.UsageError("Missing the call id: give it as CALL_ID or --call-id ID")
            return func(*args, **kwargs)

        with_option = call_id_option(help + " Also accepted as the CALL_ID argument; a unique "
                                     "prefix will do.")(wrapper)
        return click.argument("call_id_argument", metavar="[CALL_ID]", required=False,
                              shell_complete=complete_call_ids)(with_option)

    return decorate
