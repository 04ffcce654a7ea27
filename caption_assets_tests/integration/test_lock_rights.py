"""Locks a tenant user cannot break: server locks are the orchestrator's, a run that loses its lock
stops before recording anything, and layout_job respects a person's lock on layout.db."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from caption_assets.core.errors import BadInputError
from caption_assets.core.keys import VideoKeys
from caption_assets.defs.assets import runtime
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.assets.runtime import LockLostError, video_locks
from caption_assets_tests.security.test_rls_catalog import World, as_role, user, world  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.mark.security
def test_tenant_users_take_client_locks_only(world: World, catalog) -> None:
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        for call in (
            "select captionacc.release_server_lock(%s, 'layout', 'run-a')",
            "select captionacc.acquire_server_lock(%s, 'captions', 'run-a', 1)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for function"):
                conn.execute(call, (world.video_a,))
        # the run's server lock excludes the person's client lock
        assert conn.execute(
            "select captionacc.acquire_client_lock(%s, 'layout', 'sess', 60)", (world.video_a,)
        ).fetchone() == (False,)
        with pytest.raises(psycopg.Error, match="at most 3600"):
            conn.execute(
                "select captionacc.acquire_client_lock(%s, 'captions', 'sess', 86400)", (world.video_a,)
            )
    with pytest.raises(BadInputError, match="at most 3600"):
        catalog.acquire_server_lock(world.video_a, "captions", "run-a", 86400)
    lock = catalog.acquire_server_lock(world.video_a, "layout", "run-a", 600)
    assert lock.acquired and lock.holder == "run-a"


def test_a_lost_lock_stops_the_step(platform, not_a_video) -> None:
    cat = platform.catalog
    video_id = platform.upload(not_a_video)
    with pytest.raises(LockLostError, match="captions lock of video .* was lost .*held by editor@web"):
        with video_locks(cat, video_id, "run-1", databases=("captions",), ttl_seconds=60) as locks:
            locks.check()  # still ours
            # the lock went away (expired, or freed by a repair) and a person took it
            assert cat.release_server_lock(video_id, "captions", "run-1")
            assert cat.acquire_client_lock(video_id, "captions", "editor@web", 60).acquired
            locks.check()
            pytest.fail("check() must raise once the lock is someone else's")
    # the person's lock is left alone
    assert not cat.acquire_server_lock(video_id, "captions", "run-2", 60).acquired


@pytest.mark.slow
def test_layout_job_waits_for_a_persons_layout_lock_and_writes_nothing(
    platform, rendered, monkeypatch
) -> None:
    video_id = platform.upload(rendered("short_bottom").path)
    assert platform.catalog.acquire_client_lock(video_id, "layout", "editor@web", 3600).acquired
    monkeypatch.setattr(runtime, "LOCK_WAIT_SECONDS", 0.2)
    result = dg.materialize(
        [full_frames, layout_db],
        partition_key=video_id,
        instance=platform.instance,
        resources=platform.resources,
        raise_on_error=False,
    )
    assert not result.success
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert "layout lock" in row.layout_error_details["message"]
    assert "held by editor@web" in row.layout_error_details["message"]
    assert not platform.store.exists(VideoKeys(row.tenant_id, video_id).layout_db())
    # the person still holds it
    assert not platform.catalog.acquire_server_lock(video_id, "layout", "someone", 60).acquired
