"""new_uploads and layout_approvals: catalog rows in, run requests out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import dagster as dg

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import ApprovedLayout, Catalog, PendingUpload
from caption_assets.core.policy.priority import PriorityPolicy
from caption_assets.defs.jobs import captions_job, layout_job
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.runs import captions_run_key, layout_run_key, requested_runs, video_run_request
from caption_assets.defs.sensors import running_sensor

if TYPE_CHECKING:
    from caption_assets.defs.sensors import SensorJob

# Both sensors claim their work in the catalog instead of walking a timestamp cursor: a row is
# visible from its commit on, and a cursor taken from a timestamp written inside the transaction
# skips rows that commit after a later one was seen. A claim whose run request is lost (the tick
# failed after claiming, or a "test sensor" evaluation in the UI) is released by the maintenance
# repair once no run carries its run key, and the next tick requests it again.

Claimed = TypeVar("Claimed")


def claimed_work_sensor(
    name: str,
    description: str,
    job: SensorJob,
    claim: Callable[[Catalog, int], Sequence[Claimed]],
    request: Callable[[Claimed, PriorityPolicy], dg.RunRequest],
    nothing: str,
) -> dg.SensorDefinition:
    """A sensor that claims up to a batch of work in the catalog and requests a run of ``job``
    for each claimed row; ``nothing`` is its skip reason when there was none."""

    @running_sensor(description, job=job, name=name)
    def claimed_work(
        context: dg.SensorEvaluationContext, catalog: CatalogResource, settings: PlatformSettings
    ) -> dg.SensorResult:
        claimed = claim(catalog.get(), settings.sensor_batch_size)
        policy = settings.priority_policy()
        requests = [request(row, policy) for row in claimed]
        return requested_runs(context.instance, requests, skip_reason=nothing)

    return claimed_work


def _layout_run(upload: PendingUpload, policy: PriorityPolicy) -> dg.RunRequest:
    attempt = upload.processing_attempt
    run_key = layout_run_key(upload.video_id, attempt)
    return video_run_request(
        upload.video_id,
        upload.tenant_id,
        upload.tier,
        upload.uploaded_at,
        policy,
        run_key=run_key,
        attempt=attempt,
    )


def _captions_run(approved: ApprovedLayout, policy: PriorityPolicy) -> dg.RunRequest:
    # captions work ages from its approval: an old upload approved today is new work
    since = approved.layout_approved_at
    run_key = captions_run_key(approved.video_id, since)
    return video_run_request(
        approved.video_id, approved.tenant_id, approved.tier, since, policy, run_key=run_key
    )


new_uploads = claimed_work_sensor(
    "new_uploads",
    "Starts a layout run for every upload waiting in the catalog (layout_status='wait').",
    layout_job,
    lifecycle.upload_claimed,
    _layout_run,
    nothing="no uploads waiting",
)

layout_approvals = claimed_work_sensor(
    "layout_approvals",
    "Starts a captions run for every approved layout without one.",
    captions_job,
    lifecycle.approval_claimed,
    _captions_run,
    nothing="no newly approved layouts",
)
