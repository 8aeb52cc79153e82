"""Taking a held inbound caller off hold, the same way for every carrier whose REST client
keeps its hold line in its codec state (``start_connecting``, ``hold_first``, ``forget``).

Pure control flow around one REST action; the caller (a provider's ``connect_held``) owns the
action and the state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from voicecall_cli.providers.base import ProviderCallStatus, ProviderError
from voicecall_cli.providers.http import ApiError


class HoldLine(Protocol):
    def start_connecting(self, provider_call_id: str) -> None: ...
    def hold_first(self, provider_call_id: str) -> None: ...
    def forget(self, provider_call_id: str) -> None: ...


async def connect_held_caller(line: HoldLine, call_id: str, provider_call_id: str, *,
                              connect: Callable[[], Awaitable[object]],
                              call_status: Callable[[str], Awaitable[ProviderCallStatus]]) -> bool:
    """Run ``connect`` for the held caller. True once it went through; False when it failed
    and the carrier says the call is over (it leaves the line); on any other failure the caller
    goes back first in line and :class:`ProviderError` (or the failure itself) is raised."""
    line.start_connecting(provider_call_id)
    try:
        await connect()
    except ApiError as exc:
        if (await call_status(provider_call_id)).is_terminal:
            line.forget(provider_call_id)
            return False
        line.hold_first(provider_call_id)
        raise ProviderError(f"could not take call {call_id} off hold: {exc}") from None
    except BaseException:
        line.hold_first(provider_call_id)
        raise
    return True
