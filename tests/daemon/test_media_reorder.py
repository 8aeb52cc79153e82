"""FrameOrder: caller audio back in order before it reaches the transcriber."""

from __future__ import annotations

import random

import pytest

from voicecall_cli.daemon.media.reorder import FrameOrder


def run(order: FrameOrder, sequences: list[int]) -> list[int]:
    out: list[int] = []
    for n in sequences:
        out += [int(p) for p in order.push(n, str(n).encode())]
    return out + [int(p) for p in order.drain()]


def test_in_order_frames_pass_at_once_after_the_first_few() -> None:
    order = FrameOrder(depth=3)
    assert order.push(1, b"1") == []  # the first frames wait: the start is not known
    assert order.push(2, b"2") == []
    assert order.push(3, b"3") == []
    assert order.push(4, b"4") == [b"1", b"2", b"3", b"4"]
    assert order.push(5, b"5") == [b"5"]  # steady state: no delay


def test_swapped_neighbours_come_out_in_order() -> None:
    assert run(FrameOrder(), [1, 2, 3, 4, 6, 5, 7, 9, 8, 10]) == list(range(1, 11))


def test_a_lost_frame_delays_at_most_depth_frames_then_is_skipped() -> None:
    order = FrameOrder(depth=3)
    run_in = [1, 2, 3, 4, 5]
    for n in run_in:
        order.push(n, str(n).encode())
    assert order.push(7, b"7") == []
    assert order.push(8, b"8") == []
    assert order.push(9, b"9") == []
    assert order.push(10, b"10") == [b"7", b"8", b"9", b"10"]  # 6 never came
    assert order.push(6, b"6") == []  # too late: dropped
    assert order.dropped == 1


def test_duplicates_are_dropped() -> None:
    assert run(FrameOrder(), [1, 2, 2, 3, 4, 4, 5]) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("seed", range(5))
def test_random_local_shuffles_within_depth_are_fully_repaired(seed: int) -> None:
    rng = random.Random(seed)
    sequences = list(range(1, 501))
    for i in range(0, len(sequences) - 1, 2):
        if rng.random() < 0.2:
            sequences[i], sequences[i + 1] = sequences[i + 1], sequences[i]
    assert run(FrameOrder(), sequences) == list(range(1, 501))


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FrameOrder(depth=0)


@pytest.mark.parametrize("bogus_at", [0, 2, 10])
@pytest.mark.parametrize("lost", [None, 14])
def test_one_frame_numbered_far_ahead_does_not_silence_the_rest_of_the_call(
        bogus_at: int, lost: int | None) -> None:
    """A single frame with an absurd sequence number (10**30) must cost at most a moment of
    audio, with or without an ordinary lost frame after it: the caller stays heard."""
    sequences = [n for n in range(1, 201) if n != lost]
    sequences.insert(bogus_at, 10**30)
    released = [n for n in run(FrameOrder(), sequences) if n != 10**30]
    assert released == sorted(released)
    assert len(released) >= len(sequences) - 1 - 20
    assert released[-1] == 200


def test_a_sender_that_restarts_its_numbering_is_followed() -> None:
    released = run(FrameOrder(), list(range(1000, 1100)) + list(range(1, 101)))
    assert released[:100] == list(range(1000, 1100))
    assert released[-50:] == list(range(51, 101))
