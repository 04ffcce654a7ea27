"""Partition retention (issue 9): deleted videos, and archived ones past the configured age, lose
their objects in the store and their partition of ``videos``, so the partition count tracks the
live videos instead of every upload ever made. Deleting a tenant removes its whole prefix and its
partitions.

The logic is in plain functions taking the instance and the adapters; the ops only read settings
and report.
"""

# no `from __future__ import annotations`: Dagster reads the op config annotations at runtime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from caption_assets.core.catalog.base import Catalog
from caption_assets.core.keys import VideoKeys, tenant_prefix, validate_uuid
from caption_assets.core.store.base import ArtifactStore
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.resources.store import StoreResource
from caption_assets.defs.runs import IN_FLIGHT, PARTITION_TAG

# one catalog page, one run-storage query and one mark call per this many videos
PAGE_SIZE = 200


@dataclass
class PurgeReport:
    purged: list[str] = field(default_factory=list)
    # left for a later run: purging under a live run would race its writes
    skipped_in_flight: list[str] = field(default_factory=list)
    # store failures, {video id: error}; the video stays a candidate for the next run
    failed: dict[str, str] = field(default_factory=dict)
    objects_deleted: int = 0


@dataclass(frozen=True)
class TenantDeletion:
    tenant_id: str
    videos: list[str]
    objects_deleted: int
    purged: list[str]
    # videos whose runs were still in flight: cancelled, their partitions kept until the retention
    # job purges them (the cancelled runs may still write for a moment)
    left_for_retention: list[str]
    cancelled_runs: list[str]
    # cancellation refused or failed (the launcher could not terminate it); the refused_work
    # sensor keeps trying
    uncancelled_runs: dict[str, str]


def _chunks(items: Sequence[str], size: int = PAGE_SIZE) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def in_flight_runs(instance: dg.DagsterInstance, video_ids: Sequence[str]) -> dict[str, list[str]]:
    """{video id: run ids} of the queued or running runs of these videos' partitions."""
    busy: dict[str, list[str]] = {}
    for chunk in _chunks(video_ids):
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=IN_FLIGHT, tags={PARTITION_TAG: list(chunk)})
        )
        for record in records:
            run = record.dagster_run
            busy.setdefault(run.tags[PARTITION_TAG], []).append(run.run_id)
    return busy


def remove_video_objects(store: ArtifactStore, tenant_id: str, video_id: str) -> int:
    """Delete everything under the video's client and server prefixes; returns how many objects."""
    keys = VideoKeys(tenant_id, video_id)
    return store.delete_prefix(keys.client_prefix()) + store.delete_prefix(keys.server_prefix())


def purge_videos(
    instance: dg.DagsterInstance,
    catalog: Catalog,
    store: ArtifactStore,
    now: datetime,
    deleted_grace: timedelta,
    archived_age: timedelta | None,
    max_videos: int = 10_000,
) -> PurgeReport:
    """Remove the objects and partitions of videos deleted at least ``deleted_grace`` before
    ``now`` (and archived at least ``archived_age`` before, unless None), then mark them purged.

    Idempotent: a crash between the store and the catalog leaves the video a candidate, and
    deleting it again finds nothing. At most ``max_videos`` candidates are looked at per call."""
    report = PurgeReport()
    deleted_before = now - deleted_grace
    archived_before = None if archived_age is None else now - archived_age
    after: str | None = None
    seen = 0
    while seen < max_videos:
        page_size = min(PAGE_SIZE, max_videos - seen)
        page = catalog.videos_to_purge(deleted_before, archived_before, limit=page_size, after=after)
        if not page:
            break
        seen += len(page)
        # the cursor moves past skipped and failed videos too, so they cannot starve the rest
        after = page[-1].video_id
        busy = in_flight_runs(instance, [c.video_id for c in page])
        removed: list[str] = []
        for candidate in page:
            if candidate.video_id in busy:
                report.skipped_in_flight.append(candidate.video_id)
                continue
            try:
                report.objects_deleted += remove_video_objects(store, candidate.tenant_id, candidate.video_id)
            except Exception as exc:  # noqa: BLE001 - one video's store failure must not stop the batch
                report.failed[candidate.video_id] = f"{type(exc).__name__}: {exc}"
                continue
            instance.delete_dynamic_partition(VIDEOS_PARTITION_NAME, candidate.video_id)
            removed.append(candidate.video_id)
        report.purged.extend(catalog.mark_videos_purged(removed))
        if len(page) < page_size:
            break
    return report


def delete_tenant(
    instance: dg.DagsterInstance, catalog: Catalog, store: ArtifactStore, tenant_id: str
) -> TenantDeletion:
    """Delete a tenant: the catalog refuses its work from the first step on, its in-flight runs
    are cancelled, every object under its prefix is deleted, its partitions removed.

    Idempotent. If the store fails, the exception propagates with the tenant already deleted in
    the catalog: running this again (or the retention job, after the grace) finishes the work."""
    tenant_id = validate_uuid(tenant_id, "tenant id")
    video_ids = catalog.delete_tenant(tenant_id)
    busy = in_flight_runs(instance, video_ids)
    cancelled: list[str] = []
    uncancelled: dict[str, str] = {}
    for run_ids in busy.values():
        for run_id in run_ids:
            try:
                if instance.run_coordinator.cancel_run(run_id):
                    cancelled.append(run_id)
                else:
                    uncancelled[run_id] = "the run coordinator did not cancel it"
            except Exception as exc:  # noqa: BLE001 - the deletion must go on; the sensor retries
                uncancelled[run_id] = f"{type(exc).__name__}: {exc}"
    objects = store.delete_prefix(tenant_prefix(tenant_id))
    done = [v for v in video_ids if v not in busy]
    purged: list[str] = []
    for chunk in _chunks(done):
        for video_id in chunk:
            instance.delete_dynamic_partition(VIDEOS_PARTITION_NAME, video_id)
        purged.extend(catalog.mark_videos_purged(list(chunk)))
    return TenantDeletion(
        tenant_id=tenant_id,
        videos=video_ids,
        objects_deleted=objects,
        purged=purged,
        left_for_retention=sorted(busy),
        cancelled_runs=cancelled,
        uncancelled_runs=uncancelled,
    )


