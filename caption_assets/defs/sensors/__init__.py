"""The sensors, and how each is declared (``running_sensor``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dagster as dg

from caption_assets.defs.runs import SENSOR_INTERVAL_SECONDS

if TYPE_CHECKING:
    # what dg.sensor's ``job`` takes (a job, a graph, or define_asset_job's unresolved job)
    from dagster._core.definitions.target import ExecutableDefinition as SensorJob


def running_sensor(
    description: str,
    *,
    job: SensorJob | None = None,
    interval_seconds: int = SENSOR_INTERVAL_SECONDS,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], dg.SensorDefinition]:
    """``dg.sensor`` as the platform declares every sensor: running from the first load (the
    platform does nothing without them), ticking every ``interval_seconds``; named after the
    function unless ``name`` says otherwise."""
    return dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
