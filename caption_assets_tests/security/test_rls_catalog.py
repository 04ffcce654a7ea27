"""Tenant isolation in the catalog, enforced by Postgres itself: row-level security and the
functions' own membership checks, exercised with Supabase's roles and JWT claims for real."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest

from caption_assets.core.catalog.base import error_details
from caption_assets.core.catalog.postgres import PostgresCatalog

pytestmark = pytest.mark.security


@dataclass
class World:
    dsn: str
    tenant_a: str
    tenant_b: str
    user_a: str
    user_b: str
    video_a: str
    video_b: str
    ocr_a: str
    ocr_b: str


@pytest.fixture
def world(catalog: PostgresCatalog, catalog_dsn: str) -> World:
    ids: dict[str, str] = {}
    for name in ("a", "b"):
        t = catalog.ensure_tenant(f"tenant-{name}")
        vid = str(uuid.uuid4())
        catalog.insert_video(t.id, vid, f"{t.id}/client/videos/{vid}/video.mp4")
        catalog.acquire_server_lock(vid, "layout", f"run-{name}", 600)
        ids[f"tenant_{name}"], ids[f"video_{name}"] = t.id, vid
        ids[f"ocr_{name}"] = catalog.request_caption_ocr(vid, 7)
        ids[f"user_{name}"] = str(uuid.uuid4())
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        for name in ("a", "b"):
            conn.execute(
                "insert into captionacc.tenant_members (tenant_id, user_id) values (%s, %s)",
                (ids[f"tenant_{name}"], ids[f"user_{name}"]),
            )
    return World(dsn=catalog_dsn, **ids)


@contextmanager
def as_role(dsn: str, role: str, claims: dict[str, str] | None = None) -> Iterator[psycopg.Connection]:
    """A session as PostgREST runs a request: SET ROLE plus the verified JWT claims."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"set role {role}")
        if claims is not None:
            conn.execute("select set_config('request.jwt.claims', %s, false)", (json.dumps(claims),))
        yield conn


def user(world: World, which: str = "a") -> dict[str, str]:
    return {"sub": getattr(world, f"user_{which}"), "role": "authenticated"}


def ids(conn: psycopg.Connection, query: str, params: tuple = ()) -> set[str]:
    return {str(r[0]) for r in conn.execute(query, params).fetchall()}


def test_tenant_user_sees_only_own_rows(world: World) -> None:
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        assert ids(conn, "select id from captionacc.videos") == {world.video_a}
        assert ids(conn, "select id from captionacc.tenants") == {world.tenant_a}
        assert ids(conn, "select id from captionacc.caption_ocr_requests") == {world.ocr_a}
        assert (
            ids(conn, "select id from captionacc.caption_ocr_requests where video_id = %s", (world.video_b,))
            == set()
        )
        assert ids(conn, "select video_id from captionacc.video_database_state") == {world.video_a}
        assert ids(conn, "select user_id from captionacc.tenant_members") == {world.user_a}


