"""Text-pixel signature of a caption band: which pixels are caption strokes, and did they change.

Assumptions the method rests on (stated, not fitted):
- Captions are a static overlay: while one caption is shown its stroke pixels keep their luma (up to
  compression noise), whatever moves behind them.
- Caption strokes have strong local contrast against what surrounds them (outline, shadow, box or a
  contrasting background): a 3x3 morphological gradient of at least ``edge_threshold`` luma levels.
- A caption stays on screen for at least two 10 Hz samples (0.2 s); shorter flashes are not captions.

So a sample's text pixels are its high-contrast pixels that are also unchanged in a neighbouring sample
(0.1 s away, long enough for a moving background to have moved), cleaned of isolated pixels. Two
samples show the same caption when those text pixels are still unchanged between them.

Inside a caption (the samples before and after show it too) a pixel must be unchanged in *both*
neighbours: a moving background matches itself by chance in one neighbour far more often than in two
(smooth coarse textures panning behind a thin outline do so a lot), while caption strokes match in
both. At a caption change only one neighbour shows the same caption; that case is recognised by the
two-sided mask keeping less than half of what the better one-sided mask keeps, and the one-sided mask is
used. No threshold here depends on the background's kind or speed.

Whether the caption state changed between two consecutive samples a and b is not judged on those
text pixels alone: a static textured background (grass, foliage, a brick wall) is as stable as a
caption and would dilute any share of changed text pixels, and a caption over fast motion loses
pixels to the neighbourhood rules above. Instead the change itself is looked for, with what the
state held and the sample after b (c): strokes that *vanished* (high-contrast pixels unchanged over
the state's sample pairs, changed from a to b) and strokes that *appeared* (high-contrast in b and
c, changed from a to b, unchanged from b to c). A caption that appears, leaves or changes leaves a
dense, glyph-sized cluster of such pixels along its line; moving background satisfies the
three-sample condition only by scattered chance. The decision is local (the densest window one
band-height wide), so it does not depend on how much static texture surrounds the caption. It
proposes more changes than there are captions (a scene cut behind a caption also "appears"): the
text read on both sides decides whether a proposed change is a new caption (``pipeline`` merges
states that read the same), so this test is tuned to miss nothing rather than to propose nothing.

A change is placed on the native frame where most of its pixels crossed over (``state_bounds``).
At a scene cut that majority is the shot's static background, which changes all at once; a caption
leaving just before the cut, or appearing just after it, is then placed by its own glyph-sized
cluster. Assumed: a cut changes most of the band from one frame to the next, a caption's strokes
never do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import cv2
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from cv2.typing import MatLike

    from caption_assets.core.processing.ocr import Box


@dataclass(frozen=True)
class SignatureParams:
    max_width: int = 960  # analysis width; wider bands are area-downscaled (text stays >= 2 px)
    edge_threshold: int = 40  # luma levels of the 3x3 morphological gradient at a stroke boundary
    stable_delta: int = 18  # luma change (after a 3x3 blur) still counted as "unchanged"
    stable_share: float = 0.7  # share of unchanged high-contrast pixels around a caption pixel
    text_density: float = 0.06  # share of text pixels around a text pixel (a line of glyphs)
    both_share: float = 0.3  # stable_share for pixels unchanged in both neighbours (chance is rare)
    agree_share: float = 0.5  # two-sided mask / best one-sided mask above which a sample is mid-caption
    min_text_per_row: float = 1.5  # minimum text pixels per analysis row for "text present"


DEFAULT_PARAMS = SignatureParams()

_KERNEL3 = np.ones((3, 3), np.uint8)
_KERNEL2 = np.ones((2, 2), np.uint8)


def analysis_scale(width: int, params: SignatureParams = DEFAULT_PARAMS) -> float:
    return min(1.0, params.max_width / float(width))


def _u8(image: MatLike) -> NDArray[np.uint8]:
    # OpenCV's stubs type every result as "some numeric array"; its filters keep the input's
    # depth, so a uint8 image in is a uint8 image out
    return cast("NDArray[np.uint8]", image)


def analysis_image(gray: NDArray[np.uint8], params: SignatureParams = DEFAULT_PARAMS) -> NDArray[np.uint8]:
    """The band at analysis resolution (uint8)."""
    scale = analysis_scale(gray.shape[1], params)
    if scale >= 1.0:
        return np.ascontiguousarray(gray)
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return _u8(cv2.resize(gray, size, interpolation=cv2.INTER_AREA))


def smooth(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The image comparisons are made on: a 3x3 blur absorbs block and ringing noise of codecs."""
    return _u8(cv2.blur(image, (3, 3)))


