"""Refusal, cancellation, admission, lock waiting and stuck-work repair on the real catalog."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest

from caption_assets.core.errors import LockHeldError
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.assets.runtime import acquire_waiting, video_locks
from caption_assets.defs.maintenance import repair_stuck_videos
from caption_assets.defs.sensors.refused import cancel_refused_runs
from caption_assets_tests.fixtures.runs import add_run

pytestmark = pytest.mark.integration

QUEUED_COORDINATOR = {
    "run_coordinator": {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
    }
}


def test_queued_runs_of_deleted_videos_and_inactive_tenants_are_cancelled(platform, not_a_video) -> None:
    with dg.instance_for_test(overrides=QUEUED_COORDINATOR) as instance:
        kept = platform.upload(not_a_video, tenant="acme")
        deleted = platform.upload(not_a_video, tenant="acme")
        inactive = platform.upload(not_a_video, tenant="globex")
        runs = {v: add_run(instance, v, dg.DagsterRunStatus.QUEUED) for v in (kept, deleted, inactive)}
        platform.catalog.mark_deleted(deleted)
        platform.catalog.set_tenant_active(platform.catalog.get_video(inactive).tenant_id, False)

        cancelled = cancel_refused_runs(instance, platform.resources["catalog"])

        assert set(cancelled) == {runs[deleted].run_id, runs[inactive].run_id}
        status = {v: instance.get_run_by_id(r.run_id).status for v, r in runs.items()}
        assert status[kept] == dg.DagsterRunStatus.QUEUED
        assert status[deleted] == status[inactive] == dg.DagsterRunStatus.CANCELED


def test_inactive_tenant_work_is_refused_by_the_asset(platform, not_a_video) -> None:
    video_id = platform.upload(not_a_video, tenant="sleepy")
    platform.catalog.set_tenant_active(platform.catalog.get_video(video_id).tenant_id, False)
    result = dg.materialize(
        [full_frames],
        partition_key=video_id,
        instance=platform.instance,
        resources=platform.resources,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "not active" in failure.event_specific_data.error.message


def test_admission_refuses_a_video_over_its_tier_limits(platform, rendered) -> None:
    limits = {
        "free": {
            "max_duration_seconds": 2,
            "max_size_bytes": 1000000000,
            "max_width": 7680,
            "max_height": 7680,
        }
    }
    video_id = platform.upload(rendered("short_bottom").path, tier="free")
    result = dg.materialize(
        [full_frames, layout_db],
        partition_key=video_id,
        instance=platform.instance,
        resources=platform.with_settings(tier_limits=limits),
        raise_on_error=False,
    )
    assert not result.success
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert "exceeds the free limit" in row.layout_error_details["message"]
    # stopped before the layout OCR
    assert not any(
        e.event_type_value == "STEP_START" and e.step_key == "layout_db" for e in result.all_events
    )


class _RefusalsSeen:
    """The catalog, telling when a server lock was refused."""

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog
        self.refusals = 0
        self.refused = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)

    def acquire_server_lock(self, *args: Any, **kwargs: Any) -> Any:
        result = self._catalog.acquire_server_lock(*args, **kwargs)
        if not result.acquired:
            self.refusals += 1
            self.refused.set()
        return result


def test_lock_held_by_a_person_is_waited_for(platform, not_a_video) -> None:
    cat = platform.catalog
    video_id = platform.upload(not_a_video)
    assert cat.acquire_client_lock(video_id, "captions", "editor@web", 60).acquired
    # too short a wait: a transient error naming the holder (the RetryPolicy retries it)
    with pytest.raises(LockHeldError, match="held by editor@web"):
        acquire_waiting(cat, video_id, "captions", "run-1", 60, wait_seconds=0.3, poll_seconds=0.1)

    # the person lets go once the run was refused the lock: the run must have waited, not failed
    watched = _RefusalsSeen(cat)
    releaser = threading.Thread(
        target=lambda: (
            watched.refused.wait(20) and cat.release_client_lock(video_id, "captions", "editor@web")
        )
    )
    releaser.start()
    with video_locks(watched, video_id, "run-1", ttl_seconds=60, wait_seconds=20):
        assert not cat.acquire_client_lock(video_id, "captions", "editor@web", 60).acquired
    releaser.join()
    assert watched.refusals >= 1
    # released on exit: the person gets it back
    assert cat.acquire_client_lock(video_id, "captions", "editor@web", 60).acquired


def test_locks_are_released_when_the_block_fails(platform, not_a_video) -> None:
    cat = platform.catalog
    video_id = platform.upload(not_a_video)
    with pytest.raises(RuntimeError):
        with video_locks(cat, video_id, "run-2", ttl_seconds=60, release=False):
            raise RuntimeError("compute failed")
    assert cat.acquire_server_lock(video_id, "layout", "run-3", 60).acquired
    assert cat.acquire_server_lock(video_id, "captions", "run-3", 60).acquired


def test_stuck_processing_is_repaired_only_without_a_live_run(platform, not_a_video) -> None:
    cat = platform.catalog
    stuck = platform.upload(not_a_video)
    alive = platform.upload(not_a_video)
    for v in (stuck, alive):
        cat.begin_processing(v, "layout_status")
    dead_run = add_run(platform.instance, stuck, dg.DagsterRunStatus.FAILURE)
    assert cat.acquire_server_lock(stuck, "layout", dead_run.run_id, 600).acquired
    add_run(platform.instance, alive, dg.DagsterRunStatus.STARTED)

    # within the grace period nothing is touched
    assert repair_stuck_videos(platform.instance, cat) == {}
    later = datetime.now(UTC) + timedelta(hours=1)
    repaired = repair_stuck_videos(platform.instance, cat, now=later)

    assert repaired == {stuck: ["layout_status"]}
    row = cat.get_video(stuck)
    assert row.layout_status == "error"
    assert row.layout_error_details["run_id"] == dead_run.run_id
    assert cat.get_video(alive).layout_status == "processing"
    assert cat.acquire_server_lock(stuck, "layout", "next-run", 60).acquired
