"""The test plan's reliability targets ("Success Criteria") and how far from them a figure is:
``ok`` at or past the target, ``warn`` short of it, ``error`` far short of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal["ok", "warn", "error"]


@dataclass(frozen=True)
class Target:
    name: str
    target: float
    far: float  # past this the figure is far off the target: ERROR, not WARN
    higher_is_better: bool
    what: str

    def verdict(self, value: float | None) -> Verdict:
        """``ok`` when there is nothing to measure: no runs is not a failing platform."""
        if value is None:
            return "ok"
        if self.higher_is_better:
            return "ok" if value >= self.target else "warn" if value >= self.far else "error"
        return "ok" if value < self.target else "warn" if value < self.far else "error"

    def describe(self, value: float | None, runs: int) -> str:
        if value is None:
            return f"{self.what}: nothing to measure yet ({runs} runs)"
        sign = ">=" if self.higher_is_better else "<"
        return f"{self.what}: {value:.1%} over {runs} runs (target {sign} {self.target:.0%})"


FLOW_SUCCESS = Target("flow_success_rate", 0.95, 0.85, higher_is_better=True, what="flows that succeeded")
RETRY_SUCCESS = Target(
    "retry_success_rate",
    0.90,
    0.75,
    higher_is_better=True,
    what="retried flows that succeeded after 1-2 retries",
)
LOCK_CONTENTION = Target(
    "lock_contention", 0.01, 0.05, higher_is_better=False, what="flows blocked by a held lock"
)
TARGETS: tuple[Target, ...] = (FLOW_SUCCESS, RETRY_SUCCESS, LOCK_CONTENTION)
# the checks judge the platform on its recent runs, "this week"
WINDOW_DAYS = 7
