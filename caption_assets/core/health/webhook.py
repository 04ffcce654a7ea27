"""webhook_availability: per day, how the upload webhook answered (the test plan's "webhook
availability 99.9%"): the share of deliveries answered without a 5xx, p50/p95 of the answer's
latency and the deliveries by outcome.

Assumptions: a delivery counts on the UTC day it arrived (the webhook's clock). Availability is
of the requests that reached the service: a refusal (401, 422, 429) is an answer, not an outage;
what never reached it (the service down) is not in the log, and shows as the sensor starting the
runs the webhook should have (runs without the webhook's trigger tag)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from caption_assets.core.catalog.deliveries import DELIVERY_OUTCOMES
from caption_assets.core.health.stats import day_of, percentile

WEBHOOK_COLUMNS: tuple[str, ...] = (
    "day",
    "deliveries",
    "answered",  # without a 5xx
    "availability",
    "latency_p50_ms",
    "latency_p95_ms",
    # deliveries by outcome ("unavailable": the 5xx answers)
    *DELIVERY_OUTCOMES,
)


@dataclass(frozen=True)
class Availability:
    deliveries: int
    unavailable: int  # answered with a 5xx

    @property
    def share(self) -> float | None:
        """Answered without a 5xx / deliveries, unrounded (the check compares it with 99.9%);
        None without deliveries: nothing to measure is not an outage."""
        if not self.deliveries:
            return None
        return (self.deliveries - self.unavailable) / self.deliveries


def _unavailable(deliveries: pd.DataFrame) -> pd.Series:
    return deliveries["http_status"].astype(int) >= 500


def availability(deliveries: pd.DataFrame) -> Availability:
    return Availability(
        deliveries=len(deliveries),
        unavailable=int(_unavailable(deliveries).sum()) if len(deliveries) else 0,
    )


def webhook_availability(deliveries: pd.DataFrame) -> pd.DataFrame:
    """One row per UTC day of arrival."""
    if deliveries.empty:
        return pd.DataFrame(columns=list(WEBHOOK_COLUMNS))
    d = deliveries.assign(day=day_of(deliveries["received_at"]), down=_unavailable(deliveries))
    rows = []
    for day, group in d.groupby("day", sort=True):
        unavailable = int(group["down"].sum())
        counted = group["outcome"].value_counts()
        counts: dict[str, int] = {o: int(counted.get(o, 0)) for o in DELIVERY_OUTCOMES}
        rows.append(
            {
                "day": day,
                "deliveries": len(group),
                "answered": len(group) - unavailable,
                # six decimals, not rate()'s four: 99.95% and 99.9% stay apart
                "availability": round((len(group) - unavailable) / len(group), 6),
                "latency_p50_ms": percentile(group["latency_ms"], 0.5),
                "latency_p95_ms": percentile(group["latency_ms"], 0.95),
                **counts,
            }
        )
    return pd.DataFrame(rows, columns=list(WEBHOOK_COLUMNS))
