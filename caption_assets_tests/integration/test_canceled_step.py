"""A step that fails after its run was canceled leaves the video's error to whoever canceled it.

`caption-assets process` stopped by a signal cancels its run, records "interrupted ... run it
again" and removes its temp dir while the run's thread may still be inside a step; the step then
fails on the missing file. That failure must not overwrite the reason a person can act on with a
temp path and an errno (seen in a clean-clone run of the signal test, which races on it)."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import error_details
from caption_assets.core.errors import BadVideoError
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets_tests.fixtures.faults import (  # noqa: F401 - fixtures
    Background,
    gate,
    materialize,
)

pytestmark = pytest.mark.integration

REASON = "interrupted by SIGINT: run it again to process the file"


def _running_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    (run,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return run


def test_a_step_failing_after_its_run_was_canceled_keeps_the_cancellers_reason(
    platform: Any, rendered: Any, gate: Any
) -> None:
    g, compute = gate
    video_id = platform.upload(rendered("short_bottom").path)
    g.hold("full_frames")

    def stopper() -> None:
        # what `process`'s signal handler does while the step is inside its compute call
        g.wait_entered("full_frames")
        run = _running_run(platform.instance)
        platform.instance.report_run_canceled(run, message=REASON)
        lifecycle.layout_failed(
            platform.catalog, video_id, error_details(message=REASON, error="interrupted", run_id=run.run_id)
        )
        g.release("full_frames", BadVideoError("video.mp4: no such file (its temp dir was removed)"))

    with Background(stopper, cleanup=g.release_all):
        result = materialize(platform, [full_frames, layout_db], video_id, compute=compute)

    assert not result.success
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert row.layout_error_details["message"] == REASON


def test_a_step_failing_in_a_running_run_records_its_own_error(
    platform: Any, rendered: Any, gate: Any
) -> None:
    g, compute = gate
    video_id = platform.upload(rendered("short_bottom").path)
    g.fail("full_frames", BadVideoError("video.mp4 has no video stream"))

    result = materialize(platform, [full_frames, layout_db], video_id, compute=compute)

    assert not result.success
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert "no video stream" in row.layout_error_details["message"]
