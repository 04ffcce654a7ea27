"""Transient failures against the real server: lost connections are retried, refusals are not."""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest

from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.errors import StatusTransitionError

pytestmark = pytest.mark.integration


def kill_pool_connections(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = current_database() and application_name = 'caption_assets-catalog'"
        ).fetchall()
    return len(rows)


def test_lost_connections_are_retried(catalog_dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    with PostgresCatalog(catalog_dsn, min_size=2, max_size=2, retry_initial_wait=0.01) as catalog:
        t = catalog.ensure_tenant("retry")
        vid = str(uuid.uuid4())
        catalog.insert_video(t.id, vid, f"{t.id}/client/videos/{vid}/video.mp4")
        assert kill_pool_connections(catalog_dsn) >= 1
        with caplog.at_level(logging.WARNING, logger="caption_assets.core.catalog.postgres"):
            assert catalog.begin_processing(vid, "layout_status") == 0
        retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
        assert retried and vid in retried[0] and "begin_processing" in retried[0]
        assert catalog.get_video(vid).layout_status == "processing"  # type: ignore[union-attr]


def test_refused_transition_is_not_retried(
    catalog: PostgresCatalog, caplog: pytest.LogCaptureFixture
) -> None:
    t = catalog.ensure_tenant("retry")
    vid = str(uuid.uuid4())
    catalog.insert_video(t.id, vid, f"{t.id}/client/videos/{vid}/video.mp4")
    with caplog.at_level(logging.WARNING, logger="caption_assets.core.catalog.postgres"):
        with pytest.raises(StatusTransitionError, match=f"set layout_status=done for video {vid}"):
            catalog.set_status(vid, "layout_status", "done")
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
