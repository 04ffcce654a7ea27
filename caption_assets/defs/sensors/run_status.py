"""Status write-back for runs that ended badly: failures the assets could not record themselves
(crashes, a killed worker) and terminations. No video stays ``processing`` after its run ended,
and the run's locks are freed."""

from __future__ import annotations

import logging
from typing import Protocol

import dagster as dg

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import Catalog, StatusColumn
from caption_assets.core.errors import BadInputError, without_paths
from caption_assets.core.keys import validate_uuid
from caption_assets.defs.assets.runtime import status_observations
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.runs import (
    CAPTIONS_ASSETS,
    LAYOUT_ASSETS,
    PARTITION_TAG,
    assets_of_run,
    ocr_request_ids,
    requested_attempt,
)


def columns_for_run(run: dg.DagsterRun, instance: dg.DagsterInstance | None = None) -> list[StatusColumn]:
    assets = assets_of_run(run, instance)
    columns: list[StatusColumn] = []
    if assets & LAYOUT_ASSETS:
        columns.append("layout_status")
    if assets & CAPTIONS_ASSETS:
        columns += ["boundaries_status", "text_status"]
    return columns


# the column each asset's step begins (lifecycle: layout/captions started)
STEP_COLUMNS: dict[str, StatusColumn] = {
    "full_frames": "layout_status",
    "layout_db": "layout_status",
    "cropped_frames": "boundaries_status",
    "captions_db": "text_status",
}


def started_columns(run: dg.DagsterRun, instance: dg.DagsterInstance | None) -> set[StatusColumn] | None:
    """The columns whose step started in the run, from its STEP_START events (None without an
    instance: not known). A backfill that failed at full_frames never started the captions steps."""
    if instance is None:
        return None
    started = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
    steps = {e.step_key for e in started if e.step_key}
    return {STEP_COLUMNS[s] for s in steps if s in STEP_COLUMNS}


def settle_ended_run(
    catalog: Catalog,
    run: dg.DagsterRun,
    outcome: str,
    reason: str,
    instance: dg.DagsterInstance | None = None,
) -> list[StatusColumn]:
    """The ``lifecycle.run_ended`` event of a Dagster run: the video is its partition, the columns
    those of its assets. Returns the columns it changed."""
    partition = run.tags.get(PARTITION_TAG)
    if not partition:
        return []
    try:
        video_id = validate_uuid(partition, "partition key")
    except BadInputError:
        return []
    changed = lifecycle.run_ended(
        catalog,
        video_id,
        run.run_id,
        columns_for_run(run, instance),
        outcome,
        without_paths(reason),  # the details reach the tenant's people
        requested_attempt=requested_attempt(run.tags),
        ocr_request_ids=ocr_request_ids(run),
        started=started_columns(run, instance),
    )
    if changed and instance is not None:
        _observe_status(catalog, instance, run, video_id)
    return changed


def _observe_status(
    catalog: Catalog, instance: dg.DagsterInstance, run: dg.DagsterRun, video_id: str
) -> None:
    """The status the run's end left, on the run's video assets' partition in the UI (the step
    that crashed could not log it). Best effort: the catalog write above is what counts."""
    assets = sorted(assets_of_run(run, instance) & set(STEP_COLUMNS))
    try:
        video = catalog.get_video(video_id)
        if video is None:
            return
        for observation in status_observations(video, [dg.AssetKey(a) for a in assets]):
            instance.report_runless_asset_event(observation)
    except Exception as exc:  # noqa: BLE001 - the observation is a view of the catalog
        log.warning("catalog status of video %s not observed: %s", video_id, exc)


log = logging.getLogger(__name__)


class ErrorInfo(Protocol):
    """The parts of Dagster's SerializableErrorInfo read here."""

    message: str
    cls_name: str | None
    cause: ErrorInfo | None


# Dagster's own wrappers of a step's error: their message ("Exceeded max_retries of 3") says less
# than the error they were raised from
_WRAPPERS = frozenset({"RetryRequestedFromPolicy"})


def error_text(error: ErrorInfo) -> str:
    """What went wrong, in the words of the error the step hit: past Dagster's wrappers, without
    the qualified class name Dagster puts first (``caption_assets.core.errors.X: ...``)."""
    while error.cause is not None and error.cls_name in _WRAPPERS:
        error = error.cause
    text = error.message.strip()
    head, sep, rest = text.partition(": ")
    if sep and error.cls_name and head.split(".")[-1] == error.cls_name:
        text = rest
    return text


def _step_failure_reason(context: dg.RunFailureSensorContext) -> str:
    for event in context.get_step_failure_events():
        data = event.event_specific_data
        error = getattr(data, "error", None)
        if error is not None:
            text = error_text(error)
            step = event.step_key or "a step"
            # the assets' own descriptions already start with "<step> failed"
            return text if text.startswith(step) else f"{step}: {text}"
    return context.failure_event.message or "the run failed"


@dg.run_failure_sensor(
    name="run_failures_to_catalog",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Writes 'error' with details for a failed run's video and releases its locks.",
)
def run_failures_to_catalog(context: dg.RunFailureSensorContext, catalog: CatalogResource) -> None:
    changed = settle_ended_run(
        catalog.get(),
        context.dagster_run,
        "failed",
        _step_failure_reason(context),
        context.instance,
    )
    if changed:
        context.log.info(f"run {context.dagster_run.run_id}: set {changed} to error")


@dg.run_status_sensor(
    name="run_cancellations_to_catalog",
    run_status=dg.DagsterRunStatus.CANCELED,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="A terminated run's video goes to 'error' (retryable) and its locks are released.",
)
def run_cancellations_to_catalog(context: dg.RunStatusSensorContext, catalog: CatalogResource) -> None:
    settle_ended_run(catalog.get(), context.dagster_run, "was terminated", "terminated", context.instance)
