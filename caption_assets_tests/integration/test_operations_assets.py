"""The operations assets over a run history made by running the jobs for real (embedded Postgres
catalog, local store, Dagster test instance): successes, a retried transient compute failure, a
lock wait, a permanent input error and a crashed run settled by the failure sensor give exactly
the expected rates; tenant_usage adds up to the catalog; reading only the runs added since the
last materialization gives the same tables as reading everything."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
import pytest

from caption_assets.core.catalog.base import LockResult
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.compute.errors import ComputeTimeoutError
from caption_assets.core.compute.local import LocalCompute
from caption_assets.core.health.tables import read_parquet, table_key
from caption_assets.defs.assets.captions import captions_db, cropped_frames
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.assets.operations import OPERATIONS_ASSETS
from caption_assets.defs.definitions import build_definitions
from caption_assets.defs.sensors.run_status import run_failures_to_catalog

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LAYOUT = [full_frames, layout_db]
CAPTIONS = [cropped_frames, captions_db]
TABLES = ("run_health", "step_durations", "tenant_usage", "caption_quality", "webhook_availability")


def _operations(platform, full: bool = False) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        OPERATIONS_ASSETS,
        instance=platform.instance,
        resources=platform.resources,
        run_config={"ops": {"platform_records": {"config": {"full": full}}}},
    )
    assert result.success
    return result


def _tables(platform) -> dict[str, pd.DataFrame]:
    return {name: read_parquet(platform.store.get_bytes(table_key(name))) for name in TABLES}


def _crash(platform, video_id: str) -> None:
    """A video_job run whose worker died inside full_frames, settled by the failure sensor."""
    platform.catalog.begin_processing(video_id, "layout_status")
    job = build_definitions().resolve_job_def("video_job")
    run = platform.instance.create_run_for_job(job, tags={"dagster/partition": video_id})
    platform.instance.report_dagster_event(
        dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.STEP_START.value,
            job_name=run.job_name,
            step_key="full_frames",
        ),
        run_id=run.run_id,
    )
    platform.instance.report_run_failed(run, "the run worker (pid 4242) is gone")
    (failure,) = platform.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failures_to_catalog",
        dagster_instance=platform.instance,
        dagster_run=platform.instance.get_run_by_id(run.run_id),
        dagster_event=failure.dagster_event,
        resources={"catalog": platform.resources["catalog"]},
    ).for_run_failure()
    run_failures_to_catalog(context)


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, tuple[bool, str]]:
    return {
        e.asset_check_evaluation_data.check_name: (
            e.asset_check_evaluation_data.passed,
            e.asset_check_evaluation_data.severity.value,
        )
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_operations_tables_over_a_real_run_history(platform, rendered, not_a_video, monkeypatch) -> None:
    video = rendered("short_bottom").path
    done = platform.upload(video, tenant="acme", tier="free")
    bad = platform.upload(not_a_video, tenant="acme", tier="free")
    crashed = platform.upload(video, tenant="globex", tier="premium")

    assert platform.materialize(LAYOUT, done).success
    assert platform.materialize(CAPTIONS, done).success
    assert not platform.materialize(LAYOUT, bad).success  # permanent: not a video
    _crash(platform, crashed)
    first = _operations(platform)
    assert platform.catalog.get_video(crashed).layout_status == "error"

    # added after the first materialization: a transient compute failure retried once, and a
    # step that had to wait for a lock someone else held
    retried = platform.upload(video, tenant="globex", tier="premium")
    waited = platform.upload(video, tenant="globex", tier="premium")
    real_full_frames = LocalCompute.full_frames
    calls: list[str] = []

    def times_out_once(self: LocalCompute, job: Any) -> Any:
        calls.append(job.video_id)
        if calls.count(job.video_id) == 1:
            raise ComputeTimeoutError("the frames call did not finish in time", step="full_frames")
        return real_full_frames(self, job)

    monkeypatch.setattr(LocalCompute, "full_frames", times_out_once)
    assert platform.materialize(LAYOUT, retried).success
    monkeypatch.undo()

    real_acquire = PostgresCatalog.acquire_server_lock
    refused: list[str] = []

    def held_once(self: PostgresCatalog, video_id: str, database: Any, holder: str, ttl: int) -> Any:
        if video_id == waited and not refused:
            refused.append(holder)
            return LockResult(acquired=False, holder="editor@web", kind="client", expires_at=None)
        return real_acquire(self, video_id, database, holder, ttl)

    monkeypatch.setattr(PostgresCatalog, "acquire_server_lock", held_once)
    assert platform.materialize(LAYOUT, waited).success
    monkeypatch.undo()
    assert refused

    second = _operations(platform)
    incremental = _tables(platform)
    records = second.asset_materializations_for_node("platform_records")[0].metadata
    assert records["runs_added"].value == 2  # the two runs added since the first
    assert records["runs"].value == 6
    assert first.asset_materializations_for_node("platform_records")[0].metadata["runs_added"].value == 4

    health = incremental["run_health"].set_index("job")
    assert set(health.index) == {"__ephemeral_asset_job__", "video_job"}
    flows = health.loc["__ephemeral_asset_job__"]
    assert (flows["runs"], flows["succeeded"], flows["failed"]) == (5, 4, 1)
    assert flows["success_rate"] == 0.8
    assert (flows["retried_runs"], flows["retries"], flows["retry_success_rate"]) == (1, 1, 1.0)
    assert (flows["failed_input"], flows["failed_crash"]) == (1, 0)
    assert (flows["lock_waits"], flows["lock_blocked_share"]) == (1, 0.2)
    crash = health.loc["video_job"]
    assert (crash["runs"], crash["failed"], crash["failed_crash"], crash["success_rate"]) == (1, 1, 1, 0.0)
    # 4 of 6 flows succeeded: far below 95 %; the one retried flow made it; 1 of 6 blocked by a lock
    assert _checks(second) == {
        "flow_success_rate": (False, "ERROR"),
        "retry_success_rate": (True, "WARN"),
        "lock_contention": (False, "ERROR"),
        # no webhook in this history: nothing to measure passes, with a note
        "webhook_availability": (True, "WARN"),
    }
    steps = incremental["step_durations"]
    assert set(steps["step"]) == {"full_frames", "layout_db", "cropped_frames", "captions_db"}
    assert (steps["p95_s_per_60s"] >= steps["p50_s_per_60s"]).all()

    usage = incremental["tenant_usage"].set_index("tenant")
    videos = {v: platform.catalog.get_video(v) for v in (done, bad, crashed, retried, waited)}
    for tenant, ids in {"acme": [done, bad], "globex": [crashed, retried, waited]}.items():
        row = usage.loc[tenant]
        assert row["uploads"] == len(ids)
        minutes = sum(videos[v].duration_seconds or 0 for v in ids) / 60
        assert row["minutes_processed"] == pytest.approx(minutes, abs=1e-3)
        assert row["errors"] == sum(
            "error" in (videos[v].layout_status, videos[v].boundaries_status, videos[v].text_status)
            for v in ids
        )
    assert usage.loc["acme", "tier"] == "free" and usage.loc["globex", "tier"] == "premium"
    assert usage.loc["acme", "captions_done"] == 1 and usage.loc["globex", "captions_done"] == 0
    captions = platform.instance.get_latest_materialization_event(dg.AssetKey("captions_db"))
    assert usage.loc["acme", "captions"] == captions.asset_materialization.metadata["captions"].value > 0

    quality = incremental["caption_quality"]
    assert len(quality) == 1 and quality["videos"].iloc[0] == 1
    shares = quality[[c for c in quality.columns if c.startswith("share_conf")]].iloc[0]
    assert shares.sum() == pytest.approx(1.0)

    _operations(platform, full=True)
    full = _tables(platform)
    for name in TABLES:
        pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False)
