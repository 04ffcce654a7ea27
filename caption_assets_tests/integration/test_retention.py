"""Partition retention on the real catalog, a local (and one S3) store and a Dagster instance:
deleted and long archived videos lose their objects and partitions, deleting a tenant empties its
prefix and removes its partitions, nothing else is touched, and every step can be repeated."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.errors import PermanentError, TenantNotFoundError
from caption_assets.core.keys import VideoKeys, tenant_prefix
from caption_assets.core.store.base import ArtifactStore, StoreError
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.retention import (
    delete_tenant,
    delete_tenant_job,
    purge_videos,
    retention_job,
    retention_schedule,
)
from caption_assets_tests.fixtures.runs import add_run

pytestmark = pytest.mark.integration

GRACE = timedelta(hours=24)
# past the grace of any deletion made during the test
LATER = datetime.now(UTC) + timedelta(days=2)


# a queued run must name where it comes from
def tenant_id(catalog: PostgresCatalog, name: str) -> str:
    tenant = catalog.get_tenant_by_name(name)
    assert tenant is not None
    return tenant.id


def write_artifacts(store: ArtifactStore, tenant: str, video_id: str) -> VideoKeys:
    """What the pipeline leaves behind: client frames and databases, the server-only OCR db."""
    keys = VideoKeys(tenant, video_id)
    store.put_bytes(keys.video(), b"mp4")
    store.put_bytes(keys.full_frame(0), b"jpg")
    store.put_bytes(keys.thumbnail(0), b"jpg")
    store.put_bytes(keys.layout_db(), b"gz")
    store.put_bytes(keys.cropped_chunk(1, 16, 0), b"webm")
    store.put_bytes(keys.captions_srt(), b"srt")
    store.put_bytes(keys.raw_ocr_db(), b"gz")
    return keys


def objects_of(store: ArtifactStore, keys: VideoKeys) -> list[str]:
    return list(store.list(keys.client_prefix())) + list(store.list(keys.server_prefix()))


def partitions(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.get_dynamic_partitions(VIDEOS_PARTITION_NAME))


def purged_at(dsn: str, video_id: str) -> datetime | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select purged_at from captionacc.videos where id = %s", (video_id,)).fetchone()
    assert row is not None
    return row[0]


def purge(platform, now: datetime = LATER, archived_age: timedelta | None = None, store=None):
    return purge_videos(
        platform.instance, platform.catalog, store or platform.store, now, GRACE, archived_age
    )


def test_deleted_video_loses_objects_and_partition_and_nothing_else(
    platform, not_a_video: Path, catalog_dsn: str
) -> None:
    gone = platform.upload(not_a_video, tenant="acme")
    kept = platform.upload(not_a_video, tenant="acme")
    other = platform.upload(not_a_video, tenant="globex")
    acme, globex = tenant_id(platform.catalog, "acme"), tenant_id(platform.catalog, "globex")
    keys = {
        gone: write_artifacts(platform.store, acme, gone),
        kept: write_artifacts(platform.store, acme, kept),
        other: write_artifacts(platform.store, globex, other),
    }
    before = {v: objects_of(platform.store, k) for v, k in keys.items()}
    platform.catalog.mark_deleted(gone)

    # within the grace nothing happens: a mistaken delete can still be undone
    early = purge(platform, now=datetime.now(UTC))
    assert early.purged == [] and early.objects_deleted == 0
    assert partitions(platform.instance) == {gone, kept, other}

    report = purge(platform)
    assert report.purged == [gone]
    assert report.objects_deleted == len(before[gone]) == 7
    assert report.skipped_in_flight == [] and report.failed == {}
    assert objects_of(platform.store, keys[gone]) == []
    assert partitions(platform.instance) == {kept, other}
    assert {v: objects_of(platform.store, keys[v]) for v in (kept, other)} == {
        v: before[v] for v in (kept, other)
    }
    assert purged_at(catalog_dsn, gone) is not None and purged_at(catalog_dsn, kept) is None
    assert platform.catalog.refused_videos([gone, kept]) == {gone: "video deleted"}

    again = purge(platform)
    assert (again.purged, again.objects_deleted, again.failed) == ([], 0, {})
    assert platform.catalog.videos_to_purge(LATER + timedelta(days=365)) == []


def test_video_with_an_in_flight_run_is_skipped_until_the_run_ended(platform, not_a_video: Path) -> None:
    busy, idle = platform.upload(not_a_video), platform.upload(not_a_video)
    acme = tenant_id(platform.catalog, "acme")
    busy_keys = write_artifacts(platform.store, acme, busy)
    write_artifacts(platform.store, acme, idle)
    for video in (busy, idle):
        platform.catalog.mark_deleted(video)
    run = add_run(platform.instance, busy, dg.DagsterRunStatus.STARTED)
    add_run(platform.instance, idle, dg.DagsterRunStatus.FAILURE)  # an ended run does not hold it

    report = purge(platform)
    assert (report.purged, report.skipped_in_flight) == ([idle], [busy])
    assert len(objects_of(platform.store, busy_keys)) == 7 and busy in partitions(platform.instance)

    platform.instance.report_run_canceled(run)
    assert purge(platform).purged == [busy]
    assert objects_of(platform.store, busy_keys) == [] and partitions(platform.instance) == set()


def test_store_failure_leaves_the_video_for_the_next_run(
    platform, not_a_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing, fine = platform.upload(not_a_video), platform.upload(not_a_video)
    acme = tenant_id(platform.catalog, "acme")
    failing_keys = write_artifacts(platform.store, acme, failing)
    write_artifacts(platform.store, acme, fine)
    for video in (failing, fine):
        platform.catalog.mark_deleted(video)
    real_delete = platform.store.delete_prefix

    def flaky(prefix: str) -> int:
        if failing in prefix:
            raise StoreError(f"delete {prefix}: SlowDown", key=prefix)
        return real_delete(prefix)

    monkeypatch.setattr(platform.store, "delete_prefix", flaky)
    report = purge(platform)
    assert report.purged == [fine]
    assert list(report.failed) == [failing] and "SlowDown" in report.failed[failing]
    assert failing in partitions(platform.instance) and objects_of(platform.store, failing_keys)
    assert [c.video_id for c in platform.catalog.videos_to_purge(LATER)] == [failing]

    monkeypatch.setattr(platform.store, "delete_prefix", real_delete)
    assert purge(platform).purged == [failing]
    assert objects_of(platform.store, failing_keys) == [] and partitions(platform.instance) == set()


def test_archived_videos_are_purged_only_after_the_configured_age(platform, not_a_video: Path) -> None:
    archived, unarchived = platform.upload(not_a_video), platform.upload(not_a_video)
    acme = tenant_id(platform.catalog, "acme")
    keys = write_artifacts(platform.store, acme, archived)
    at = platform.catalog.set_video_archived(archived)
    assert at is not None and platform.catalog.set_video_archived(archived) == at  # stays the first time
    platform.catalog.set_video_archived(unarchived)
    assert platform.catalog.set_video_archived(unarchived, archived=False) is None

    age = timedelta(days=30)
    assert purge(platform, now=at + timedelta(days=400)).purged == []  # archived videos kept by default
    assert purge(platform, now=at + timedelta(days=29), archived_age=age).purged == []
    report = purge(platform, now=at + timedelta(days=31), archived_age=age)
    assert report.purged == [archived] and report.objects_deleted == 7
    assert objects_of(platform.store, keys) == [] and partitions(platform.instance) == {unarchived}

    # purged: no artifacts left, so the video counts as deleted and cannot be unarchived
    assert platform.catalog.refused_videos([archived, unarchived]) == {archived: "video deleted"}
    with pytest.raises(PermanentError, match="purged"):
        platform.catalog.set_video_archived(archived, archived=False)
    with pytest.raises(PermanentError, match="neither deleted nor archived"):
        platform.catalog.mark_videos_purged([unarchived])


def test_delete_tenant_empties_its_prefix_removes_its_partitions_and_refuses_work(
    platform, not_a_video: Path
) -> None:
    a, b, running = (platform.upload(not_a_video, tenant="acme") for _ in range(3))
    other = platform.upload(not_a_video, tenant="globex")
    acme, globex = tenant_id(platform.catalog, "acme"), tenant_id(platform.catalog, "globex")
    for video in (a, b, running):
        write_artifacts(platform.store, acme, video)
    other_keys = write_artifacts(platform.store, globex, other)
    other_objects = objects_of(platform.store, other_keys)
    queued = add_run(platform.instance, running, dg.DagsterRunStatus.QUEUED)
    total = len(list(platform.store.list(tenant_prefix(acme))))

    result = delete_tenant(platform.instance, platform.catalog, platform.store, acme)

    assert result.videos == sorted([a, b, running]) and result.objects_deleted == total == 3 * 7
    assert result.purged == sorted([a, b]) and result.left_for_retention == [running]
    assert result.cancelled_runs == [queued.run_id] and result.uncancelled_runs == {}
    assert platform.instance.get_run_by_id(queued.run_id).status == dg.DagsterRunStatus.CANCELED
    assert list(platform.store.list(tenant_prefix(acme))) == []
    # the video whose run was cancelled keeps its partition until the retention job sweeps it
    assert partitions(platform.instance) == {running, other}
    assert objects_of(platform.store, other_keys) == other_objects

    # no work for the tenant any more
    tenant = platform.catalog.get_tenant(acme)
    assert tenant is not None and not tenant.active
    assert platform.catalog.refused_videos([a, running, other]) == {
        a: "video deleted",
        running: "video deleted",
    }
    with pytest.raises(PermanentError, match="no new work"):
        platform.catalog.begin_processing(a, "layout_status")
    with pytest.raises(PermanentError, match="not active"):
        platform.upload(not_a_video, tenant="acme")
    with pytest.raises(PermanentError, match="cannot be reactivated"):
        platform.catalog.set_tenant_active(acme, True)

    # repeating it is harmless and sweeps what came late: the refused upload above had already
    # stored its file (the web app stores first, then inserts the row)
    again = delete_tenant(platform.instance, platform.catalog, platform.store, acme)
    assert (again.videos, again.objects_deleted, again.cancelled_runs) == ([running], 1, [])
    assert again.purged == [running] and partitions(platform.instance) == {other}
    assert purge(platform).purged == []
    with pytest.raises(TenantNotFoundError):
        platform.catalog.delete_tenant(str(uuid.uuid4()))


def test_jobs_in_process(platform, not_a_video: Path) -> None:
    gone, kept = platform.upload(not_a_video, tenant="acme"), platform.upload(not_a_video, tenant="globex")
    acme, globex = tenant_id(platform.catalog, "acme"), tenant_id(platform.catalog, "globex")
    gone_keys, kept_keys = (
        write_artifacts(platform.store, acme, gone),
        write_artifacts(platform.store, globex, kept),
    )
    platform.catalog.mark_deleted(gone)
    resources = {k: platform.resources[k] for k in ("catalog", "store", "settings")}

    result = retention_job.execute_in_process(
        instance=platform.instance,
        resources=resources,
        run_config={"ops": {"purge_expired_videos": {"config": {"deleted_grace_hours": 0}}}},
    )
    assert result.success and result.output_for_node("purge_expired_videos") == 1
    assert objects_of(platform.store, gone_keys) == [] and partitions(platform.instance) == {kept}

    def delete(confirm: str) -> dg.ExecuteInProcessResult:
        config = {"tenant_id": globex, "confirm_name": confirm}
        return delete_tenant_job.execute_in_process(
            instance=platform.instance,
            resources=resources,
            run_config={"ops": {"delete_tenant": {"config": config}}},
            raise_on_error=False,
        )

    refused = delete("acme")
    assert not refused.success and platform.catalog.get_tenant(globex).active  # type: ignore[union-attr]
    assert len(objects_of(platform.store, kept_keys)) == 7
    deleted = delete("globex")
    assert deleted.success and deleted.output_for_node("delete_tenant") == 7
    assert list(platform.store.list(tenant_prefix(globex))) == [] and partitions(platform.instance) == set()

    assert retention_schedule.job_name == "retention_job"
    assert retention_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_purge_and_tenant_deletion_on_s3(platform, not_a_video: Path, s3_store) -> None:
    gone, kept = platform.upload(not_a_video, tenant="acme"), platform.upload(not_a_video, tenant="acme")
    other = platform.upload(not_a_video, tenant="globex")
    acme, globex = tenant_id(platform.catalog, "acme"), tenant_id(platform.catalog, "globex")
    gone_keys, kept_keys = write_artifacts(s3_store, acme, gone), write_artifacts(s3_store, acme, kept)
    other_keys = write_artifacts(s3_store, globex, other)
    platform.catalog.mark_deleted(gone)

    report = purge(platform, store=s3_store)
    assert report.purged == [gone] and report.objects_deleted == 7
    assert objects_of(s3_store, gone_keys) == [] and len(objects_of(s3_store, kept_keys)) == 7

    result = delete_tenant(platform.instance, platform.catalog, s3_store, acme)
    assert result.objects_deleted == 7 and list(s3_store.list(tenant_prefix(acme))) == []
    assert len(objects_of(s3_store, other_keys)) == 7 and partitions(platform.instance) == {other}
