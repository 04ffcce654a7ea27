"""The operations plots, as small PNGs. Drawn with matplotlib's Agg canvas on a ``Figure`` of its
own (never pyplot): headless, and no global figure state shared between concurrent runs."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pandas as pd

from caption_assets.core.health.records import CONFIDENCE_BINS
from caption_assets.core.health.targets import FLOW_SUCCESS, WEBHOOK_AVAILABILITY, percent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# small enough to embed in an asset's metadata as base64 (a few tens of kB)
SIZE_INCHES = (6.0, 2.6)
DPI = 80


def _figure() -> Figure:
    # matplotlib is imported on the first plot, not with the definitions: every run's process
    # loads those (a video's steps never plot), and matplotlib's import costs ~0.5 s of CPU
    from matplotlib.figure import Figure

    return Figure(figsize=SIZE_INCHES)


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _empty(figure: Figure, title: str) -> bytes:
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()
    return _png(figure)


def success_rate_plot(health: pd.DataFrame) -> bytes:
    """Daily flow success rate of every job against the plan's target."""
    figure = _figure()
    title = "flow success rate per day"
    rated = health.dropna(subset=["success_rate"]) if len(health) else health
    if rated.empty:
        return _empty(figure, title)
    axes = figure.add_subplot()
    for job, group in rated.groupby("job", sort=True):
        axes.plot(group["day"], group["success_rate"].astype(float), marker="o", label=str(job))
    axes.axhline(
        FLOW_SUCCESS.target, color="tab:red", linestyle="--", label=f"target {FLOW_SUCCESS.target:.0%}"
    )
    axes.set_ylim(0, 1.05)
    axes.set_title(title)
    axes.legend(fontsize="x-small", loc="lower left")
    axes.tick_params(axis="x", labelsize="x-small", rotation=30)
    return _png(figure)


def minutes_plot(usage: pd.DataFrame) -> bytes:
    """Minutes of video processed per day, stacked by tier."""
    figure = _figure()
    title = "minutes of video processed per day, by tier"
    if usage.empty:
        return _empty(figure, title)
    table = usage.pivot_table(index="day", columns="tier", values="minutes_processed", aggfunc="sum").fillna(
        0
    )
    axes = figure.add_subplot()
    bottom = pd.Series(0.0, index=table.index)
    for tier in table.columns:
        axes.bar(table.index, table[tier], bottom=bottom, label=str(tier))
        bottom = bottom + table[tier]
    axes.set_title(title)
    axes.legend(fontsize="x-small")
    axes.tick_params(axis="x", labelsize="x-small", rotation=30)
    return _png(figure)


def confidence_plot(quality: pd.DataFrame) -> bytes:
    """The share of captions in each OCR confidence bin, per day."""
    figure = _figure()
    title = "OCR confidence of the captions read per day"
    columns = [f"share_{b}" for b in CONFIDENCE_BINS]
    rated = quality.dropna(subset=columns, how="all") if len(quality) else quality
    if rated.empty:
        return _empty(figure, title)
    axes = figure.add_subplot()
    bottom = pd.Series(0.0, index=rated.index)
    for column, label in zip(columns, CONFIDENCE_BINS):
        share = rated[column].astype(float).fillna(0)
        axes.bar(rated["day"], share, bottom=bottom, label=label.removeprefix("conf_"))
        bottom = bottom + share
    axes.set_ylim(0, 1.05)
    axes.set_title(title)
    axes.legend(fontsize="x-small", ncols=4, loc="lower left")
    axes.tick_params(axis="x", labelsize="x-small", rotation=30)
    return _png(figure)


def availability_plot(table: pd.DataFrame) -> bytes:
    """The webhook's daily availability against the plan's target."""
    figure = _figure()
    title = "webhook deliveries answered without a 5xx, per day"
    if table.empty:
        return _empty(figure, title)
    axes = figure.add_subplot()
    share = table["availability"].astype(float)
    axes.plot(table["day"], share, marker="o", label="availability")
    target = WEBHOOK_AVAILABILITY.target
    axes.axhline(target, color="tab:red", linestyle="--", label=f"target {percent(target)}")
    # the interesting range is near 100%: from a little under the worst day or the ERROR line
    axes.set_ylim(min(float(share.min()), WEBHOOK_AVAILABILITY.far) - 0.005, 1.001)
    axes.set_title(title)
    axes.legend(fontsize="x-small", loc="lower left")
    axes.tick_params(axis="x", labelsize="x-small", rotation=30)
    return _png(figure)
