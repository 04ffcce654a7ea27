"""The 10 Hz timeline: sample ``k`` is the native frame on screen at ``k / 10`` seconds.

Decided from presentation times as frames stream by, so a variable frame rate is sampled correctly: the
frame on screen at time T is the last frame whose time is <= T, known once the next frame arrives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

RATE = 10.0  # samples per second; indices are tenths of a second
_EPS = 1e-9


class SampleClock:
    def __init__(self, rate: float = RATE) -> None:
        self.rate = rate
        self._next = 0
        self._started = False

    def advance(self, time: float) -> list[int]:
        """A frame with ``time`` arrived: the sample indices the previous frame was on screen for."""
        covered: list[int] = []
        if self._started:
            while self._next / self.rate < time - _EPS:
                covered.append(self._next)
                self._next += 1
        self._started = True
        return covered

    def close(self, end_time: float) -> list[int]:
        """The stream ended at ``end_time``: the sample indices the last frame covers."""
        covered: list[int] = []
        if self._started:
            while self._next / self.rate < end_time - _EPS:
                covered.append(self._next)
                self._next += 1
        return covered


def sample_count(duration_seconds: float, rate: float = RATE) -> int:
    """How many samples a video of this duration has on the 10 Hz timeline."""
    return max(1, math.ceil(duration_seconds * rate - 1e-6))


def sampled(
    frames: Iterable[tuple[float, T]], end_time: float, rate: float = RATE
) -> Iterator[tuple[int, T]]:
    """(sample index, item) for every sample of a stream of (time, item) in presentation order."""
    clock = SampleClock(rate)
    previous: T | None = None
    have = False
    for time, item in frames:
        for k in clock.advance(time):
            yield k, previous  # type: ignore[misc]
        previous, have = item, True
    if have:
        for k in clock.close(end_time):
            yield k, previous  # type: ignore[misc]
