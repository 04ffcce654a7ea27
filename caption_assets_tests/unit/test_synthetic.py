"""The test-video generator: exact ground truth from the frames it writes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from caption_synthetic import (
    PRESETS,
    Cue,
    GroundTruth,
    Overlay,
    VideoSpec,
    frame_times,
    logo,
    preset,
    render_video,
    ticker,
)

pytestmark = pytest.mark.unit


def test_ground_truth_is_derived_from_written_frames(tmp_path: Path) -> None:
    spec = VideoSpec(
        width=160,
        height=96,
        fps=10,
        duration=1.0,
        font_size=14,
        background="solid",
        cues=(Cue("Hi", 0.25, 0.61), Cue("Gone", 0.91, 0.95)),
    )
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


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def test_overlays_are_drawn_with_their_own_timing_and_never_enter_the_truth(tmp_path: Path) -> None:
    base = VideoSpec(
        width=320,
        height=180,
        fps=10,
        duration=1.0,
        font_size=16,
        background="solid",
        cues=(Cue("Hello there", 0.0, 1.0),),
    )
    with_overlays = VideoSpec(
        **{
            **base.__dict__,
            "overlays": (
                Overlay("SALE", x=0.5, y=0.5, start=0.5, size=0.12, box_color=(200, 30, 30)),
                logo("TV", "top-left", size=0.12, opacity=1.0),
            ),
        }
    )
    plain = render_video(base, tmp_path / "plain.mp4")
    truth = render_video(with_overlays, tmp_path / "over.mp4")
    assert truth.captions == plain.captions  # captions only
    a, b = _frames(tmp_path / "plain.mp4"), _frames(tmp_path / "over.mp4")
    middle = (slice(70, 110), slice(120, 200))
    corner = (slice(0, 30), slice(0, 70))
    assert np.abs(a[2][middle] - b[2][middle]).max() < 12  # the sign is not up yet at 0.2 s
    assert np.abs(a[7][middle] - b[7][middle]).mean() > 30  # ... and is at 0.7 s
    assert all(np.abs(x[corner] - y[corner]).mean() > 5 for x, y in zip(a, b))  # the logo throughout
    caption_rows = slice(130, 170)
    assert np.abs(a[7][caption_rows] - b[7][caption_rows]).max() < 12  # captions untouched


def test_a_ticker_scrolls_and_scene_text_pans_with_the_background(tmp_path: Path) -> None:
    spec = VideoSpec(
        width=320,
        height=180,
        fps=10,
        duration=1.0,
        background="moving",
        seed=1,
        overlays=(
            ticker("NEWS FLASH - markets up", speed=0.5, size=0.1),
            Overlay("CAFE", x=0.5, y=0.4, size=0.12, follows_background=True),
        ),
    )
    render_video(spec, tmp_path / "t.mp4")
    frames = _frames(tmp_path / "t.mp4")
    band = frames[0][155:175].sum(axis=2)
    later = frames[4][155:175].sum(axis=2)
    # 0.4 s at half a width per second: the band's content has moved 64 px to the left
    mismatch = [np.abs(band[:, s:] - later[:, : 320 - s]).mean() for s in range(0, 120)]
    assert abs(int(np.argmin(mismatch)) - 64) <= 1
    # scene text moves exactly as the background does
    plain = _frames_of(VideoSpec(**{**spec.__dict__, "overlays": ()}), tmp_path / "bg.mp4")
    diff = [np.abs(f - p).sum(axis=2) > 60 for f, p in zip(frames, plain)]
    cols = [np.flatnonzero(d[50:95].any(axis=0)) for d in diff]
    assert cols[0].size and cols[9].size and cols[9].min() != cols[0].min()


def _frames_of(spec: VideoSpec, path: Path) -> list[np.ndarray]:
    render_video(spec, path)
    return _frames(path)
