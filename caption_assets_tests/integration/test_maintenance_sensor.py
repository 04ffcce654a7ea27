"""The maintenance sensor repairs inside its tick: an expired lock is cleared and no run appears
in the runs list."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from caption_assets.defs.maintenance import maintenance

pytestmark = pytest.mark.integration


def test_maintenance_tick_clears_expired_locks_without_a_run(platform, not_a_video, catalog_dsn) -> None:
    video_id = platform.upload(not_a_video)
    assert platform.catalog.acquire_server_lock(video_id, "layout", "dead-run", 60).acquired
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute(
            "update captionacc.video_database_state set expires_at = now() - interval '1 second',"
            " acquired_at = now() - interval '1 minute' where video_id = %s and database = 'layout'",
            (video_id,),
        )
    context = dg.build_sensor_context(
        instance=platform.instance, resources={"catalog": platform.resources["catalog"]}
    )
    result = maintenance(context)
    assert isinstance(result, dg.SkipReason)
    assert "cleared 1 expired locks" in (result.skip_message or "")
    assert platform.catalog.acquire_server_lock(video_id, "layout", "someone-else", 60).acquired
    assert platform.instance.get_runs() == []
