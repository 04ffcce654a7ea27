"""Server/client locks on (video, database): one compare-and-set, one winner, only the holder
releases, expired locks are taken over and reported."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from caption_assets.core.catalog.base import LockResult
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.errors import BadInputError, LockHeldError, NotFoundError

pytestmark = pytest.mark.integration


def new_video(catalog: PostgresCatalog, tenant: str = "acme") -> str:
    t = catalog.ensure_tenant(tenant)
    vid = str(uuid.uuid4())
    catalog.insert_video(t.id, vid, f"{t.id}/client/videos/{vid}/video.mp4")
    return vid


def expire(dsn: str, video_id: str, database: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "update captionacc.video_database_state set expires_at = now() - interval '1 second',"
            " acquired_at = now() - interval '1 minute' where video_id = %s and database = %s",
            (video_id, database),
        )


def test_sixteen_threads_race_exactly_one_wins(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    barrier = threading.Barrier(16)

    def contend(i: int) -> tuple[str, LockResult]:
        barrier.wait()
        return f"run-{i}", catalog.acquire_server_lock(vid, "captions", f"run-{i}", 60)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(contend, range(16)))

    winners = [holder for holder, r in results if r.acquired]
    assert len(winners) == 1
    winner = winners[0]
    for holder, r in results:
        if holder != winner:
            assert r.holder == winner and r.kind == "server" and r.expires_at is not None
            with pytest.raises(LockHeldError) as info:
                catalog.require_server_lock(vid, "captions", holder, 60)
            assert f"held by {winner} until " in str(info.value)
            assert vid in str(info.value)

    # a loser cannot release it, the holder can, then a loser gets it
    loser = next(h for h, _ in results if h != winner)
    assert catalog.release_server_lock(vid, "captions", loser) is False
    assert catalog.release_server_lock(vid, "captions", winner) is True
    assert catalog.release_server_lock(vid, "captions", winner) is False
    assert catalog.acquire_server_lock(vid, "captions", loser, 60).acquired


def test_holder_renews_and_keeps_acquired_at(catalog: PostgresCatalog, catalog_dsn: str) -> None:
    vid = new_video(catalog)
    first = catalog.acquire_server_lock(vid, "layout", "run-a", 10)
    renewed = catalog.acquire_server_lock(vid, "layout", "run-a", 600)
    assert first.acquired and renewed.acquired
    assert renewed.expires_at is not None and first.expires_at is not None
    assert renewed.expires_at > first.expires_at
    with psycopg.connect(catalog_dsn) as conn:
        (count,) = conn.execute("select count(*) from captionacc.video_database_state").fetchone()
    assert count == 1


def test_locks_of_two_databases_are_independent(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    assert catalog.acquire_server_lock(vid, "layout", "run-a", 60).acquired
    assert catalog.acquire_server_lock(vid, "captions", "run-b", 60).acquired
    assert not catalog.acquire_server_lock(vid, "layout", "run-b", 60).acquired


def test_expired_lock_is_taken_over(catalog: PostgresCatalog, catalog_dsn: str) -> None:
    vid = new_video(catalog)
    assert catalog.acquire_server_lock(vid, "layout", "crashed-run", 60).acquired
    expire(catalog_dsn, vid, "layout")
    taken = catalog.acquire_server_lock(vid, "layout", "new-run", 60)
    assert taken.acquired and taken.holder == "new-run"
    # the old holder lost it: neither renew nor release works for it any more
    assert not catalog.acquire_server_lock(vid, "layout", "crashed-run", 60).acquired
    assert catalog.release_server_lock(vid, "layout", "crashed-run") is False


def test_server_and_client_locks_exclude_each_other(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    assert catalog.acquire_client_lock(vid, "captions", "user-session-1", 60).acquired
    blocked = catalog.acquire_server_lock(vid, "captions", "run-1", 60)
    assert not blocked.acquired and blocked.kind == "client" and blocked.holder == "user-session-1"
    # same holder string but other kind is not a renewal
    assert not catalog.acquire_server_lock(vid, "captions", "user-session-1", 60).acquired
    assert catalog.release_server_lock(vid, "captions", "user-session-1") is False
    assert catalog.release_client_lock(vid, "captions", "user-session-1") is True

    assert catalog.acquire_server_lock(vid, "captions", "run-1", 60).acquired
    refused = catalog.acquire_client_lock(vid, "captions", "user-session-1", 60)
    assert not refused.acquired and refused.kind == "server" and refused.holder == "run-1"


def test_clear_stale_locks_reports_and_frees_only_expired(catalog: PostgresCatalog, catalog_dsn: str) -> None:
    stale_vid, live_vid = new_video(catalog), new_video(catalog)
    catalog.acquire_server_lock(stale_vid, "layout", "dead-run", 60)
    catalog.acquire_server_lock(live_vid, "layout", "live-run", 60)
    expire(catalog_dsn, stale_vid, "layout")

    cleared = catalog.clear_stale_locks()
    assert [(s.video_id, s.database, s.holder) for s in cleared] == [(stale_vid, "layout", "dead-run")]
    assert catalog.clear_stale_locks() == []
    assert catalog.acquire_server_lock(stale_vid, "layout", "next-run", 60).acquired
    assert not catalog.acquire_server_lock(live_vid, "layout", "next-run", 60).acquired


def test_bad_lock_arguments_are_refused(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    with pytest.raises(BadInputError):
        catalog.acquire_server_lock(vid, "frames", "run", 60)  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match=vid):
        catalog.acquire_server_lock(vid, "layout", "run", 0)
    with pytest.raises(BadInputError, match=vid):
        catalog.acquire_server_lock(vid, "layout", "", 60)
    with pytest.raises(BadInputError):
        catalog.acquire_server_lock("../etc", "layout", "run", 60)
    missing = str(uuid.uuid4())
    with pytest.raises(NotFoundError, match=missing):
        catalog.acquire_server_lock(missing, "layout", "run", 60)
