"""Small helpers the health tables share: the UTC day of a timestamp, percentiles, rates."""

from __future__ import annotations

import pandas as pd


def day_of(timestamps: pd.Series) -> pd.Series:
    """The UTC calendar day (``YYYY-MM-DD``) of each epoch-seconds timestamp."""
    return pd.to_datetime(timestamps.astype(float), unit="s", utc=True).dt.strftime("%Y-%m-%d")


def percentile(values: pd.Series, q: float) -> float | None:
    """The ``q`` quantile (linear interpolation) of the non-missing values; None without any."""
    present = values.dropna().astype(float)
    return None if present.empty else round(float(present.quantile(q)), 3)


def rate(part: float, whole: float) -> float | None:
    """``part / whole`` rounded; None when there is nothing to divide by (no runs is no rate)."""
    return None if not whole else round(float(part) / float(whole), 4)
