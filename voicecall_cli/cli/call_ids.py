"""Shell completion of call ids: the running daemon's active calls, for bash, zsh and fish.

:func:`complete_call_ids` is a click ``shell_complete`` callback; :func:`call_id_option` builds
the ``--call-id`` option with it. While the shell completes, the root group's callback has not
run, so the socket is resolved here from the root's parsed ``--socket``/``--config`` (and their
environment twins), as :class:`~voicecall_cli.cli.context.CliContext` does for commands.

The daemon is asked ``voicecall.status`` (no callId: the active calls) with a short timeout.
Completion never prints and never fails: no daemon, a hung one, a broken config or an odd
answer all complete nothing, within about :data:`COMPLETION_TIMEOUT_S`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.exit_codes import CliError
from voicecall_cli.client import ControlClient
from voicecall_cli.protocol import ApiError, StatusRequest

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

F = TypeVar("F", bound=Callable[..., Any])

COMPLETION_TIMEOUT_S = 0.5


def call_id_option(help: str, **attrs: Any) -> Callable[[F], F]:
    """The ``--call-id ID`` option, completing live call ids; ``attrs`` go to click.option
    (``required=True``, ...)."""
    attrs.setdefault("metavar", "ID")
    return click.option("--call-id", help=help, shell_complete=complete_call_ids, **attrs)


def complete_call_ids(ctx: click.Context, param: click.Parameter,
                      incomplete: str) -> list[CompletionItem]:
    """The active calls' ids starting with ``incomplete``, each with its state and number as
    help (zsh and fish show it); ``[]`` when no daemon answers in time."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(call_id, help=description)
            for call_id, description in active_calls(_socket_path(ctx))
            if call_id.startswith(incomplete)]


def active_calls(socket_path: Path | None, timeout: float = COMPLETION_TIMEOUT_S
                 ) -> list[tuple[str, str]]:
    """``(callId, "state, direction number")`` of each active call; ``[]`` on any failure."""
    if socket_path is None:
        return []
    client = ControlClient(socket_path, timeout, on_warning=_ignore)
    try:
        result = client.call(StatusRequest.METHOD, StatusRequest().to_body())
    except (ApiError, OSError, ValueError):
        return []
    calls = result.get("calls")
    if not isinstance(calls, list):
        return []
    return [(call["callId"], describe(call)) for call in calls
            if isinstance(call, dict) and isinstance(call.get("callId"), str) and call["callId"]]


def describe(call: dict[str, Any]) -> str:
    """``listening, to +15550001111`` (outbound) / ``ringing, from +1555...`` (inbound)."""
    state = str(call.get("state") or "?")
    if call.get("direction") == "inbound":
        number = call.get("from")
        return f"{state}, from {number}" if number else state
    number = call.get("to")
    return f"{state}, to {number}" if number else state


def _socket_path(ctx: click.Context) -> Path | None:
    """The socket the command would use, from the root context's parsed global options."""
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, CliContext) else CliContext(
        socket_option=root.params.get("socket_option"),
        config_option=root.params.get("config_option"))
    try:
        return obj.socket_path
    except (CliError, OSError, ValueError):
        return None


def _ignore(message: str) -> None:
    return None
