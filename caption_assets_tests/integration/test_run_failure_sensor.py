"""The run-failure sensor settles the runs of every job, `video_job` (what `process` runs)
included, with the cause the run failed with."""

from __future__ import annotations

import dagster as dg
import pytest

from caption_assets.defs.definitions import build_definitions
from caption_assets_tests.fixtures.runs import settle_failed_run

pytestmark = pytest.mark.integration


def _step_started(instance: dg.DagsterInstance, run: dg.DagsterRun, step: str) -> None:
    event = dg.DagsterEvent(
        event_type_value=dg.DagsterEventType.STEP_START.value, job_name=run.job_name, step_key=step
    )
    instance.report_dagster_event(event, run_id=run.run_id)


def _fail(platform, run: dg.DagsterRun, cause: str) -> None:
    platform.instance.report_run_failed(run, cause)
    settle_failed_run(platform.instance, run.run_id, platform.resources["catalog"])


def test_steps_that_never_started_keep_their_columns(platform, not_a_video) -> None:
    """A backfill of all four assets that died in full_frames: the captions columns (here still
    processing, from another run of the video) are not this run's to settle."""
    video_id = platform.upload(not_a_video, tenant="acme", tier="free")
    platform.catalog.begin_processing(video_id, "layout_status")
    platform.catalog.begin_processing(video_id, "boundaries_status")
    platform.catalog.begin_processing(video_id, "text_status")
    job = build_definitions().resolve_job_def("video_job")
    run = platform.instance.create_run_for_job(
        job, tags={"dagster/partition": video_id, "dagster/from_ui": "true"}
    )
    _step_started(platform.instance, run, "full_frames")
    _fail(platform, run, "the run worker (pid 4242) is gone")

    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert (row.boundaries_status, row.text_status) == ("processing", "processing")

    # the same run past cropped_frames: boundaries was its step, text still was not
    other = platform.instance.create_run_for_job(job, tags={"dagster/partition": video_id})
    _step_started(platform.instance, other, "cropped_frames")
    _fail(platform, other, "the run worker (pid 4243) is gone")
    row = platform.catalog.get_video(video_id)
    assert (row.boundaries_status, row.text_status) == ("error", "processing")


def test_failed_video_job_run_is_settled_with_its_cause(platform, not_a_video) -> None:
    video_id = platform.upload(not_a_video, tenant="acme", tier="free")
    platform.catalog.begin_processing(video_id, "layout_status")
    job = build_definitions().resolve_job_def("video_job")
    run = platform.instance.create_run_for_job(job, tags={"dagster/partition": video_id})
    assert run.asset_selection is None  # what made the sensor skip video_job runs
    assert platform.catalog.acquire_server_lock(video_id, "layout", run.run_id, 600).acquired
    _step_started(platform.instance, run, "full_frames")  # the worker died inside full_frames
    cause = "the run worker (pid 4242) is gone: it crashed or was killed"
    # a worker's temporary path in the cause must not reach the tenant
    _fail(platform, run, f"{cause} reading /tmp/caption_assets_q1/video.mp4")

    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert row.layout_error_details["run_id"] == run.run_id
    assert cause in row.layout_error_details["message"]
    assert "/tmp" not in row.layout_error_details["message"]
    assert platform.catalog.acquire_server_lock(video_id, "layout", "someone-else", 60).acquired
