"""Sensors evaluated with build_sensor_context against the real catalog (embedded Postgres)."""

from __future__ import annotations

import dagster as dg
import pytest

from caption_assets.app.platform import upload_video
from caption_assets.core.policy.priority import PRIORITY_TAG, TENANT_TAG, TIER_TAG, VIDEO_TAG
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.sensors.run_status import columns_for_run, settle_ended_run
from caption_assets.defs.sensors.uploads import layout_approvals, new_uploads

pytestmark = pytest.mark.integration


def _tick(sensor, platform, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=platform.instance, cursor=cursor, resources=platform.resources)
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _upload(platform, path, tenant, tier):
    return upload_video(platform.catalog, platform.store, path, tenant, tier=tier)


def test_new_uploads_requests_one_prioritised_run_per_waiting_video(platform, not_a_video) -> None:
    ids = {
        tier: _upload(platform, not_a_video, f"t-{tier}", tier) for tier in ("free", "premium", "enterprise")
    }
    result = _tick(new_uploads, platform)
    by_video = {r.partition_key: r for r in result.run_requests}
    assert set(by_video) == set(ids.values())
    for tier, video_id in ids.items():
        req = by_video[video_id]
        assert req.tags[PRIORITY_TAG] == {"free": "50", "premium": "70", "enterprise": "90"}[tier]
        assert req.tags[TIER_TAG] == tier
        assert req.tags[VIDEO_TAG] == video_id
        assert req.tags[TENANT_TAG] == platform.catalog.get_video(video_id).tenant_id
        assert req.run_key.startswith(f"layout:{video_id}:0:")
    (add,) = result.dynamic_partitions_requests
    assert add.partitions_def_name == VIDEOS_PARTITION_NAME
    assert set(add.partition_keys) == set(ids.values())

    # the cursor moves past what was requested: the next tick has nothing new
    again = _tick(new_uploads, platform, cursor=result.cursor)
    assert not again.run_requests


def test_retry_gets_a_new_run_key(platform, not_a_video) -> None:
    video_id = _upload(platform, not_a_video, "acme", "free")
    first = _tick(new_uploads, platform)
    platform.instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, [video_id])
    platform.catalog.begin_processing(video_id, "layout_status")
    platform.catalog.set_status(video_id, "layout_status", "error", {"message": "x"})
    platform.catalog.set_status(video_id, "layout_status", "wait")  # what the web app's retry does

    second = _tick(new_uploads, platform, cursor=first.cursor)
    (req,) = second.run_requests
    assert req.run_key != first.run_requests[0].run_key
    assert req.run_key.startswith(f"layout:{video_id}:1:")
    # the partition exists already: no second add request
    assert not second.dynamic_partitions_requests


def test_deleted_videos_and_inactive_tenants_are_skipped(platform, not_a_video) -> None:
    kept = _upload(platform, not_a_video, "acme", "free")
    deleted = _upload(platform, not_a_video, "acme", "free")
    platform.catalog.mark_deleted(deleted)
    result = _tick(new_uploads, platform)
    assert [r.partition_key for r in result.run_requests] == [kept]


def test_layout_approvals_starts_captions_runs_once(platform, not_a_video) -> None:
    video_id = _upload(platform, not_a_video, "acme", "enterprise")
    assert not _tick(layout_approvals, platform).run_requests
    platform.catalog.begin_processing(video_id, "layout_status")
    platform.catalog.approve_layout(video_id)
    result = _tick(layout_approvals, platform)
    (req,) = result.run_requests
    assert req.partition_key == video_id
    assert req.run_key.startswith(f"captions:{video_id}:")
    assert req.tags[PRIORITY_TAG] == "90"
    assert not _tick(layout_approvals, platform, cursor=result.cursor).run_requests


def test_ended_run_settles_status_and_frees_locks(platform, not_a_video) -> None:
    video_id = _upload(platform, not_a_video, "acme", "free")
    platform.catalog.begin_processing(video_id, "layout_status")
    run = dg.DagsterRun(
        job_name="layout_job",
        run_id="11111111-2222-3333-4444-555555555555",
        tags={"dagster/partition": video_id},
    )
    assert columns_for_run(run) == ["layout_status"]
    assert platform.catalog.acquire_server_lock(video_id, "layout", run.run_id, 600).acquired

    changed = settle_ended_run(platform.catalog, run, "failed", "worker killed")
    assert changed == ["layout_status"]
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert row.layout_error_details["run_id"] == run.run_id
    assert "worker killed" in row.layout_error_details["message"]
    # the run's lock is gone: another holder gets it at once
    assert platform.catalog.acquire_server_lock(video_id, "layout", "someone-else", 60).acquired
    # settling again changes nothing (the status is no longer processing)
    assert settle_ended_run(platform.catalog, run, "failed", "again") == []


def test_run_that_died_before_its_first_step_does_not_leave_the_video_waiting(platform, not_a_video) -> None:
    video_id = _upload(platform, not_a_video, "acme", "free")
    (req,) = _tick(new_uploads, platform).run_requests
    run = dg.DagsterRun(job_name="layout_job", tags=dict(req.tags) | {"dagster/partition": video_id})
    # the web app retried meanwhile: a newer attempt is waiting, the old run must not touch it
    platform.catalog.begin_processing(video_id, "layout_status")
    platform.catalog.set_status(video_id, "layout_status", "error", {"message": "x"})
    platform.catalog.set_status(video_id, "layout_status", "wait")
    assert settle_ended_run(platform.catalog, run, "failed", "ImportError") == []
    assert platform.catalog.get_video(video_id).layout_status == "wait"

    # the run of the current attempt died before its first step: the video goes to error
    retry = _tick(new_uploads, platform, cursor=None).run_requests[0]
    retry_run = dg.DagsterRun(job_name="layout_job", tags=dict(retry.tags) | {"dagster/partition": video_id})
    assert settle_ended_run(platform.catalog, retry_run, "failed", "ImportError") == ["layout_status"]
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error" and "ImportError" in row.layout_error_details["message"]
