"""Work for a deleted video or an inactive tenant is cancelled, queued or running."""

import dagster as dg

from caption_assets.core.policy.priority import VIDEO_TAG
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.runs import IN_FLIGHT, PARTITION_TAG
from caption_assets.defs.sensors import running_sensor


def cancel_refused_runs(instance: dg.DagsterInstance, catalog: CatalogResource) -> list[str]:
    """Cancel every in-flight run whose video must not be processed; returns their run ids."""
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=IN_FLIGHT), limit=5000)
    by_video: dict[str, list[dg.DagsterRun]] = {}
    for record in records:
        run = record.dagster_run
        video = run.tags.get(VIDEO_TAG) or run.tags.get(PARTITION_TAG)
        if video:
            by_video.setdefault(video, []).append(run)
    if not by_video:
        return []
    refused = catalog.get().refused_videos(list(by_video))
    cancelled: list[str] = []
    for video_id in refused:
        for run in by_video.get(video_id, []):
            instance.run_coordinator.cancel_run(run.run_id)
            cancelled.append(run.run_id)
    return cancelled


@running_sensor(
    "Cancels queued and running runs of deleted videos and inactive tenants.", interval_seconds=15
)
def refused_work(context: dg.SensorEvaluationContext, catalog: CatalogResource) -> dg.SkipReason:
    cancelled = cancel_refused_runs(context.instance, catalog)
    if cancelled:
        context.log.info(f"cancelled {len(cancelled)} runs: {', '.join(cancelled)}")
    return dg.SkipReason(f"cancelled {len(cancelled)} runs of refused videos")
