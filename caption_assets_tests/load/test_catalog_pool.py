"""The pool reuses its connections under load, and the sensors' query stays fast with many rows."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import sql

from caption_assets.core.catalog.postgres import PostgresCatalog

pytestmark = pytest.mark.load


def backends(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        (n,) = conn.execute(
            "select count(*) from pg_stat_activity "
            "where datname = current_database() and application_name = 'caption_assets-catalog'"
        ).fetchone()
    return n


def test_thousand_calls_reuse_pooled_connections(catalog_dsn: str) -> None:
    with PostgresCatalog(catalog_dsn, min_size=2, max_size=4) as catalog:
        t = catalog.ensure_tenant("load")
        vid = str(uuid.uuid4())
        catalog.insert_video(t.id, vid, f"{t.id}/client/videos/{vid}/video.mp4")
        for _ in range(20):  # warm up
            catalog.get_video(vid)
        warm = backends(catalog_dsn)

        def call(i: int) -> None:
            if i % 2:
                catalog.acquire_server_lock(vid, "layout", "load-runner", 60)
            else:
                assert catalog.get_video(vid) is not None

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(call, range(1000)))
        after = backends(catalog_dsn)
        stats = catalog._pool.get_stats()

    assert warm >= 2
    assert after <= 4, f"pool grew past max_size: {after} backends"
    assert stats.get("connections_num", 0) <= 4  # connections ever opened by the pool
    assert backends(catalog_dsn) == 0  # close() returned everything


def test_pending_uploads_over_ten_thousand_rows_uses_the_partial_index(
    catalog: PostgresCatalog, catalog_dsn: str
) -> None:
    t = catalog.ensure_tenant("bulk")
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute(
            """
            insert into captionacc.videos
                (id, tenant_id, storage_key, layout_status, uploaded_at, layout_wait_since)
            select id, %(t)s::uuid, %(t)s::uuid::text || '/client/videos/' || id || '/video.mp4',
                   case when n %% 5 = 0 then 'done' else 'wait' end,
                   now() - n * interval '1 second', now() - n * interval '1 second'
              from (select gen_random_uuid() as id, n from generate_series(1, 12500) n) s
            """,
            {"t": t.id},
        )
        conn.execute("analyze captionacc.videos")
        # the function's own body, planned generically as inside the function
        (body,) = conn.execute("select prosrc from pg_proc where proname = 'pending_uploads'").fetchone()
        body = (
            body.replace("p_limit", "$1")
            .replace("p_after_wait_since", "$2")
            .replace("p_after_video_id", "$3")
        )
        conn.execute(f"prepare pending(integer, timestamptz, uuid) as {body}")
        conn.execute("set plan_cache_mode = force_generic_plan")
        plan = "\n".join(r[0] for r in conn.execute("explain execute pending(100, null, null)").fetchall())
    assert "videos_pending_idx" in plan, plan
    assert "Sort" not in plan.split("videos_pending_idx")[0], plan  # ordered by the index, no sort

    pages = 0
    after = None
    seen = 0
    cursors = []
    while page := catalog.pending_uploads(limit=1000, after=after):
        seen += len(page)
        pages += 1
        after = (page[-1].wait_since, page[-1].video_id)
        cursors.append(after)
    assert seen == 10_000 and pages == 10  # one query per page of 1,000
    first = catalog.pending_uploads(limit=100)
    assert [p.wait_since for p in first] == sorted(p.wait_since for p in first)
    # keyset paging: the last page reads as few index rows as the first, whatever lies before it
    # (an offset or a sort would read the 9,000 rows before it again)
    assert _index_rows_read(catalog_dsn, body, None) == 1000
    assert _index_rows_read(catalog_dsn, body, cursors[8]) == 1000


def _index_rows_read(dsn: str, body: str, after: tuple[object, object] | None) -> int:
    """Rows the function body's generic plan takes from videos_pending_idx for one page."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"prepare pending(integer, timestamptz, uuid) as {body}")
        conn.execute("set plan_cache_mode = force_generic_plan")
        wait_since, video_id = after or (None, None)
        # EXPLAIN takes no bound parameters: the cursor goes in as literals
        explain = sql.SQL(
            "explain (analyze, format json) execute pending(1000, {}::timestamptz, {}::uuid)"
        ).format(sql.Literal(wait_since), sql.Literal(video_id))
        ((plan,),) = conn.execute(explain).fetchall()
    scans = [n for n in _nodes(plan[0]["Plan"]) if n.get("Index Name") == "videos_pending_idx"]
    assert scans, plan
    # rows a filter dropped were read all the same
    return sum(
        (int(n["Actual Rows"]) + int(n.get("Rows Removed by Filter", 0))) * int(n["Actual Loops"])
        for n in scans
    )


def _nodes(node: dict) -> list[dict]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]
