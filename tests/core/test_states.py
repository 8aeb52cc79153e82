"""The transition rule, for every pair of states (reference 2.2)."""

import itertools

import pytest

from voicecall_cli.core.states import NON_TERMINAL_ORDER, TERMINAL_STATES, CallState, transition

ALL = list(CallState)
TALKING = {CallState.SPEAKING, CallState.LISTENING}


def expected(current: CallState, target: CallState) -> CallState | None:
    if current == target or current in TERMINAL_STATES:
        return None
    if target in TERMINAL_STATES:
        return target
    if current in TALKING and target in TALKING:
        return target
    order = list(NON_TERMINAL_ORDER)
    return target if order.index(target) > order.index(current) else None


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ALL, ALL)))
def test_every_state_pair(current: CallState, target: CallState) -> None:
    assert transition(current, target) == expected(current, target)


def test_there_are_nine_terminal_states_and_six_live_ones() -> None:
    assert len(TERMINAL_STATES) == 9
    assert [s.value for s in NON_TERMINAL_ORDER] == [
        "initiated", "ringing", "answered", "active", "speaking", "listening"]


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATES))
def test_terminal_is_absorbing(terminal: CallState) -> None:
    assert all(transition(terminal, target) is None for target in ALL)


def test_known_examples() -> None:
    assert transition(CallState.ANSWERED, CallState.RINGING) is None  # backwards ignored
    assert transition(CallState.LISTENING, CallState.SPEAKING) == CallState.SPEAKING
    assert transition(CallState.INITIATED, CallState.LISTENING) == CallState.LISTENING
    assert transition(CallState.RINGING, CallState.BUSY) == CallState.BUSY
