"""The test-video generator: exact ground truth from the frames it writes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from caption_assets.synthetic import PRESETS, Cue, GroundTruth, VideoSpec, frame_times, preset, render_video

pytestmark = pytest.mark.unit


def test_ground_truth_is_derived_from_written_frames(tmp_path: Path) -> None:
    spec = VideoSpec(width=160, height=96, fps=10, duration=1.0, font_size=14, background="solid",
                     cues=(Cue("Hi", 0.25, 0.61), Cue("Gone", 0.91, 0.95)))
    truth = render_video(spec, tmp_path / "v.mp4")
    assert truth.frame_count == 10
    (cue,) = truth.captions
    assert (cue.first_frame, cue.last_frame) == (3, 6)  # frames at 0.3..0.6 s
    assert cue.start_seconds == pytest.approx(0.3) and cue.end_seconds == pytest.approx(0.7)
    assert truth.skipped == ["Gone"]  # no frame falls inside 0.91..0.95 s
    assert GroundTruth.from_json(truth.to_json()) == truth
    with av.open(str(tmp_path / "v.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 10


def test_rotation_is_stored_as_display_matrix(tmp_path: Path) -> None:
    spec = VideoSpec(width=96, height=160, fps=5, duration=0.4, rotation=90, background="gradient")
    render_video(spec, tmp_path / "r.mp4")
    with av.open(str(tmp_path / "r.mp4")) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (160, 96)
        assert frame.rotation == 90
        display = np.rot90(frame.to_ndarray(format="rgb24"), 1)
        assert display.shape[:2] == (160, 96)


def test_vfr_timestamps_and_presets() -> None:
    times = frame_times(preset("vfr"))
    steps = np.round(np.diff(times), 4)
    assert {0.0417, 0.0167} <= set(steps.tolist())
    for name in PRESETS:
        assert preset(name).cues is not None
    with pytest.raises(ValueError):
        preset("nope")
