"""Progress of the heavy steps in the run's log: each in-process step reports its count from zero
to the end, in the one line format ``caption-assets process`` and the UI's run logs show."""

from __future__ import annotations

import dagster as dg
import pytest

from caption_assets.core.processing.progress import ProgressLine, parse_progress_line
from caption_assets.defs.assets.captions import captions_db, cropped_frames
from caption_assets.defs.assets.layout import full_frames, layout_db

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _progress(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[ProgressLine]]:
    found: dict[str, list[ProgressLine]] = {}
    for entry in instance.all_logs(run_id):
        line = parse_progress_line(entry.user_message) if entry.dagster_event is None else None
        if line is not None:
            assert line.step == entry.step_key  # logged by the step it describes
            found.setdefault(line.step, []).append(line)
    return found


def test_each_step_logs_its_progress_from_start_to_end(platform, rendered) -> None:
    video = rendered("short_bottom")
    video_id = platform.upload(video.path, tenant="acme", tier="premium")
    layout = platform.materialize([full_frames, layout_db], video_id)
    assert layout.success
    captions = platform.materialize([cropped_frames, captions_db], video_id)
    assert captions.success
    got = {**_progress(platform.instance, layout.run_id), **_progress(platform.instance, captions.run_id)}
    assert set(got) == {"full_frames", "layout_db", "cropped_frames", "captions_db"}

    row = platform.catalog.get_video(video_id)
    frames = got["full_frames"]
    # from nothing decoded to every sampled full frame, in the words of the report
    assert (frames[0].done, frames[-1].done) == (0, frames[-1].total)
    assert frames[-1].what == "frames decoded" and frames[-1].total >= 20
    assert got["layout_db"][-1].done == got["layout_db"][-1].total == frames[-1].total
    assert got["layout_db"][-1].what == "frames read"
    scan = got["cropped_frames"]
    assert scan[0].done == 0
    # the final report counts the native frames the scan saw, and the caption states it found
    assert scan[-1].done == scan[-1].total == row.total_frames
    assert scan[-1].what.startswith("frames scanned, ")
    states = int(scan[-1].what.removeprefix("frames scanned, ").split()[0])
    assert states >= len(video.truth.captions)
    (joined,) = got["captions_db"]
    n = len(video.truth.captions)
    assert joined.what == f"caption states joined into {n} caption{'' if n == 1 else 's'}"
    # throttled: a report now and then, not one per frame scanned
    assert len(scan) < scan[-1].total // 10, scan
