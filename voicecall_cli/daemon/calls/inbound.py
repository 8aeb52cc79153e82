"""Events for calls the manager does not know: an inbound call admitted by the inbound policy
(reference 2.2), or refused and hung up once.

:class:`InboundAdmission` is owned by the call manager (``manager.inbound``); the answer and
hang-up requests it starts run in the manager's nursery and die with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.events import NormalizedEvent
from voicecall_cli.core.processing import admit_unknown_call
from voicecall_cli.core.states import CallState
from voicecall_cli.protocol import events as ev

log = logging.getLogger("voicecall.calls")

REJECTED_ID_CAP = 10_000


class InboundHost(Protocol):
    """What admission needs of its owner (the call manager)."""

    store: Any
    settings: Any
    speech: Any
    provider: Any
    client: Any

    def register(self, call: CallRecord) -> None: ...
    def persist(self, call: CallRecord) -> None: ...
    def publish(self, call: CallRecord | None, kind: str, data: dict[str, Any]) -> None: ...
    def spawn(self, fn: Callable[..., Any], *args: Any) -> None: ...


class InboundAdmission:
    """Admits or refuses the callers of ``m``; remembers the refused (bounded) so a carrier's
    repeated events hang each up once."""

    def __init__(self, m: InboundHost) -> None:
        self.m = m
        self._rejected: dict[str, None] = {}  # insertion-ordered, bounded

    def admit(self, event: NormalizedEvent, now: int) -> CallRecord | None:
        """The call an event for an unknown call starts (registered, stored and announced),
        or None: a late event of an ended call, a caller the inbound policy refuses (hung up
        once), or an event that starts nothing."""
        pid = event.provider_call_id
        if pid and self.m.store.find_call_by_provider_id(pid) is not None:
            log.info("%s event for an ended call ignored", event.type)
            return None
        s = self.m.settings
        admission = admit_unknown_call(
            event, provider=s.provider, policy=s.inbound_policy, allow_from=list(s.allow_from),
            from_number=s.effective_from_number, greeting=s.inbound_greeting, now_ms=now)
        if admission.action == "reject":
            self._reject(event)
            return None
        if admission.record is None:
            log.info("%s event for an unknown call dropped", event.type)
            return None
        call = admission.record
        self.m.register(call)
        self.m.persist(call)
        greeting = str(call.metadata.get("initialMessage") or "").strip()
        if greeting and call.provider_call_id:  # (as the greeting will say it: stripped)
            self.m.speech.prepare(call.call_id, call.provider_call_id, greeting)
        if (self.m.provider.capabilities.answer_inbound and call.direction == "inbound"
                and call.provider_call_id):
            self.m.spawn(self._answer, call.call_id, call.provider_call_id)
        self.m.publish(call, ev.CALL_CREATED, {
            "direction": call.direction, "from": call.from_number, "to": call.to_number,
            "mode": call.mode, "provider": call.provider})
        return call

    def _reject(self, event: NormalizedEvent) -> None:
        pid = event.provider_call_id or event.call_id
        if pid in self._rejected:
            return
        self._rejected[pid] = None
        if len(self._rejected) > REJECTED_ID_CAP:
            del self._rejected[next(iter(self._rejected))]
        self.m.publish(None, ev.CALL_REJECTED, {
            "providerCallId": pid, "from": event.from_number, "to": event.to_number,
            "policy": self.m.settings.inbound_policy})
        self.m.spawn(self._hangup_rejected, event.call_id or pid, pid)

    async def _answer(self, call_id: str, provider_call_id: str) -> None:
        """Answer an accepted inbound call (providers that need it; the answer's webhook then
        starts the greeting)."""
        try:
            await self.m.client.answer(call_id, provider_call_id)
        except Exception as exc:
            log.warning("answering inbound call %s failed: %s", call_id, exc)

    async def _hangup_rejected(self, call_id: str, provider_call_id: str) -> None:
        try:
            await self.m.client.hangup(call_id, provider_call_id, CallState.HANGUP_BOT.value)
        except Exception as exc:
            log.warning("hang-up of a rejected inbound call failed: %s", exc)

