"""The text-pixel signature and change detection, on small synthetic bands."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from caption_assets.processing import signature as sig

pytestmark = pytest.mark.unit

H, W = 80, 480


_TEXTURE = cv2.resize(
    np.random.default_rng(7).uniform(40, 220, (H // 12 + 2, (2 * W) // 12 + 2)).astype(np.float32),
    (2 * W + 12, H + 12),
    interpolation=cv2.INTER_CUBIC,
)[:H].clip(0, 255).astype(np.uint8)


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


@pytest.mark.parametrize("first", [True, False])
def test_text_mask_at_a_caption_change_keeps_the_caption_shown(first: bool) -> None:
    """At the first (or last) sample of a caption only one neighbour shows it, so only one-sided
    stability is available: chance matches of the moving background stay (a few per cent), but the
    caption is kept and the sample still compares as the same caption as its caption neighbour."""
    other = [background(0), caption(background(0), "Other words")][first]
    frames = [other, caption(background(1), "Hello there"), caption(background(2), "Hello there")]
    if not first:
        frames = frames[::-1]
    mask = mask_of(frames, 1)
    assert mask.sum() > 200
    assert (mask & ~stroke_mask("Hello there")).sum() <= 0.1 * mask.sum()
    same = 2 if first else 0
    assert not sig.compare(prepared(frames[1])[0], mask, prepared(frames[same])[0], mask_of(frames, same)).changed


def test_moving_background_alone_has_no_text() -> None:
    frames = [background(seed) for seed in range(3)]
    assert mask_of(frames, 1).sum() < sig.min_text_pixels(frames[0].shape)


def test_compare_same_caption_on_moving_background_is_no_change() -> None:
    frames = [caption(background(seed), "Same words") for seed in range(4)]
    a, b = 1, 2
    result = sig.compare(prepared(frames[a])[0], mask_of(frames, a), prepared(frames[b])[0], mask_of(frames, b))
    assert not result.changed
    assert result.ratio < 0.1


@pytest.mark.parametrize("kind", ["flat", "busy"])
def test_compare_detects_new_caption_and_disappearance(kind: str) -> None:
    bgs = [background(seed, kind) for seed in range(6)]
    frames = [caption(bgs[0], "First line"), caption(bgs[1], "First line"), caption(bgs[2], "Other text"),
              caption(bgs[3], "Other text"), bgs[4], bgs[5]]
    masks = [mask_of(frames, i) for i in range(len(frames))]
    smooth = [prepared(f)[0] for f in frames]
    assert sig.compare(smooth[1], masks[1], smooth[2], masks[2]).changed
    assert not sig.compare(smooth[2], masks[2], smooth[3], masks[3]).changed
    assert sig.compare(smooth[3], masks[3], smooth[4], masks[4]).changed
    assert not sig.compare(smooth[4], masks[4], smooth[5], masks[5]).changed


def test_first_frame_of_new_state_finds_the_cut() -> None:
    bg = background(0, "flat")
    before, after = caption(bg, "Before"), caption(bg, "After!")
    natives = [before, before, after, after]  # the cut is at position 2
    smoothed = [prepared(f)[0] for f in natives]
    masks = [mask_of([before, before], 0), mask_of([after, after], 0)]
    cmp = sig.compare(smoothed[0], masks[0], smoothed[-1], masks[1])
    position = sig.first_frame_of_new_state(smoothed[0], smoothed[-1], smoothed[1:], cmp.changed_mask)
    assert position == 1  # natives[1:] = [before, after, after]: index 1 is the first "after"


def test_analysis_image_downscales_wide_bands_only() -> None:
    assert sig.analysis_image(np.zeros((100, 3840), np.uint8)).shape == (25, 960)
    assert sig.analysis_image(np.zeros((50, 640), np.uint8)).shape == (50, 640)


def test_tracker_finds_cuts_between_samples_exact_to_the_native_frame() -> None:
    """30 fps native frames over a background panning 4 px per frame; the cuts fall between 10 Hz
    samples (frames 0, 3, 6, ...). Decided states are handed over while frames still stream in."""
    from caption_assets.processing.extents import ExtentTracker

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
        (0, 6, False), (7, 52, True), (53, 70, False), (71, 119, True)]
    assert tracker.segment_count == 4 and abs(segments[1].end_time - 53 / 30) < 1e-9
