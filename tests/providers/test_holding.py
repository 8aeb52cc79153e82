"""Taking a held caller off hold (providers/holding.py): what happens to their place in line
when the carrier's connect action works, fails for a call that is over, or fails otherwise."""

from __future__ import annotations

import httpx
import pytest

from voicecall_cli.providers.base import ProviderCallStatus, ProviderError
from voicecall_cli.providers.holding import connect_held_caller
from voicecall_cli.providers.http import ApiError


class Line:
    def __init__(self) -> None:
        self.log: list[str] = []

    def start_connecting(self, pid: str) -> None:
        self.log.append(f"connecting {pid}")

    def hold_first(self, pid: str) -> None:
        self.log.append(f"first {pid}")

    def forget(self, pid: str) -> None:
        self.log.append(f"forget {pid}")


def status(terminal: bool):
    async def call_status(pid: str) -> ProviderCallStatus:
        return (ProviderCallStatus("ended", "completed") if terminal
                else ProviderCallStatus("live"))
    return call_status


def refused():
    async def connect() -> None:
        raise ApiError("The requested resource was not found", 404)
    return connect


async def test_a_connected_caller_leaves_the_line() -> None:
    line = Line()

    async def connect() -> None:
        line.log.append("connect")

    assert await connect_held_caller(line, "c1", "p1", connect=connect,
                                     call_status=status(False))
    assert line.log == ["connecting p1", "connect"]


async def test_a_caller_who_is_gone_is_dropped_not_retried() -> None:
    line = Line()
    assert not await connect_held_caller(line, "c1", "p1", connect=refused(),
                                         call_status=status(True))
    assert line.log == ["connecting p1", "forget p1"]


async def test_any_other_failure_keeps_the_caller_first_in_line() -> None:
    line = Line()
    with pytest.raises(ProviderError, match="could not take call c1 off hold"):
        await connect_held_caller(line, "c1", "p1", connect=refused(), call_status=status(False))
    assert line.log == ["connecting p1", "first p1"]

    async def network_down() -> None:
        raise httpx.ConnectError("refused")

    line = Line()
    with pytest.raises(httpx.ConnectError):
        await connect_held_caller(line, "c1", "p1", connect=network_down,
                                  call_status=status(False))
    assert line.log == ["connecting p1", "first p1"]