def edge_mask(image: NDArray[np.uint8], params: SignatureParams = DEFAULT_PARAMS) -> NDArray[np.bool_]:
    gradient = cv2.morphologyEx(image, cv2.MORPH_GRADIENT, _KERNEL3)
    return gradient >= params.edge_threshold


def unchanged(
    a: NDArray[np.uint8], b: NDArray[np.uint8], params: SignatureParams = DEFAULT_PARAMS
) -> NDArray[np.bool_]:
    """Pixels whose (smoothed) luma differs by at most ``stable_delta``."""
    return cv2.absdiff(a, b) <= params.stable_delta


def text_mask(
    edges: NDArray[np.bool_],
    smoothed: NDArray[np.uint8],
    neighbours: list[NDArray[np.uint8]],
    params: SignatureParams = DEFAULT_PARAMS,
) -> NDArray[np.bool_]:
    """High-contrast pixels of a sample that are unchanged in a neighbouring sample, where most
    high-contrast pixels around them are unchanged too.

    Background that moves can leave single pixels unchanged by chance (smooth textures even leave small
    patches), but not whole neighbourhoods of them: around caption strokes nearly every high-contrast
    pixel is unchanged, around moving background only a minority is.
    """
    size = max(7, (edges.shape[0] // 8) | 1)
    edge_count = _counts(edges, size)
    stable = [edges & unchanged(smoothed, other, params) for other in neighbours]
    if len(neighbours) >= 2:
        both = np.logical_and.reduce(stable)
        two_sided = _clean(edge_count, both, size, params.both_share, params)
        two = np.count_nonzero(two_sided)
        # a one-sided mask is a subset of its stable pixels: when the two-sided mask keeps enough
        # against those, cleaning the one-sided masks cannot change the answer
        if two >= params.agree_share * max(np.count_nonzero(kept) for kept in stable):
            return two_sided
        one_sided = [_clean(edge_count, kept, size, params.stable_share, params) for kept in stable]
        best = max(one_sided, key=np.count_nonzero)
        if two >= params.agree_share * np.count_nonzero(best):
            return two_sided
        return best
    kept = stable[0] if stable else np.zeros(edges.shape, dtype=bool)
    return _clean(edge_count, kept, size, params.stable_share, params)


GLYPH_COVER = 0.25


def _counts(mask: NDArray[np.bool_], size: int) -> NDArray[np.int32]:
    """How many pixels of the boolean ``mask`` are set in the size x size window around each pixel
    (integer sums: exact, and twice as fast as float box filters)."""
    counts = cv2.boxFilter(
        np.ascontiguousarray(mask).view(np.uint8), cv2.CV_32S, (size, size), normalize=False
    )
    return cast("NDArray[np.int32]", counts)  # CV_32S: the depth asked for


def _clean(
    edge_count: NDArray[np.int32], kept: NDArray[np.bool_], size: int, share: float, params: SignatureParams
) -> NDArray[np.bool_]:
    """``kept`` (stable high-contrast pixels) where they make up ``share`` of the high-contrast pixels
    around them (``edge_count`` in size x size windows), without isolated pixels, where text pixels
    are dense along a line."""
    kept_count = _counts(kept, size)
    # integer comparisons throughout (shares in thousandths): float arrays cost twice as much here
    # stable pixels that are most of the high-contrast ones around them, or that alone cover a
    # glyph's share of the window (outlined glyphs cover a quarter of their box or more, chance
    # matches of moving background a few per cent): a caption over busy moving background is
    # surrounded by moving edges and fails the first test, not the second
    dense = (
        (kept_count * 1000 >= round(share * 1000) * edge_count) & (kept_count >= math.ceil(0.1 * size * size))
    ) | (kept_count >= math.ceil(GLYPH_COVER * size * size))
    mask = (kept & dense).view(np.uint8)
    # strokes are at least 2x2 at analysis scale; stray pixels are not
    mask = _u8(cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL2))
    # text is dense along its line; specks left by chance are scattered
    window: int = max(9, (kept.shape[0] // 4) | 1)  # shapes are untyped in numpy's stubs
    density = _counts(mask.view(bool), window)
    return (mask > 0) & (density >= math.ceil(params.text_density * window * window))


def min_text_pixels(shape: tuple[int, ...], params: SignatureParams = DEFAULT_PARAMS) -> int:
    """Fewest text pixels that count as a caption: a couple of characters at band-relative size."""
    return max(12, int(params.min_text_per_row * shape[0]))


@dataclass(frozen=True)
class Transition:
    """What changed between consecutive samples a and b."""

    changed: bool
    vanished: NDArray[np.bool_]  # strokes of a's state that are gone in b
    appeared: NDArray[np.bool_]  # strokes of b's state that were not in a
    score: int  # changed stroke pixels in the densest band-height-wide window


def _strokes(
    candidates: NDArray[np.bool_], params: SignatureParams, specks: bool = True
) -> NDArray[np.bool_]:
    """Glyph-like clusters of ``candidates``: as dense along their line as text pixels are (the same
    rule as for a sample's text pixels), and with ``specks`` removed (2x2 blocks at least) where
    single pixels may match by chance."""
    mask = np.ascontiguousarray(candidates).view(np.uint8)
    if specks:
        mask = _u8(cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL2))
    window: int = max(9, (candidates.shape[0] // 4) | 1)
    density = _counts(mask.view(bool), window)
    return (mask > 0) & (density >= math.ceil(params.text_density * window * window))


def transition(
    held: NDArray[np.bool_] | None,
    a: NDArray[np.uint8],
    b: NDArray[np.uint8],
    edges_b: NDArray[np.bool_],
    after: NDArray[np.uint8] | None,
    edges_after: NDArray[np.bool_] | None,
    params: SignatureParams = DEFAULT_PARAMS,
    via: NDArray[np.uint8] | None = None,
) -> Transition:
    """Did the caption state change between the smoothed samples ``a`` and ``b``? ``held`` are the
    high-contrast pixels that stayed unchanged over the current state's samples up to a (see
    ``ExtentTracker``; None when nothing was seen twice yet); ``after`` is the sample following b
    with its high-contrast pixels (None at the end of the video)."""
    moved = ~unchanged(a, b, params)
    vanished = held & moved if held is not None else np.zeros(a.shape, dtype=bool)
    if after is not None and edges_after is not None:
        appeared = edges_b & moved & unchanged(b, after, params) & edges_after
        if via is not None:
            # ``via`` is a sample between a and b (a slow fade): a fading caption's pixels pass
            # through it on their way from a to b, moving background goes anywhere
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            appeared &= (via >= lo) & (via <= hi)
    else:
        appeared = np.zeros(a.shape, dtype=bool)
    # held pixels stayed put over several samples already (chance rarely does that), and their
    # outline rims are one pixel wide: no speck removal for them
    vanished = _strokes(vanished, params, specks=False)
    appeared = _strokes(appeared, params)
    sums = _window_sums(vanished | appeared)
    score = int(sums.max()) if sums.size else 0
    return Transition(score >= min_text_pixels(a.shape, params), vanished, appeared, score)


def _window_sums(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Set pixels of ``mask`` in every window one band-height wide (the band's full height)."""
    width = max(1, min(mask.shape[1], mask.shape[0]))
    profile = np.count_nonzero(mask, axis=0)
    return np.convolve(profile, np.ones(width, dtype=np.int64), mode="valid")


def kept_share(
    strokes: NDArray[np.bool_], still: NDArray[np.bool_], params: SignatureParams = DEFAULT_PARAMS
) -> float | None:
    """Of ``strokes`` (what a caption state held), the share that is ``still`` (unchanged) in the
    next sample, in the window where the most were lost (only windows with a caption's worth of
    strokes count). None when there is no such window (nothing was held)."""
    total = _window_sums(strokes)
    dense = total >= min_text_pixels(strokes.shape, params)
    if not dense.any():
        return None
    kept = _window_sums(strokes & still)
    return float((kept[dense] / total[dense]).min())


def new_strokes(text: NDArray[np.bool_], before: NDArray[np.bool_] | None) -> NDArray[np.bool_]:
    """Of ``text`` (a sample's text pixels), those not already text pixels in ``before`` (an earlier
    sample's, same geometry; grown by a pixel for codec jitter): static texture that was there
    before drops out, strokes that came since stay. All of ``text`` when there is no ``before``."""
    if before is None or before.shape != text.shape:
        return text
    grown = cv2.dilate(np.ascontiguousarray(before).view(np.uint8), _KERNEL3) > 0
    return text & ~grown


def strokes_outside(
    text: NDArray[np.bool_], boxes: list[Box], scale: float, params: SignatureParams = DEFAULT_PARAMS
) -> bool:
    """Does ``text`` (a sample's text pixels at ``scale`` of the band) hold a caption's worth of
    strokes outside ``boxes`` (band pixels, grown by half a line so stroke rims stay inside)? Then
    something other than the boxes' lines is on screen."""
    outside = text.copy()
    for box in boxes:
        grow = box.height / 2
        y0, y1 = int((box.y0 - grow) * scale), int(np.ceil((box.y1 + grow) * scale))
        x0, x1 = int((box.x0 - grow) * scale), int(np.ceil((box.x1 + grow) * scale))
        outside[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = False
    sums = _window_sums(outside)
    return bool(sums.size) and int(sums.max()) >= min_text_pixels(text.shape, params)


def _closer(
    frame: NDArray[np.uint8], to: NDArray[np.uint8], other: NDArray[np.uint8], pixels: NDArray[np.bool_]
) -> bool:
    """Most of ``pixels`` are nearer ``to`` than ``other`` in ``frame`` (per pixel, so a fade counts
    from the frame where it is half way)."""
    return bool(2 * np.count_nonzero(_nearer(frame, to, other, pixels)) > np.count_nonzero(pixels))


def _nearer(
    frame: NDArray[np.uint8], to: NDArray[np.uint8], other: NDArray[np.uint8], pixels: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """The ``pixels`` whose value in ``frame`` is nearer ``to`` than ``other``."""
    values = frame.astype(np.int16)
    return pixels & (np.abs(values - to.astype(np.int16)) < np.abs(values - other.astype(np.int16)))


def _cluster_nearer(
    frame: NDArray[np.uint8],
    to: NDArray[np.uint8],
    other: NDArray[np.uint8],
    pixels: NDArray[np.bool_],
    params: SignatureParams,
) -> bool:
    """Does one band-height window hold a caption's worth of ``pixels`` nearer ``to`` than ``other``
    in ``frame``?"""
    sums = _window_sums(_nearer(frame, to, other, pixels))
    return bool(sums.size) and int(sums.max()) >= min_text_pixels(frame.shape, params)


def _is_cut(before: NDArray[np.uint8], frame: NDArray[np.uint8], params: SignatureParams) -> bool:
    """Did most of the band change at once from ``before`` to ``frame`` (a scene cut behind it)?"""
    return bool(2 * np.count_nonzero(~unchanged(before, frame, params)) > frame.size)


def state_bounds(
    a: NDArray[np.uint8],
    b: NDArray[np.uint8],
    between: list[NDArray[np.uint8]],
    change: Transition,
    params: SignatureParams = DEFAULT_PARAMS,
) -> tuple[int, int]:
    """Positions in ``between`` (smoothed native frames after sample a, ending with sample b) of the
    last frame that still shows a's state and the first that shows b's. When the first is more than
    one before the second, the frames between show neither (a real gap between two captions, or the
    background between a caption and the next); -1 means a's state ended at a itself.

    Each side is placed where most of its changed pixels crossed over, except at a scene cut: there
    the static background the state held outnumbers the caption's strokes and crosses all at once,
    at the cut, while the caption is a cluster that may cross a frame or two away from it. So when
    the majority crosses at a cut, a's state ends at the first frame where a caption's worth of its
    vanished strokes in one window has already gone, and b's state starts only once no such cluster
    of its appeared strokes is still missing. Both rules only shrink a state, and the frames between
    show neither. Without a cut the held pixels are mostly the caption's (moving background is not
    held), and a cluster crossing early is background that stopped or started moving."""
    last = len(between) - 1
    first_new = last
    if change.appeared.any():
        first_new = next((i for i, f in enumerate(between) if _closer(f, b, a, change.appeared)), last)
        if _is_cut(between[first_new - 1] if first_new else a, between[first_new], params):
            first_new = next(
                (
                    i
                    for i in range(first_new, last + 1)
                    if not _cluster_nearer(between[i], a, b, change.appeared, params)
                ),
                last,
            )
    last_old = first_new - 1
    if change.vanished.any():
        gone = next((i for i, f in enumerate(between) if not _closer(f, a, b, change.vanished)), last)
        if _is_cut(between[gone - 1] if gone else a, between[gone], params):
            gone = next(
                (i for i in range(gone) if _cluster_nearer(between[i], b, a, change.vanished, params)), gone
            )
        last_old = min(gone - 1, first_new - 1)
        if not change.appeared.any():
            first_new = last_old + 1
    return last_old, first_new
