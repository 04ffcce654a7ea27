"""new_uploads and layout_approvals: catalog rows in, run requests out."""

import dagster as dg

from caption_assets.core.catalog import lifecycle
from caption_assets.defs.jobs import captions_job, layout_job
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.runs import (
    SENSOR_INTERVAL_SECONDS,
    captions_run_key,
    layout_run_key,
    partition_requests,
    run_tags,
)

# Both sensors claim their work in the catalog instead of walking a timestamp cursor: a row is
# visible from its commit on, and a cursor taken from a timestamp written inside the transaction
# skips rows that commit after a later one was seen. A claim whose run request is lost (the tick
# failed after claiming, or a "test sensor" evaluation in the UI) is released by the maintenance
# repair once no run carries its run key, and the next tick requests it again.


@dg.sensor(
    job=layout_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a layout run for every upload waiting in the catalog (layout_status='wait').",
)
def new_uploads(
    context: dg.SensorEvaluationContext, catalog: CatalogResource, settings: PlatformSettings
) -> dg.SensorResult:
    pending = lifecycle.upload_claimed(catalog.get(), limit=settings.sensor_batch_size)
    if not pending:
        return dg.SensorResult(skip_reason="no uploads waiting")
    policy = settings.priority_policy()
    requests = [
        dg.RunRequest(
            partition_key=p.video_id,
            run_key=layout_run_key(p.video_id, p.processing_attempt),
            tags=run_tags(
                p.video_id, p.tenant_id, p.tier, p.uploaded_at, policy, attempt=p.processing_attempt
            ),
        )
        for p in pending
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests(context.instance, [p.video_id for p in pending]),
    )


@dg.sensor(
    job=captions_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a captions run for every approved layout without one.",
)
def layout_approvals(
    context: dg.SensorEvaluationContext, catalog: CatalogResource, settings: PlatformSettings
) -> dg.SensorResult:
    approved = lifecycle.approval_claimed(catalog.get(), limit=settings.sensor_batch_size)
    if not approved:
        return dg.SensorResult(skip_reason="no newly approved layouts")
    policy = settings.priority_policy()
    requests = [
        dg.RunRequest(
            partition_key=a.video_id,
            run_key=captions_run_key(a.video_id, a.layout_approved_at),
            # captions work ages from its approval: an old upload approved today is new work
            tags=run_tags(a.video_id, a.tenant_id, a.tier, a.layout_approved_at, policy),
        )
        for a in approved
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests(context.instance, [a.video_id for a in approved]),
    )
