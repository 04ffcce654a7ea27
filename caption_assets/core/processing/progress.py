"""Progress of a long step (frames decoded, frames scanned, OCR reads), reported at a bounded rate.

A step's loop calls ``Reporter.update`` as often as it likes (once per frame); the ``Progress``
callback hears the first report, then at most one every ``interval_seconds`` (``INTERVAL_SECONDS``
by default), and the final figures from ``finish``. A step of T seconds therefore makes at most
T / interval + 2 reports, whatever its frame count.

Assumptions: the callback runs on the thread that calls ``update`` (the step's own loop, never an
OCR worker thread), so it should be quick (a log line); an exception it raises is logged and
swallowed, since progress output must never fail the work it describes. ``done`` only grows.

``progress_line`` is the one text form of a report (``full_frames: 12/20 frames decoded``), written
by the assets to the run's log and read back by ``parse_progress_line`` (the CLI's progress bars).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# (what, done, total): e.g. ("frames decoded", 12, 20)
Progress = Callable[[str, int, int], None]

INTERVAL_SECONDS = 2.0

_LINE = re.compile(r"^(?P<step>[a-z][a-z0-9_]*): (?P<done>\d+)/(?P<total>\d+) (?P<what>\S.*)$")


class Reporter:
    """Throttles one series of reports to ``progress`` (None: every call is a no-op).

    ``what`` names the unit counted; a callable is asked only when a report goes out (a detail
    that changes, such as the states found so far, costs nothing between reports). The total
    shown is never below ``done``: an estimated total (a container's frame count) that the step
    overruns does not show 130%."""

    def __init__(
        self,
        progress: Progress | None,
        what: str | Callable[[], str],
        total: int,
        *,
        interval_seconds: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self._progress = progress
        self._what = what
        self.total = max(0, int(total))
        self._interval = float(interval_seconds)
        self._clock = clock
        self._last_at: float | None = None
        self._last: tuple[int, int] | None = None  # (done, total) of the last report sent

    def update(self, done: int) -> None:
        """Report ``done`` if this is the first report or the interval has passed since the last."""
        if self._progress is None:
            return
        now = self._clock()
        if self._last_at is not None and now - self._last_at < self._interval:
            return
        self._last_at = now
        self._send(done, self.total)

    def finish(self, done: int, total: int | None = None) -> None:
        """The final figures, always sent (unless the last report said exactly this). ``total``
        replaces the estimate once the step knows the real count."""
        if self._progress is None:
            return
        if total is not None:
            self.total = max(0, int(total))
        if self._last == (done, max(self.total, done)):
            return
        self._last_at = self._clock()
        self._send(done, self.total)

    def _send(self, done: int, total: int) -> None:
        assert self._progress is not None
        shown = (int(done), max(int(total), int(done)))
        self._last = shown
        try:
            what = self._what() if callable(self._what) else self._what
            self._progress(what, *shown)
        except Exception:  # noqa: BLE001 - a broken progress hook must not fail the step
            logger.exception("progress callback failed")


@dataclass(frozen=True)
class ProgressLine:
    step: str
    done: int
    total: int
    what: str


def progress_line(step: str, what: str, done: int, total: int) -> str:
    """The report as one log line: ``{step}: {done}/{total} {what}``."""
    return f"{step}: {done}/{total} {what}"


def parse_progress_line(text: str) -> ProgressLine | None:
    """The report in a log line written by ``progress_line``; None for any other line."""
    match = _LINE.match(text.strip())
    if match is None:
        return None
    return ProgressLine(match["step"], int(match["done"]), int(match["total"]), match["what"])
