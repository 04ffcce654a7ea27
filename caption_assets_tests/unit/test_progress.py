"""The throttled progress reporter, on a fake clock, and the one line format of a report."""

from __future__ import annotations

import pytest

from caption_assets.core.processing.progress import (
    ProgressLine,
    Reporter,
    parse_progress_line,
    progress_line,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Heard = list[tuple[str, int, int]]


def _reporter(
    total: int, interval: float = 2.0, what: object = "frames decoded"
) -> tuple[Reporter, Clock, Heard]:
    heard: Heard = []
    clock = Clock()
    reporter = Reporter(
        lambda w, d, t: heard.append((w, d, t)), what, total, interval_seconds=interval, clock=clock
    )
    return reporter, clock, heard


def test_first_report_then_one_per_interval_then_the_final() -> None:
    reporter, clock, heard = _reporter(1000)
    # 1000 frames at 10 ms each: 10 s of work
    for done in range(1000):
        reporter.update(done)
        clock.now += 0.01
    reporter.finish(1000)
    dones = [d for _, d, _ in heard]
    assert dones[0] == 0 and dones[-1] == 1000
    # one report every 2 s of the 10 s, plus the first and the final: never one per frame
    assert dones == [0, 200, 400, 600, 800, 1000]
    assert {t for _, _, t in heard} == {1000}


def test_final_report_is_not_repeated_and_may_correct_the_total() -> None:
    reporter, clock, heard = _reporter(600)
    reporter.update(0)
    clock.now += 5
    reporter.update(598)
    reporter.finish(598, total=598)  # the container's count was an estimate
    reporter.finish(598, total=598)
    assert heard == [("frames decoded", 0, 600), ("frames decoded", 598, 600), ("frames decoded", 598, 598)]


def test_an_overrun_total_is_shown_as_the_count() -> None:
    reporter, clock, heard = _reporter(10)
    reporter.update(0)
    clock.now += 3
    reporter.update(12)
    assert heard[-1] == ("frames decoded", 12, 12)


def test_what_is_asked_only_when_a_report_goes_out() -> None:
    asked: list[int] = []
    reporter, clock, heard = _reporter(100, what=lambda: asked.append(1) or f"{len(asked)} asked")
    for done in range(100):
        reporter.update(done)
    reporter.finish(100)
    assert len(asked) == 2 and [w for w, _, _ in heard] == ["1 asked", "2 asked"]


def test_no_callback_and_a_failing_callback_never_fail_the_step() -> None:
    Reporter(None, "frames", 3).update(1)

    def broken(what: str, done: int, total: int) -> None:
        raise RuntimeError("log handler gone")

    reporter = Reporter(broken, "frames", 3)
    reporter.update(0)
    reporter.finish(3)
    with pytest.raises(ValueError):
        Reporter(broken, "frames", 3, interval_seconds=0)


def test_line_round_trip_and_other_lines_are_not_progress() -> None:
    text = progress_line("cropped_frames", "frames scanned, 3 caption states found", 1200, 1800)
    assert text == "cropped_frames: 1200/1800 frames scanned, 3 caption states found"
    assert parse_progress_line(text) == ProgressLine(
        "cropped_frames", 1200, 1800, "frames scanned, 3 caption states found"
    )
    for other in ("full_frames: Modal call fc-123 of caption-assets/full_frames", "layout_db: done", ""):
        assert parse_progress_line(other) is None