def test_tenant_user_cannot_change_or_add_rows_of_another_tenant(world: World) -> None:
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        cur = conn.execute("update captionacc.videos set deleted_at = now() where id = %s", (world.video_b,))
        assert cur.rowcount == 0  # invisible, so untouched
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            vid = str(uuid.uuid4())
            conn.execute(
                "insert into captionacc.videos (id, tenant_id, storage_key) values (%s, %s, %s)",
                (vid, world.tenant_b, f"{world.tenant_b}/client/videos/{vid}/video.mp4"),
            )
        with pytest.raises(psycopg.Error):
            conn.execute(
                "insert into captionacc.caption_ocr_requests (video_id, caption_id) values (%s, 1)",
                (world.video_b,),
            )
        for call, args in [
            ("select captionacc.set_video_status(%s, 'layout_status', 'wait')", (world.video_b,)),
            ("select captionacc.approve_layout(%s)", (world.video_b,)),
            ("select captionacc.mark_video_deleted(%s)", (world.video_b,)),
            ("select captionacc.acquire_client_lock(%s, 'captions', 'x', 60)", (world.video_b,)),
            ("select captionacc.request_caption_ocr(%s, 3)", (world.video_b,)),
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for video"):
                conn.execute(call, args)
        # server locks are not for users at all (test_lock_rights)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for function"):
            conn.execute("select captionacc.release_server_lock(%s, 'layout', 'run-b')", (world.video_b,))
    with psycopg.connect(world.dsn) as conn:
        row = conn.execute(
            "select deleted_at, layout_status from captionacc.videos where id = %s", (world.video_b,)
        ).fetchone()
        assert row == (None, "wait")
        (holder,) = conn.execute(
            "select lock_holder from captionacc.video_database_state where video_id = %s", (world.video_b,)
        ).fetchone()
        assert holder == "run-b"


def test_tenant_user_works_on_own_tenant_within_limits(world: World, catalog: PostgresCatalog) -> None:
    catalog.begin_processing(world.video_a, "layout_status")
    catalog.set_status(world.video_a, "layout_status", "error", error_details("bad", "X", "r"))
    with as_role(world.dsn, "authenticated", user(world)) as conn:
        vid = str(uuid.uuid4())
        conn.execute(
            "insert into captionacc.videos (id, tenant_id, storage_key) values (%s, %s, %s)",
            (vid, world.tenant_a, f"{world.tenant_a}/client/videos/{vid}/video.mp4"),
        )
        # statuses only through the functions, and a user may only send work back to 'wait'
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "update captionacc.videos set layout_status = 'done' where id = %s", (world.video_a,)
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only set"):
            conn.execute("select captionacc.set_video_status(%s, 'layout_status', 'done')", (world.video_a,))
        conn.execute("select captionacc.set_video_status(%s, 'layout_status', 'wait')", (world.video_a,))
        assert conn.execute(
            "select captionacc.acquire_client_lock(%s, 'captions', 'sess', 60)", (world.video_a,)
        ).fetchone() == (True,)
        # the orchestrator's functions are not for users
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select captionacc.begin_processing(%s, 'layout_status')", (world.video_a,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from captionacc.pending_uploads(10)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from captionacc.clear_stale_locks()")
    v = catalog.get_video(world.video_a)
    assert v is not None and v.layout_status == "wait" and v.processing_attempt == 1


def test_user_without_membership_or_claims_sees_nothing(world: World) -> None:
    stranger = {"sub": str(uuid.uuid4()), "role": "authenticated"}
    with as_role(world.dsn, "authenticated", stranger) as conn:
        assert ids(conn, "select id from captionacc.videos") == set()
        assert ids(conn, "select id from captionacc.tenants") == set()
    with as_role(world.dsn, "authenticated") as conn:
        assert ids(conn, "select id from captionacc.videos") == set()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select captionacc.acquire_server_lock(%s, 'captions', 'x', 60)", (world.video_a,))


def test_anon_sees_nothing(world: World) -> None:
    with as_role(world.dsn, "anon", {"role": "anon"}) as conn:
        for query in (
            "select id from captionacc.videos",
            "select id from captionacc.caption_ocr_requests",
            f"select captionacc.acquire_server_lock('{world.video_a}', 'layout', 'x', 60)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)


def test_service_role_sees_and_runs_everything(world: World) -> None:
    with as_role(world.dsn, "service_role", {"role": "service_role"}) as conn:
        assert ids(conn, "select id from captionacc.videos") == {world.video_a, world.video_b}
        assert ids(conn, "select id from captionacc.caption_ocr_requests") == {world.ocr_a, world.ocr_b}
        assert ids(conn, "select video_id from captionacc.pending_uploads(10)") == {
            world.video_a,
            world.video_b,
        }
        assert conn.execute(
            "select captionacc.begin_processing(%s, 'layout_status')", (world.video_b,)
        ).fetchone() == (0,)
        assert conn.execute(
            "select captionacc.acquire_server_lock(%s, 'captions', 'orchestrator', 60)", (world.video_b,)
        ).fetchone() == (True,)
        assert len(conn.execute("select * from captionacc.claim_caption_ocr_requests(10)").fetchall()) == 2


def test_every_table_has_rls_and_no_function_is_public(catalog_dsn: str) -> None:
    with psycopg.connect(catalog_dsn) as conn:
        without_rls = conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'captionacc' and c.relkind = 'r' and not c.relrowsecurity"
        ).fetchall()
        assert without_rls == []
        public_functions = conn.execute(
            "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
            "where n.nspname = 'captionacc' and has_function_privilege('anon', p.oid, 'execute')"
        ).fetchall()
        assert public_functions == []
        # security definer functions must pin their search_path
        unpinned = conn.execute(
            "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
            "where n.nspname = 'captionacc' and p.prosecdef "
            "and not exists (select 1 from unnest(p.proconfig) c where c like 'search_path=%%')"
        ).fetchall()
        assert unpinned == []
