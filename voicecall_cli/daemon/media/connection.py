"""One accepted media-stream socket: what the endpoint keeps about it while it lives.

The socket's frames go out through its :class:`~voicecall_cli.daemon.media.outbox.Outbox`;
once a valid start arrived it carries a :class:`~voicecall_cli.daemon.media.registry.Stream`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import InitVar, dataclass, field
from typing import Any

import trio

from voicecall_cli.daemon.media.guard import SocketGuard
from voicecall_cli.daemon.media.outbox import Outbox
from voicecall_cli.daemon.media.registry import Stream
from voicecall_cli.daemon.media.reorder import FrameOrder


@dataclass(eq=False)
class Connection:
    """One accepted socket, from ``websocket.accept`` to the end of its tasks.

    ``cancel_scope`` wraps all the connection's tasks (the ASGI call cancels it if hypercorn
    drops the request); ``read_scope`` stops the reader when we close the socket.
    """

    client_ip: str
    send: InitVar[Callable[[dict[str, Any]], Awaitable[None]]]
    send_buffer_limit: InitVar[int]
    start_deadline: float
    presented_token: str | None = None  # before the start: header, ?token=, credential frame
    pending: bool = True
    peer_gone: bool = False
    stream: Stream | None = None
    order: FrameOrder | None = None  # caller audio reordering, for codecs that number frames
    tasks: trio.Nursery | None = None
    guard: SocketGuard | None = None  # what it may still get wrong, and its coalesced log
    cancel_scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    read_scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    finished: trio.Event = field(default_factory=trio.Event)
    outbox: Outbox = field(init=False)

    def __post_init__(self, send: Callable[[dict[str, Any]], Awaitable[None]],
                      send_buffer_limit: int) -> None:
        self.outbox = Outbox(send, send_buffer_limit, on_close=self.read_scope.cancel)

    def close(self, code: int, reason: str) -> None:
        """Send the close frame (after the frame in flight, if any) and stop reading."""
        self.outbox.close(code, reason)
