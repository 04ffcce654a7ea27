"""Reprocessing a tenant's users can ask for is bounded in SQL: duplicate OCR requests are one
request, and approvals and OCR requests are rate limited per tenant."""

from __future__ import annotations

import uuid

import dagster as dg
import psycopg
import pytest

from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.defs.sensors.ocr_requests import caption_ocr_requests
from caption_assets_tests.security.test_rls_catalog import World, as_role, user, world  # noqa: F401

pytestmark = pytest.mark.security

DUPLICATES = 10_000


def queued(dsn: str, video_id: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select caption_id from captionacc.caption_ocr_requests "
            "where video_id = %s and status = 'queued' order by caption_id",
            (video_id,),
        ).fetchall()
    return [r[0] for r in rows]


def test_ten_thousand_duplicate_ocr_requests_are_one(world: World) -> None:
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        conn.execute(
            "insert into captionacc.caption_ocr_requests (video_id, caption_id) "
            "select %s, 3 from generate_series(1, %s)",
            (world.video_a, DUPLICATES),
        )
        # the request queued by the fixture (caption 7) is not queued again either
        conn.execute(
            "insert into captionacc.caption_ocr_requests (video_id, caption_id) values (%s, 7)",
            (world.video_a,),
        )
    assert queued(world.dsn, world.video_a) == [3, 7]


def test_ocr_requests_are_rate_limited_per_tenant(world: World) -> None:
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        with pytest.raises(psycopg.Error, match="at most 600 caption ocr request per minute"):
            conn.execute(
                "insert into captionacc.caption_ocr_requests (video_id, caption_id) "
                "select %s, g from generate_series(100, 1100) g",
                (world.video_a,),
            )
    assert queued(world.dsn, world.video_a) == [7]
    # another tenant's users are not affected
    with as_role(world.dsn, "authenticated", user(world, "b")) as conn:
        conn.execute("select captionacc.request_caption_ocr(%s, 8)", (world.video_b,))
    assert queued(world.dsn, world.video_b) == [7, 8]


def test_approvals_are_rate_limited_per_tenant(
    world: World, catalog: PostgresCatalog, catalog_dsn: str
) -> None:
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute("update captionacc.rate_limits set per_minute = 2 where action = 'approve_layout'")
    videos = []
    for _ in range(3):
        vid = str(uuid.uuid4())
        catalog.insert_video(world.tenant_a, vid, f"{world.tenant_a}/client/videos/{vid}/video.mp4")
        catalog.begin_processing(vid, "layout_status")
        catalog.set_status(vid, "layout_status", "annotate")
        videos.append(vid)
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        for vid in videos[:2]:
            conn.execute("select captionacc.approve_layout(%s)", (vid,))
        with pytest.raises(psycopg.Error, match="at most 2 approve layout per minute"):
            conn.execute("select captionacc.approve_layout(%s)", (videos[2],))
    assert catalog.get_video(videos[2]).layout_approved_at is None  # type: ignore[union-attr]
    # the orchestrator's own approvals (auto-approve) are not limited
    catalog.approve_layout(videos[2])


def test_duplicate_requests_are_answered_once(platform, catalog_dsn, not_a_video) -> None:
    video_id = platform.upload(not_a_video)
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute(
            "insert into captionacc.caption_ocr_requests (video_id, caption_id) "
            "select %s, 5 from generate_series(1, %s)",
            (video_id, DUPLICATES),
        )
    context = dg.build_sensor_context(instance=platform.instance, resources=platform.resources)
    # the video has no captions.db yet: the one request is answered at once, no run
    assert not caption_ocr_requests(context).run_requests
    with psycopg.connect(catalog_dsn) as conn:
        rows = conn.execute(
            "select status, count(*) from captionacc.caption_ocr_requests "
            "where video_id = %s group by status",
            (video_id,),
        ).fetchall()
    assert rows == [("error", 1)]
