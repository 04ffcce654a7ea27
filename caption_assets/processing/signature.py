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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SignatureParams:
    max_width: int = 960  # analysis width; wider bands are area-downscaled (text stays >= 2 px)
    edge_threshold: int = 40  # luma levels of the 3x3 morphological gradient at a stroke boundary
    stable_delta: int = 18  # luma change (after a 3x3 blur) still counted as "unchanged"
    change_ratio: float = 0.25  # share of text pixels that must change for a new caption state
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


def analysis_image(gray: np.ndarray, params: SignatureParams = DEFAULT_PARAMS) -> np.ndarray:
    """The band at analysis resolution (uint8)."""
    scale = analysis_scale(gray.shape[1], params)
    if scale >= 1.0:
        return np.ascontiguousarray(gray)
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def smooth(image: np.ndarray) -> np.ndarray:
    """The image comparisons are made on: a 3x3 blur absorbs block and ringing noise of codecs."""
    return cv2.blur(image, (3, 3))


def edge_mask(image: np.ndarray, params: SignatureParams = DEFAULT_PARAMS) -> np.ndarray:
    gradient = cv2.morphologyEx(image, cv2.MORPH_GRADIENT, _KERNEL3)
    return gradient >= params.edge_threshold


def unchanged(a: np.ndarray, b: np.ndarray, params: SignatureParams = DEFAULT_PARAMS) -> np.ndarray:
    """Pixels whose (smoothed) luma differs by at most ``stable_delta``."""
    return cv2.absdiff(a, b) <= params.stable_delta


def text_mask(
    edges: np.ndarray,
    smoothed: np.ndarray,
    neighbours: list[np.ndarray],
    params: SignatureParams = DEFAULT_PARAMS,
) -> np.ndarray:
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


def _counts(mask: np.ndarray, size: int) -> np.ndarray:
    """How many pixels of the boolean ``mask`` are set in the size x size window around each pixel
    (integer sums: exact, and twice as fast as float box filters)."""
    return cv2.boxFilter(np.ascontiguousarray(mask).view(np.uint8), cv2.CV_32S, (size, size), normalize=False)


def _clean(
    edge_count: np.ndarray, kept: np.ndarray, size: int, share: float, params: SignatureParams
) -> np.ndarray:
    """``kept`` (stable high-contrast pixels) where they make up ``share`` of the high-contrast pixels
    around them (``edge_count`` in size x size windows), without isolated pixels, where text pixels
    are dense along a line."""
    kept_count = _counts(kept, size)
    # integer comparisons throughout (shares in thousandths): float arrays cost twice as much here
    dense = (kept_count * 1000 >= round(share * 1000) * edge_count) & (kept_count >= math.ceil(0.1 * size * size))
    mask = (kept & dense).view(np.uint8)
    # strokes are at least 2x2 at analysis scale; stray pixels are not
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL2)
    # text is dense along its line; specks left by chance are scattered
    window = max(9, (kept.shape[0] // 4) | 1)
    density = _counts(mask.view(bool), window)
    return (mask > 0) & (density >= math.ceil(params.text_density * window * window))


def min_text_pixels(shape: tuple[int, ...], params: SignatureParams = DEFAULT_PARAMS) -> int:
    """Fewest text pixels that count as a caption: a couple of characters at band-relative size."""
    return max(12, int(params.min_text_per_row * shape[0]))


@dataclass(frozen=True)
class Comparison:
    changed: bool
    ratio: float  # share of the text pixels of either sample that changed
    text_pixels: int  # size of the union of both samples' text pixels
    changed_mask: np.ndarray  # the text pixels that changed


def compare(
    smoothed_a: np.ndarray,
    text_a: np.ndarray,
    smoothed_b: np.ndarray,
    text_b: np.ndarray,
    params: SignatureParams = DEFAULT_PARAMS,
) -> Comparison:
    """Is sample b a different caption state than sample a (caption appeared, left or changed)?"""
    union = text_a | text_b
    total = np.count_nonzero(union)
    changed = union & ~unchanged(smoothed_a, smoothed_b, params)
    # a background moving behind a caption changes a one-pixel rim around its strokes (the blur
    # mixes it in); a caption that changes changes whole strokes, which survive a 2x2 opening
    changed = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, _KERNEL2).astype(bool)
    n_changed = np.count_nonzero(changed)
    floor = min_text_pixels(text_a.shape, params)
    if total < floor:
        return Comparison(False, 0.0, total, changed)
    ratio = n_changed / total
    return Comparison(ratio >= params.change_ratio and n_changed >= floor // 2, ratio, total, changed)


def first_frame_of_new_state(
    before: np.ndarray,
    after: np.ndarray,
    between: list[np.ndarray],
    changed: np.ndarray,
    params: SignatureParams = DEFAULT_PARAMS,
) -> int:
    """Position in ``between`` (smoothed native frames after ``before``, ending with ``after``) of the
    first frame that looks like ``after`` rather than ``before`` on the pixels that changed."""
    if not changed.any():
        return len(between) - 1
    ref_a = before[changed]
    ref_b = after[changed]
    for position, frame in enumerate(between):
        values = frame[changed]
        far_a = np.count_nonzero(cv2.absdiff(values, ref_a) > params.stable_delta)
        far_b = np.count_nonzero(cv2.absdiff(values, ref_b) > params.stable_delta)
        if far_b <= far_a:
            return position
    return len(between) - 1
