"""One new_uploads tick over 10,000 pending uploads in the real catalog stays bounded: 100 run
requests, oldest first, deleted rows skipped, a partition request only for keys that are new.

No timing here (figures are not tests): ``python -m benchmarks.sensor_tick`` prints the tick time
at 10k rows and the daemon-side submission time separately."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from benchmarks.sensor_tick import insert_pending_uploads
from caption_assets.core.policy.priority import PRIORITY_TAG, SINCE_TAG, TENANT_TAG, TIER_TAG, VIDEO_TAG
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.sensors.uploads import new_uploads

pytestmark = [pytest.mark.load, pytest.mark.slow]

ROWS = 10_000
BATCH = 100
DELETED_EVERY = 7
START = datetime.now(UTC) - timedelta(days=2)


def _oldest_waiting(dsn: str, limit: int, offset: int = 0) -> list[tuple[str, str]]:
    """What the sensor should pick, computed independently: (video id, tier) of the oldest
    waiting, not deleted rows of active tenants."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            """select v.id::text, t.tier from captionacc.videos v
                 join captionacc.tenants t on t.id = v.tenant_id
                where v.layout_status = 'wait' and v.deleted_at is null and t.active
                order by v.layout_wait_since, v.id limit %s offset %s""",
            (limit, offset),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _tick(platform, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=platform.instance, cursor=cursor, resources=platform.resources)
    result = new_uploads(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_tick_over_ten_thousand_pending_rows_is_bounded(platform, catalog_dsn) -> None:
    catalog = platform.catalog
    tenants = [
        catalog.ensure_tenant(f"load-{tier}", tier=tier).id  # type: ignore[arg-type]
        for tier in ("free", "premium", "enterprise")
    ]
    paused = catalog.ensure_tenant("load-paused", tier="enterprise").id
    insert_pending_uploads(catalog_dsn, [*tenants, paused], ROWS, START, deleted_every=DELETED_EVERY)
    catalog.set_tenant_active(paused, False)
    with psycopg.connect(catalog_dsn) as conn:
        (waiting,) = conn.execute(
            "select count(*) from captionacc.videos where layout_status = 'wait'"
        ).fetchone()
    assert waiting == ROWS

    expected = _oldest_waiting(catalog_dsn, BATCH)
    # some of them already have their partition (added by hand in the UI, or a retry)
    known = [video_id for video_id, _ in expected[::10]]
    platform.instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, known)

    result = _tick(platform)

    assert len(result.run_requests) == BATCH
    assert [r.partition_key for r in result.run_requests] == [v for v, _ in expected]
    since = [datetime.fromisoformat(r.tags[SINCE_TAG]) for r in result.run_requests]
    assert since == sorted(since) and since[0] <= START + timedelta(seconds=2)
    tenants_ok = set(tenants)
    for request, (video_id, tier) in zip(result.run_requests, expected):
        assert request.tags[VIDEO_TAG] == video_id
        assert request.tags[TIER_TAG] == tier
        assert request.tags[TENANT_TAG] in tenants_ok  # never the paused tenant
        # two days old: past the 6 h starvation guard already
        assert request.tags[PRIORITY_TAG] == "100"
    assert len({r.run_key for r in result.run_requests}) == BATCH

    (add,) = result.dynamic_partitions_requests
    assert add.partitions_def_name == VIDEOS_PARTITION_NAME
    assert sorted(add.partition_keys) == sorted(set(v for v, _ in expected) - set(known))

    # the cursor walks on: the next tick is the next 100, nothing repeated
    following = _tick(platform, cursor=result.cursor)
    assert [r.partition_key for r in following.run_requests] == [
        v for v, _ in _oldest_waiting(catalog_dsn, BATCH, offset=BATCH)
    ]