# ---- Dagster ----------------------------------------------------------------------------------


class RetentionConfig(dg.Config):
    deleted_grace_hours: float | None = Field(
        default=None,
        ge=0,
        description="Purge videos deleted at least this many hours ago. Default: the settings "
        "resource's retention_deleted_grace_hours (CAPTION_ASSETS_RETENTION_DELETED_GRACE_HOURS, 24).",
    )
    archived_days: float | None = Field(
        default=None,
        gt=0,
        description="Purge videos archived at least this many days ago. Default: the settings "
        "resource's retention_archived_days (CAPTION_ASSETS_RETENTION_ARCHIVED_DAYS; unset: "
        "archived videos are kept).",
    )
    max_videos: int = Field(default=10_000, ge=1, description="Candidates looked at per run.")


def _open(catalog: CatalogResource, store: StoreResource) -> tuple[Catalog, ArtifactStore]:
    cat = catalog.get()
    return cat, store.get(tenant_exists=cat.tenant_exists)


@dg.op(description="Remove objects and partitions of deleted (and long archived) videos.")
def purge_expired_videos(
    context: dg.OpExecutionContext,
    config: RetentionConfig,
    catalog: CatalogResource,
    store: StoreResource,
    settings: PlatformSettings,
) -> int:
    grace_hours = (
        config.deleted_grace_hours
        if config.deleted_grace_hours is not None
        else settings.retention_deleted_grace_hours
    )
    archived_days = (
        config.archived_days if config.archived_days is not None else settings.retention_archived_days
    )
    cat, artifacts = _open(catalog, store)
    report = purge_videos(
        context.instance,
        cat,
        artifacts,
        now=datetime.now(UTC),
        deleted_grace=timedelta(hours=grace_hours),
        archived_age=None if archived_days is None else timedelta(days=archived_days),
        max_videos=config.max_videos,
    )
    for video_id in report.skipped_in_flight:
        context.log.info(f"video {video_id}: a run is still in flight, purged on a later run")
    for video_id, error in report.failed.items():
        context.log.error(f"video {video_id}: store delete failed, retried on the next run: {error}")
    metadata: dict[str, Any] = {
        "purged": len(report.purged),
        "objects_deleted": report.objects_deleted,
        "skipped_in_flight": len(report.skipped_in_flight),
        "failed": len(report.failed),
        "partitions_left": len(context.instance.get_dynamic_partitions(VIDEOS_PARTITION_NAME)),
    }
    if report.failed:
        # a red run is what an operator notices; everything else of the batch is done already
        raise dg.Failure(
            description=f"{len(report.failed)} videos could not be purged and stay for the next run: "
            + "; ".join(f"{v}: {e}" for v, e in sorted(report.failed.items())[:10]),
            metadata=metadata,
        )
    context.add_output_metadata(metadata)
    return len(report.purged)


class DeleteTenantConfig(dg.Config):
    tenant_id: str = Field(description="UUID of the tenant to delete.")
    confirm_name: str = Field(
        description="The tenant's name, typed again: deleting a tenant cannot be undone."
    )


@dg.op(name="delete_tenant", description="Delete a tenant: its objects, partitions and future work.")
def delete_tenant_op(
    context: dg.OpExecutionContext,
    config: DeleteTenantConfig,
    catalog: CatalogResource,
    store: StoreResource,
) -> int:
    cat, artifacts = _open(catalog, store)
    tenant = cat.get_tenant(config.tenant_id)
    if tenant is None:
        raise dg.Failure(description=f"tenant {config.tenant_id} not found; nothing deleted")
    if tenant.name != config.confirm_name:
        raise dg.Failure(
            description=f"confirm_name {config.confirm_name!r} is not the name of tenant "
            f"{tenant.id}; nothing deleted"
        )
    result = delete_tenant(context.instance, cat, artifacts, tenant.id)
    for run_id, reason in result.uncancelled_runs.items():
        context.log.warning(f"run {run_id} of the deleted tenant was not cancelled: {reason}")
    for video_id in result.left_for_retention:
        context.log.warning(
            f"video {video_id}: its runs were cancelled; the retention job removes its partition "
            "and any late objects once they ended"
        )
    context.add_output_metadata(
        {
            "tenant": tenant.name,
            "videos": len(result.videos),
            "objects_deleted": result.objects_deleted,
            "purged": len(result.purged),
            "left_for_retention": len(result.left_for_retention),
            "cancelled_runs": len(result.cancelled_runs),
        }
    )
    return result.objects_deleted


@dg.job(description="Removes objects and partitions of deleted and long archived videos.")
def retention_job() -> None:
    purge_expired_videos()


@dg.job(description="Deletes one tenant: run config ops.delete_tenant.config {tenant_id, confirm_name}.")
def delete_tenant_job() -> None:
    delete_tenant_op()


retention_schedule = dg.ScheduleDefinition(
    job=retention_job,
    cron_schedule="17 3 * * *",  # daily, off the hour when other schedules tend to pile up
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
