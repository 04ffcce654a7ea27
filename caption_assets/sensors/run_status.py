"""Status write-back for runs that ended badly: failures the assets could not record themselves
(crashes, a killed worker) and terminations. No video stays ``processing`` after its run ended,
and the run's locks are freed."""


import dagster as dg

from caption_assets.catalog.base import Catalog, StatusColumn, error_details
from caption_assets.errors import BadInputError, without_paths
from caption_assets.keys import validate_uuid
from caption_assets.resources.catalog import CatalogResource
from caption_assets.sensors.uploads import ATTEMPT_TAG

LAYOUT_ASSETS = {"full_frames", "layout_db"}
CAPTIONS_ASSETS = {"cropped_frames", "captions_db"}
# for runs whose execution plan cannot be read (a run record built by hand, a deleted snapshot)
JOB_ASSETS = {
    "layout_job": LAYOUT_ASSETS,
    "captions_job": CAPTIONS_ASSETS,
    "video_job": LAYOUT_ASSETS | CAPTIONS_ASSETS,
}


def assets_of_run(run: dg.DagsterRun, instance: dg.DagsterInstance | None = None) -> set[str]:
    """The assets a run materializes: its explicit selection, else the steps of its execution
    plan (so every job is covered, not only the ones named here), else ``JOB_ASSETS``."""
    assets = {k.to_user_string() for k in (run.asset_selection or ())}
    if not assets and instance is not None and run.execution_plan_snapshot_id:
        try:
            plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        except Exception:  # a missing snapshot only means the fallback below decides
            plan = None
        if plan is not None:
            assets = set(plan.step_keys_to_execute or (s.key for s in plan.steps))
    return assets or set(JOB_ASSETS.get(run.job_name, ()))


def columns_for_run(
    run: dg.DagsterRun, instance: dg.DagsterInstance | None = None
) -> list[StatusColumn]:
    assets = assets_of_run(run, instance)
    columns: list[StatusColumn] = []
    if assets & LAYOUT_ASSETS:
        columns.append("layout_status")
    if assets & CAPTIONS_ASSETS:
        columns += ["boundaries_status", "text_status"]
    return columns


def settle_ended_run(
    catalog: Catalog,
    run: dg.DagsterRun,
    outcome: str,
    reason: str,
    instance: dg.DagsterInstance | None = None,
) -> list[StatusColumn]:
    """Mark the run's video ``error`` where it is still ``processing``; free the run's locks.
    Returns the columns it changed."""
    partition = run.tags.get("dagster/partition")
    if not partition:
        return []
    try:
        video_id = validate_uuid(partition, "partition key")
    except BadInputError:
        return []
    for database in ("layout", "captions"):
        catalog.release_server_lock(video_id, database, run.run_id)
    video = catalog.get_video(video_id)
    if video is None:
        return []
    changed: list[StatusColumn] = []
    reason = without_paths(reason)  # the details reach the tenant's people
    details = error_details(
        message=f"run {run.run_id} {outcome}: {reason}. Retry by re-materializing the partition "
        "or setting the status back to 'wait'.",
        error=reason,
        run_id=run.run_id,
    )
    for column in columns_for_run(run, instance):
        status = getattr(video, column)
        # a run that died before its first step leaves the video waiting; unless a retry has
        # started a newer attempt since, that video would otherwise wait forever
        never_started = status in (None, "wait") and run.tags.get(ATTEMPT_TAG) == str(
            video.processing_attempt
        )
        if status == "processing" or never_started:
            catalog.set_status(video_id, column, "error", details)
            changed.append(column)
    for request_id in _ocr_request_ids(run):
        catalog.finish_ocr_request(request_id, error=f"run {run.run_id} {outcome}: {reason}")
    return changed


def _ocr_request_ids(run: dg.DagsterRun) -> list[str]:
    ops = (run.run_config or {}).get("ops", {})
    return list(ops.get("captions_db", {}).get("config", {}).get("ocr_request_ids", []))


def _step_failure_reason(context: dg.RunFailureSensorContext) -> str:
    for event in context.get_step_failure_events():
        data = event.event_specific_data
        error = getattr(data, "error", None)
        if error is not None:
            return f"{event.step_key}: {error.message.strip()}"
    return context.failure_event.message or "the run failed"


@dg.run_failure_sensor(
    name="run_failures_to_catalog",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Writes 'error' with details for a failed run's video and releases its locks.",
)
def run_failures_to_catalog(
    context: dg.RunFailureSensorContext, catalog: CatalogResource
) -> None:
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
def run_cancellations_to_catalog(
    context: dg.RunStatusSensorContext, catalog: CatalogResource
) -> None:
    settle_ended_run(
        catalog.get(), context.dagster_run, "was terminated", "terminated", context.instance
    )
