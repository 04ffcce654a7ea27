"""10 Hz sampling, chunk layout, frame-window geometry, full-frame indices: pure index logic."""

from __future__ import annotations

import numpy as np
import pytest

from caption_assets.core.processing.chunks import CHUNK_FRAMES, chunk_layout, level_of
from caption_assets.core.processing.pipeline import full_frame_indices
from caption_assets.core.processing.sampling import sampled
from caption_assets.core.processing.video import Region, _coded_window

pytestmark = pytest.mark.unit


def test_samples_follow_presentation_times_not_a_nominal_rate() -> None:
    times = [0.0, 0.04, 0.25, 0.26, 0.31]  # irregular: 0.04 s, then a 0.21 s hold
    got = list(sampled(((t, i) for i, t in enumerate(times)), end_time=0.45))
    # sample k shows the last frame whose time <= k/10
    assert got == [(0, 0), (1, 1), (2, 1), (3, 3), (4, 4)]


def test_chunk_levels_are_disjoint_and_cover_every_index() -> None:
    layout = chunk_layout(1000)
    seen = [i for chunks in layout.values() for chunk in chunks for i in chunk]
    assert sorted(seen) == list(range(1000))
    assert all(i % 16 == 0 for chunk in layout[16] for i in chunk)
    assert all(i % 4 == 0 and i % 16 for chunk in layout[4] for i in chunk)
    assert all(i % 4 for chunk in layout[1] for i in chunk)
    for chunks in layout.values():
        assert all(len(c) == CHUNK_FRAMES for c in chunks[:-1])
        assert 0 < len(chunks[-1]) <= CHUNK_FRAMES
    assert [level_of(i) for i in (0, 4, 5, 16, 32, 36)] == [16, 4, 1, 16, 16, 4]


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_display_region_maps_to_the_stored_frame(turns: int) -> None:
    coded = np.arange(6 * 10).reshape(6, 10)
    display = np.rot90(coded, turns)
    region = Region(1, 2, 3, 2)
    y0, y1, x0, x1 = _coded_window(region, turns, coded.shape[1], coded.shape[0])
    crop = np.rot90(coded[y0:y1, x0:x1], turns)
    assert np.array_equal(crop, display[2:4, 1:4])


def test_full_frame_indices() -> None:
    assert full_frame_indices(600.0) == list(range(0, 6000, 100))
    short = full_frame_indices(5.0)
    assert len(short) == 20 and short[0] == 0 and max(short) < 50
    assert full_frame_indices(0.5) == list(range(5))


def test_region_even_alignment_stays_inside_the_frame() -> None:
    r = Region(3, 5, 101, 33).even(104, 40)
    assert r.x % 2 == r.y % 2 == r.width % 2 == r.height % 2 == 0
    assert r.x + r.width <= 104 and r.y + r.height <= 40


@pytest.mark.parametrize("gop", [5, 1000])
def test_frames_at_seeks_to_the_same_frames_as_decoding_everything(tmp_path, gop: int) -> None:
    """Keyframe-aware seeking (short GOPs) and decoding straight through (one GOP) pick exactly the
    frame on screen at each target time, as the linear 10 Hz sampler does; VFR timestamps."""
    from caption_assets.core.processing.video import frames_at, iter_frames
    from caption_synthetic import VideoSpec, frame_times, render_video

    times = tuple(round(0.05 * i + (0.02 if i % 3 == 0 else 0.0), 4) for i in range(60))
    spec = VideoSpec(width=96, height=64, duration=3.0, timestamps=times, gop=gop, background="noise")
    video = tmp_path / "v.mp4"
    render_video(spec, video)
    decoded = [(d.time, d.frame.to_ndarray(format="gray")) for d in iter_frames(video)]
    wanted = [0.0, 0.1, 0.37, 1.2, 1.25, 2.9, 2.95]
    got = [frame.to_ndarray(format="gray") for _, frame in frames_at(video, wanted)]
    assert len(got) == len(wanted) and len(frame_times(spec)) == len(decoded)
    for target, image in zip(wanted, got):
        on_screen = max(i for i, (t, _) in enumerate(decoded) if t <= target + 1e-9)
        assert np.array_equal(image, decoded[on_screen][1]), target
