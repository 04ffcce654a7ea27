"""The text-pixel signature and change detection, on small synthetic bands."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from caption_assets.core.processing import signature as sig

pytestmark = pytest.mark.unit

H, W = 80, 480


_TEXTURE = (
    cv2.resize(
        np.random.default_rng(7).uniform(40, 220, (H // 12 + 2, (2 * W) // 12 + 2)).astype(np.float32),
        (2 * W + 12, H + 12),
        interpolation=cv2.INTER_CUBIC,
    )[:H]
    .clip(0, 255)
    .astype(np.uint8)
)


def background(step: int, kind: str = "busy") -> np.ndarray:
    """The scene behind the caption at a 10 Hz sample: a textured scene panning 12 px per sample
    (strong gradients everywhere), or a flat colour. Assumed (as in the method's docstring): the
    texture is coarser than the caption's strokes."""
    if kind == "flat":
        return np.full((H, W), 90, np.uint8)
    return np.ascontiguousarray(_TEXTURE[:, 12 * step : 12 * step + W])


def caption(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (20, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 0, 7, cv2.LINE_AA)
    cv2.putText(out, text, (20, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 255, 4, cv2.LINE_AA)
    return out


def stroke_mask(text: str) -> np.ndarray:
    canvas = np.zeros((H, W), np.uint8)
    cv2.putText(canvas, text, (20, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 255, 7, cv2.LINE_AA)
    return cv2.dilate(canvas, np.ones((3, 3), np.uint8)) > 0


def prepared(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    analysis = sig.analysis_image(image)
    return sig.smooth(analysis), sig.edge_mask(analysis)


def mask_of(frames: list[np.ndarray], i: int) -> np.ndarray:
    smoothed, edges = prepared(frames[i])
    neighbours = [prepared(frames[j])[0] for j in (i - 1, i + 1) if 0 <= j < len(frames)]
    return sig.text_mask(edges, smoothed, neighbours)


def test_text_mask_keeps_static_caption_and_drops_moving_background() -> None:
    frames = [caption(background(seed), "Hello there") for seed in range(3)]
    mask = mask_of(frames, 1)
    inside = stroke_mask("Hello there")
    assert mask.sum() > 200
    # nearly all text pixels lie on the caption's strokes, none far away
    assert (mask & ~inside).sum() <= 0.05 * mask.sum()


def test_moving_background_alone_has_no_text() -> None:
    frames = [background(seed) for seed in range(3)]
    assert mask_of(frames, 1).sum() < sig.min_text_pixels(frames[0].shape)


def track(shown, count: int) -> list[tuple[int, int, bool]]:
    """States (first, last native frame, has text) of ``count`` native 30 fps frames."""
    from caption_assets.core.processing.extents import ExtentTracker

    tracker = ExtentTracker()
    segments: list = []
    for n in range(count):
        tracker.add_frame(n, n / 30, shown(n))
        segments += tracker.closed_segments()
    segments += tracker.finish(count / 30)
    floor = sig.min_text_pixels(segments[0].kept[0].smoothed.shape)
    return [(s.first, s.last, s.has_text(floor)) for s in segments]


def boundaries(states: list[tuple[int, int, bool]]) -> set[int]:
    return {first for first, _, _ in states[1:]}


def test_caption_over_static_busy_texture_is_seen_to_come_change_and_go() -> None:
    """Static high-contrast texture (grass, foliage) is as stable as a caption: a share of changed
    "text pixels" is diluted by it, the vanished/appeared strokes are not."""
    scene = background(0)

    def shown(n: int) -> np.ndarray:
        if 8 <= n <= 30:
            return caption(scene, "Hello")
        if 31 <= n <= 50:
            return caption(scene, "World")
        return scene

    assert {8, 31, 51} <= boundaries(track(shown, 70))


def test_one_frame_gap_between_two_captions_is_a_state_of_its_own() -> None:
    bg = background(0, "flat")

    def shown(n: int) -> np.ndarray:
        return caption(bg, "Before") if n <= 19 else bg if n == 20 else caption(bg, "After!")

    states = track(shown, 45)
    assert (20, 20, False) in states
    assert boundaries(states) == {20, 21}


def test_second_line_changing_alone_is_a_change() -> None:
    bg = background(0, "flat")

    def two(second: str) -> np.ndarray:
        out = bg.copy()
        for text, y in (("Same top", 30), (second, 70)):
            cv2.putText(out, text, (20, y), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 6, cv2.LINE_AA)
            cv2.putText(out, text, (20, y), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 255, 3, cv2.LINE_AA)
        return out

    states = track(lambda n: two("first end") if n < 23 else two("other end"), 45)
    assert boundaries(states) == {23}


def test_state_bounds_find_the_cut_between_samples() -> None:
    bg = background(0, "flat")
    before, after = caption(bg, "Before"), caption(bg, "After!")
    smoothed = [prepared(f)[0] for f in (before, before, after, after)]
    edges = prepared(after)[1]
    held = prepared(before)[1]
    change = sig.transition(held, smoothed[0], smoothed[-1], edges, smoothed[-1], edges)
    assert change.changed
    # natives after the first sample: [before, after, after]: the old state's last is position 0
    assert sig.state_bounds(smoothed[0], smoothed[-1], smoothed[1:], change) == (0, 1)


def test_caption_leaving_a_frame_before_a_scene_cut_ends_where_it_left() -> None:
    """Static textured shots: the held background outnumbers the caption's strokes and changes only
    at the cut (frame 21); the caption left at frame 20. Samples at 18 and 21: the majority of the
    vanished pixels crosses at the cut, the caption's cluster a frame earlier."""
    first, second = background(0), background(40)

    def shown(n: int) -> np.ndarray:
        if n <= 19:
            return caption(first, "Hello")
        return first if n <= 20 else second

    states = track(shown, 45)
    assert (0, 19, True) in states
    assert 20 in boundaries(states) and 21 in boundaries(states)


def test_caption_appearing_a_frame_after_a_scene_cut_starts_where_it_appeared() -> None:
    """The cut at frame 19 brings a static textured shot whose edges outnumber the caption's, which
    appears at frame 20: the caption's state starts at 20, the frame of the new shot alone is a
    state without the caption."""
    first, second = background(0), background(40)

    def shown(n: int) -> np.ndarray:
        if n <= 18:
            return first
        return second if n <= 19 else caption(second, "Hello")

    states = track(shown, 45)
    assert (19, 19, False) in states
    assert states[-1][:2] == (20, 44) and states[-1][2]


def test_background_that_starts_moving_does_not_end_the_caption_without_a_cut() -> None:
    """Without a cut a caption's worth of held background may start to move a frame before the
    caption leaves (frame 20 here): the caption's strokes, most of what the state held, decide."""
    scene = background(0, "flat")
    texture = np.where(background(0) > 130, 220, 40).astype(np.uint8)  # sharp-edged, like a sign

    def shown(n: int) -> np.ndarray:
        out = caption(scene, "Hello world") if n <= 20 else scene.copy()
        # a patch right of the caption, static until frame 19, then panning
        shift = 0 if n <= 19 else 4 * (n - 19)
        out[:, 400:] = texture[:, shift : shift + 80]
        return out

    states = track(shown, 45)
    assert any(first == 0 and last == 20 and text for first, last, text in states)


def test_background_that_stops_moving_does_not_delay_the_caption_without_a_cut() -> None:
    """The mirror case: a caption's worth of background comes to rest a frame after the caption
    appeared (frame 20): the caption's state starts where its strokes did."""
    scene = background(0, "flat")
    texture = np.where(background(0) > 130, 220, 40).astype(np.uint8)

    def shown(n: int) -> np.ndarray:
        out = caption(scene, "Hello world") if n >= 20 else scene.copy()
        # a patch right of the caption, panning until frame 21, then at rest
        shift = 4 * (21 - min(n, 21))
        out[:, 400:] = texture[:, shift : shift + 80]
        return out

    states = track(shown, 45)
    assert states[-1][:2] == (20, 44) and states[-1][2]


def test_analysis_image_downscales_wide_bands_only() -> None:
    assert sig.analysis_image(np.zeros((100, 3840), np.uint8)).shape == (25, 960)
    assert sig.analysis_image(np.zeros((50, 640), np.uint8)).shape == (50, 640)


def test_tracker_finds_cuts_between_samples_exact_to_the_native_frame() -> None:
    """30 fps native frames over a background panning 4 px per frame; the cuts fall between 10 Hz
    samples (frames 0, 3, 6, ...). Decided states are handed over while frames still stream in."""
    from caption_assets.core.processing.extents import ExtentTracker

    def shown(n: int) -> np.ndarray:
        scene = np.ascontiguousarray(_TEXTURE[:, 4 * n : 4 * n + W])
        if 7 <= n <= 52:
            return caption(scene, "Hello")
        if 71 <= n:
            return caption(scene, "World")
        return scene

    tracker = ExtentTracker()
    handed: list = []
    for n in range(120):
        tracker.add_frame(n, n / 30, shown(n))
        handed += tracker.closed_segments()
    assert handed, "decided states are handed over during the scan"
    segments = handed + tracker.finish(4.0)
    floor = sig.min_text_pixels(segments[0].kept[0].smoothed.shape)
    assert [(s.first, s.last, s.has_text(floor)) for s in segments] == [
        (0, 6, False),
        (7, 52, True),
        (53, 70, False),
        (71, 119, True),
    ]
    assert tracker.segment_count == 4 and abs(segments[1].end_time - 53 / 30) < 1e-9


def test_the_colour_band_is_made_only_for_samples_and_is_what_the_ocr_reads() -> None:
    """The pixel analysis runs on luma; the colour band (dearer to convert) is made once per 10 Hz
    sample, never for the native frames between, and the kept images are the colour ones."""
    from caption_assets.core.processing.extents import ExtentTracker

    made: list[int] = []

    def colour(n: int, gray: np.ndarray) -> np.ndarray:
        made.append(n)
        return np.repeat(gray[:, :, None], 3, axis=2)

    tracker = ExtentTracker()
    segments: list = []
    for n in range(60):
        gray = caption(background(0, "flat"), "Hello") if 10 <= n < 40 else background(0, "flat")
        tracker.add_frame(n, n / 30, gray, lambda n=n, g=gray: colour(n, g))
        segments += tracker.closed_segments()
    segments += tracker.finish(60 / 30)
    assert len(made) == len(set(made)) == tracker.sample_count < 30  # 10 Hz of 30 fps frames
    shown = [s for s in segments if s.has_text(sig.min_text_pixels(s.kept[0].smoothed.shape))]
    assert shown and all(v.image.ndim == 3 for s in shown for v in s.voting_samples())
