"""The hold queue: inbound callers waiting for a media-stream slot are connected, in order.

When every inbound stream slot is taken (``streaming.maxInboundStreams``), the provider's
webhook reply puts a new inbound caller on hold (Twilio: ``<Enqueue>`` with hold music) and
remembers them, longest-waiting first (:meth:`ProviderClient.held_calls`). This module takes
them off: whenever a stream slot may have freed (a stream stopped, a call ended) it connects
the first caller in line through :meth:`ProviderClient.connect_held`, waits until that
caller's stream has started (so the slot it was promised is not given twice), and goes on
while slots are free. A caller who hangs up while waiting leaves the provider's list (the
carrier tells the provider); one the carrier reports gone when we try to connect them is ended
here (``hangup-user``) and the next caller is tried.

A slot counts as taken from the moment a caller is handed their stream, before the carrier
connects it (the registry's reservations, see :mod:`voicecall_cli.daemon.media.registry`):
a reservation released (its token expired unused, its call ended) wakes the queue too.

Resource handling: :meth:`HoldQueue.run` is one task in the call manager's service nursery
(see :mod:`.service`); cancelling it stops the queue. It holds no other resource. It wakes on
:meth:`HoldQueue.wake` and, while anyone waits, every ``RECHECK_S`` seconds as well, so a
failed connection is retried.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from voicecall_cli.core.states import CallState
from voicecall_cli.providers.base import ProviderError, Streams

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls.manager import CallManager

log = logging.getLogger("voicecall.calls.hold")

RECHECK_S = 5.0  # while callers wait: look again this often even without a wake-up
CONNECT_WAIT_S = 30.0  # a connected caller's stream must start within this (else move on)


class HoldQueue:
    """Connects held inbound callers when stream slots free (see the module docstring).
    ``streams`` is the daemon's stream registry; without it (streaming off) nobody is held."""

    def __init__(self, manager: CallManager, streams: Streams | None) -> None:
        self._manager = manager
        self._streams = streams
        self._changed = trio.Event()
        if streams is not None:
            streams.on_release = self.wake  # a reserved slot freed without a stream

    def wake(self) -> None:
        """A stream slot may have freed, or a stream started: look at the queue again."""
        self._changed.set()

    async def run(self) -> None:
        """Serve the queue until cancelled."""
        if self._streams is None:
            return
        while True:
            await self._connect_while_free()
            waiting = bool(self._manager.client.held_calls())
            with trio.move_on_after(RECHECK_S if waiting else float("inf")):
                await self._wait_changed()

    async def _wait_changed(self) -> None:
        await self._changed.wait()
        self._changed = trio.Event()

    async def _connect_while_free(self) -> None:
        streams, client = self._streams, self._manager.client
        assert streams is not None
        while streams.admits_inbound():
            held = client.held_calls()
            if not held:
                return
            provider_call_id = held[0]
            call = self._manager.find(provider_call_id)
            call_id = call.call_id if call is not None else provider_call_id
            try:
                connected = await client.connect_held(call_id, provider_call_id)
            except ProviderError as exc:
                log.warning("could not connect held caller of call %s: %s", call_id, exc)
                return  # they stay first in line; tried again at the next wake-up
            if not connected:
                log.info("held caller of call %s hung up while waiting", call_id)
                if call is not None and not call.is_terminal:
                    self._manager.end_locally(call, CallState.HANGUP_USER.value)
                continue
            log.info("held caller of call %s connected to a stream slot", call_id)
            await self._until_streaming(provider_call_id, call_id)

    async def _until_streaming(self, provider_call_id: str, call_id: str) -> None:
        """Wait (bounded) until the connected caller's stream started or their call ended.
        (Streams are registered under the provider's call id, or under ours by providers
        whose stream names our call, such as Telnyx's ``client_state``.)"""
        streams = self._streams
        assert streams is not None
        with trio.move_on_after(CONNECT_WAIT_S):
            while not (streams.has_stream(provider_call_id) or streams.has_stream(call_id)):
                call = self._manager.find(provider_call_id)
                if call is None or call.is_terminal:
                    return
                await self._wait_changed()
