"""The run-failure sensor settles the runs of every job, `video_job` (what `process` runs)
included, with the cause the run failed with."""

from __future__ import annotations

import dagster as dg
import pytest

from caption_assets.defs.definitions import build_definitions
from caption_assets.defs.sensors.run_status import run_failures_to_catalog

pytestmark = pytest.mark.integration


def test_failed_video_job_run_is_settled_with_its_cause(platform, not_a_video) -> None:
    video_id = platform.upload(not_a_video, tenant="acme", tier="free")
    platform.catalog.begin_processing(video_id, "layout_status")
    job = build_definitions().resolve_job_def("video_job")
    run = platform.instance.create_run_for_job(job, tags={"dagster/partition": video_id})
    assert run.asset_selection is None  # what made the sensor skip video_job runs
    assert platform.catalog.acquire_server_lock(video_id, "layout", run.run_id, 600).acquired
    cause = "the run worker (pid 4242) is gone: it crashed or was killed"
    # a worker's temporary path in the cause must not reach the tenant
    platform.instance.report_run_failed(run, f"{cause} reading /tmp/caption_assets_q1/video.mp4")
    (failure,) = platform.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)

    context = dg.build_run_status_sensor_context(
        sensor_name="run_failures_to_catalog",
        dagster_instance=platform.instance,
        dagster_run=platform.instance.get_run_by_id(run.run_id),
        dagster_event=failure.dagster_event,
        resources={"catalog": platform.resources["catalog"]},
    ).for_run_failure()
    run_failures_to_catalog(context)

    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert row.layout_error_details["run_id"] == run.run_id
    assert cause in row.layout_error_details["message"]
    assert "/tmp" not in row.layout_error_details["message"]
    assert platform.catalog.acquire_server_lock(video_id, "layout", "someone-else", 60).acquired
