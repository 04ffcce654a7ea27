"""What a tenant's own user may not do to their own tenant's rows (role ``authenticated`` under
row-level security, as PostgREST runs the web app's requests): declare the size the limits are
checked on, move statuses, undo or postpone a deletion, or work for a deleted tenant."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from caption_assets.core.catalog.base import error_details
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets_tests.security.test_rls_catalog import World, as_role, user, world  # noqa: F401

pytestmark = pytest.mark.security


def insert_row(conn: psycopg.Connection, tenant_id: str, **columns: object) -> str:
    vid = str(uuid.uuid4())
    names = ["id", "tenant_id", "storage_key", *columns]
    values = [vid, tenant_id, f"{tenant_id}/client/videos/{vid}/video.mp4", *columns.values()]
    conn.execute(
        f"insert into captionacc.videos ({', '.join(names)}) values ({', '.join(['%s'] * len(names))})",
        values,
    )
    return vid


def test_user_cannot_declare_the_size_or_set_statuses(world: World) -> None:
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            insert_row(conn, world.tenant_a, size_bytes=1)
        for column, value in [
            ("size_bytes", 1),
            ("layout_status", "done"),
            ("processing_attempt", 0),
            ("layout_approved_at", "2020-01-01"),
            ("layout_claimed_attempt", 0),
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(
                    f"update captionacc.videos set {column} = %s where id = %s", (value, world.video_a)
                )
        insert_row(conn, world.tenant_a, original_filename="clip.mp4")  # what the upload may say


def test_user_may_only_retry_or_reprocess(world: World, catalog: PostgresCatalog) -> None:
    # 'wait' is only the way back from a finished state: error (retry) or done (reprocess)
    catalog.begin_processing(world.video_a, "layout_status")
    catalog.set_status(world.video_a, "layout_status", "annotate")
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="retry or reprocess"):
            conn.execute("select captionacc.set_video_status(%s, 'layout_status', 'wait')", (world.video_a,))
        conn.execute("select captionacc.approve_layout(%s)", (world.video_a,))
        conn.execute("select captionacc.set_video_status(%s, 'layout_status', 'wait')", (world.video_a,))
    video = catalog.get_video(world.video_a)
    assert video is not None and (video.layout_status, video.processing_attempt) == ("wait", 1)


def test_deletion_is_final_and_not_in_the_future(world: World, catalog: PostgresCatalog) -> None:
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        with pytest.raises(psycopg.Error, match="future"):
            conn.execute(
                "update captionacc.videos set deleted_at = '2999-01-01' where id = %s", (world.video_a,)
            )
        conn.execute("update captionacc.videos set deleted_at = now() where id = %s", (world.video_a,))
        for value in (None, "2999-01-01", "2000-01-01"):
            with pytest.raises(psycopg.Error, match="deleted"):
                conn.execute(
                    "update captionacc.videos set deleted_at = %s where id = %s", (value, world.video_a)
                )
    catalog.mark_videos_purged([world.video_a])
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        with pytest.raises(psycopg.Error, match="deleted"):
            conn.execute("update captionacc.videos set deleted_at = null where id = %s", (world.video_a,))
    video = catalog.get_video(world.video_a)
    assert video is not None and video.deleted_at is not None
    assert world.video_a not in {p.video_id for p in catalog.pending_uploads(limit=100)}


def test_members_of_a_deleted_tenant_can_do_nothing(world: World, catalog: PostgresCatalog) -> None:
    catalog.begin_processing(world.video_a, "layout_status")
    catalog.set_status(world.video_a, "layout_status", "error", error_details("x", "y", "r"))
    catalog.delete_tenant(world.tenant_a)
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            insert_row(conn, world.tenant_a)
        # the tenant's rows can no longer be changed at all
        cur = conn.execute("update captionacc.videos set deleted_at = null where id = %s", (world.video_a,))
        assert cur.rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "insert into captionacc.caption_ocr_requests (video_id, caption_id) values (%s, 1)",
                (world.video_a,),
            )
        for call in (
            "select captionacc.request_caption_ocr(%s, 3)",
            "select captionacc.acquire_client_lock(%s, 'captions', 'sess', 60)",
            "select captionacc.set_video_status(%s, 'layout_status', 'wait')",
        ):
            with pytest.raises(psycopg.Error, match="not active"):
                conn.execute(call, (world.video_a,))
    video = catalog.get_video(world.video_a)
    assert video is not None and video.deleted_at is not None and video.layout_status == "error"
    # the other tenant is untouched
    with as_role(world.dsn, "authenticated", user(world, "b")) as conn:
        insert_row(conn, world.tenant_b)
