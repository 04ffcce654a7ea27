"""new_uploads and layout_approvals: catalog rows in, run requests out."""


from datetime import datetime, timezone

import dagster as dg

from caption_assets.catalog import lifecycle
from caption_assets.config import PIPELINE_VERSION, get_settings
from caption_assets.jobs import captions_job, layout_job
from caption_assets.partitions import VIDEOS_PARTITION_NAME, videos_partitions
from caption_assets.priority import (
    SINCE_TAG,
    VIDEO_TAG,
    PriorityPolicy,
    priority_for,
    priority_tags,
)
from caption_assets.resources.catalog import CatalogResource

SENSOR_INTERVAL_SECONDS = 5
# the catalog's processing_attempt a layout run was requested for: the failure sensor only settles
# the video when no retry has started a newer attempt since
ATTEMPT_TAG = "caption_assets/attempt"


def priority_policy() -> PriorityPolicy:
    s = get_settings()
    return PriorityPolicy(
        enabled=s.priority_aging,
        boost_per_hour=s.priority_boost_per_hour,
        max_boost=s.priority_max_boost,
        max_wait_hours=s.max_wait_hours,
    )


def run_tags(video_id: str, tenant_id: str, tier: str, since: datetime) -> dict[str, str]:
    priority = priority_for(tier, since, datetime.now(timezone.utc), priority_policy())
    return {
        **priority_tags(tenant_id, tier, priority),
        VIDEO_TAG: video_id,
        SINCE_TAG: since.isoformat(),
    }


def new_partition_keys(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    """The keys without a partition yet. One query for the partition list: a per-key lookup opens
    a storage connection each (about 7 ms apiece, 0.7 s for a full batch)."""
    if not keys:
        return []
    existing = set(instance.get_dynamic_partitions(VIDEOS_PARTITION_NAME))
    return [k for k in dict.fromkeys(keys) if k not in existing]


def layout_run_key(video_id: str, processing_attempt: int) -> str:
    """One layout run per (video, attempt): a retry increments the attempt and runs again."""
    return f"layout:{video_id}:{processing_attempt}:{PIPELINE_VERSION}"


def captions_run_key(video_id: str, layout_approved_at: datetime) -> str:
    """One captions run per approval (approving an approved layout keeps its approval)."""
    return f"captions:{video_id}:{layout_approved_at.isoformat()}:{PIPELINE_VERSION}"


def partition_requests(
    instance: dg.DagsterInstance, video_ids: list[str]
) -> list[dg.AddDynamicPartitionsRequest]:
    new_keys = new_partition_keys(instance, video_ids)
    return [videos_partitions.build_add_request(new_keys)] if new_keys else []


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
def new_uploads(context: dg.SensorEvaluationContext, catalog: CatalogResource) -> dg.SensorResult:
    pending = lifecycle.upload_claimed(catalog.get(), limit=get_settings().sensor_batch_size)
    if not pending:
        return dg.SensorResult(skip_reason="no uploads waiting")
    requests = [
        dg.RunRequest(
            partition_key=p.video_id,
            run_key=layout_run_key(p.video_id, p.processing_attempt),
            tags={
                **run_tags(p.video_id, p.tenant_id, p.tier, p.uploaded_at),
                ATTEMPT_TAG: str(p.processing_attempt),
            },
        )
        for p in pending
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests(
            context.instance, [p.video_id for p in pending]
        ),
    )


@dg.sensor(
    job=captions_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a captions run for every approved layout without one.",
)
def layout_approvals(
    context: dg.SensorEvaluationContext, catalog: CatalogResource
) -> dg.SensorResult:
    approved = lifecycle.approval_claimed(catalog.get(), limit=get_settings().sensor_batch_size)
    if not approved:
        return dg.SensorResult(skip_reason="no newly approved layouts")
    requests = [
        dg.RunRequest(
            partition_key=a.video_id,
            run_key=captions_run_key(a.video_id, a.layout_approved_at),
            # captions work ages from its approval: an old upload approved today is new work
            tags=run_tags(a.video_id, a.tenant_id, a.tier, a.layout_approved_at),
        )
        for a in approved
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests(
            context.instance, [a.video_id for a in approved]
        ),
    )
