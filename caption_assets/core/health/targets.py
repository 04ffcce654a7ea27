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
    unit: str = "runs"  # what the figure counts

    def verdict(self, value: float | None) -> Verdict:
        """``ok`` when there is nothing to measure: no runs is not a failing platform."""
        if value is None:
            return "ok"
        if self.higher_is_better:
            return "ok" if value >= self.target else "warn" if value >= self.far else "error"
        return "ok" if value < self.target else "warn" if value < self.far else "error"

    def describe(self, value: float | None, runs: int) -> str:
        """``runs``: how many of ``unit`` the figure is of."""
        if value is None:
            return f"{self.what}: nothing to measure yet ({runs} {self.unit})"
        sign = ">=" if self.higher_is_better else "<"
        # as many decimals as the target has, and one more: 99.85% is not shown as 99.9%
        decimals = max(1, len(percent(self.target).rstrip("%").partition(".")[2]) + 1)
        return (
            f"{self.what}: {value:.{decimals}%} over {runs} {self.unit} "
            f"(target {sign} {percent(self.target)})"
        )


def percent(share: float) -> str:
    """A share as a percentage with the decimals it needs: 0.95 -> 95%, 0.999 -> 99.9%."""
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


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
# ERROR below 99%: ten times the unavailability the plan allows
WEBHOOK_AVAILABILITY = Target(
    "webhook_availability",
    0.999,
    0.99,
    higher_is_better=True,
    what="webhook deliveries answered without a 5xx",
    unit="deliveries",
)
# the checks judge the platform on its recent runs, "this week"
WINDOW_DAYS = 7
