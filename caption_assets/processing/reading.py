"""Reading a caption: detect its lines once, recognise them on a few frames, vote.

Assumptions: a caption is horizontal text in lines; within one caption state the text does not move,
so boxes detected on one frame hold the same text on the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np
from rapidfuzz import fuzz

from caption_assets.processing import ocr

MIN_LINE_SCORE = 0.5  # recogniser confidence below which a line is treated as not text


@dataclass(frozen=True)
class Reading:
    text: str  # lines joined with "\n", words of a line with single spaces
    confidence: float  # mean confidence of the voted lines
    reads: int  # frames recognised


def normalise(text: str) -> str:
    """Whitespace collapsed per line; empty lines dropped."""
    lines = [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def vote(candidates: list[tuple[str, float]]) -> tuple[str, float]:
    """The reading most consistent with the others: identical reads pool their confidence, and
    otherwise the candidate closest (rapidfuzz ratio, confidence-weighted) to all the others wins."""
    candidates = [(normalise(t), s) for t, s in candidates if normalise(t)]
    if not candidates:
        return "", 0.0
    pooled: dict[str, list[float]] = {}
    for text, score in candidates:
        pooled.setdefault(text, []).append(score)

    def support(text: str) -> float:
        return sum(
            score * fuzz.ratio(text, other) / 100.0 for other, scores in pooled.items() for score in scores
        )

    best = max(pooled, key=lambda t: (support(t), sum(pooled[t])))
    return best, float(np.mean(pooled[best]))


def _boxes_on_text(boxes: list[ocr.Box], text_mask: np.ndarray | None, scale: float) -> list[ocr.Box]:
    """Drop detections that cover almost no stable text pixels (clutter of a moving background)."""
    if text_mask is None:
        return boxes
    kept = []
    dilated = cv2.dilate(text_mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    for box in boxes:
        y0, y1 = int(box.y0 * scale), max(int(box.y0 * scale) + 1, int(box.y1 * scale))
        x0, x1 = int(box.x0 * scale), max(int(box.x0 * scale) + 1, int(box.x1 * scale))
        window = dilated[y0:y1, x0:x1]
        if window.size and window.mean() >= 0.03:
            kept.append(box)
    return kept


def read_caption(
    frames: list[np.ndarray], text_mask: np.ndarray | None = None, mask_scale: float = 1.0
) -> Reading:
    """Text of one caption state from its band images (luma, same geometry).

    Detection runs once, on the middle frame; the crops of those boxes are recognised on two frames,
    on the remaining frames too when the two disagree on any line, and each line is voted over the
    frames read. ``text_mask`` (at ``mask_scale`` of the band) filters
    out detections on moving background.
    """
    if not frames:
        return Reading("", 0.0, 0)
    unique = _dedup(frames)
    reference = unique[len(unique) // 2]
    boxes = _boxes_on_text(ocr.detect(reference), text_mask, mask_scale)
    if not boxes:
        return Reading("", 0.0, 0)
    lines = ocr.reading_order(boxes)
    flat = [box for line in lines for box in line]
    pad = max(2, int(np.median([b.height for b in flat]) * 0.1))
    # the reference frame and one more first; the rest only when those two disagree on a line
    order = [len(unique) // 2] + [i for i in range(len(unique)) if i != len(unique) // 2]
    per_box: list[list[tuple[str, float]]] = [[] for _ in flat]
    reads = 0
    for batch in (order[:2], order[2:]):
        if not batch:
            continue
        if reads >= 2 and all(len({normalise(t) for t, _ in r}) == 1 for r in per_box):
            break
        crops = [ocr.crop(unique[i], box, pad) for i in batch for box in flat]
        for j, result in enumerate(ocr.recognize(crops)):
            per_box[j % len(flat)].append(result)
        reads += len(batch)
    voted = [vote(candidates) for candidates in per_box]
    out_lines, scores = [], []
    position = 0
    for line in lines:
        words = []
        for _ in line:
            text, score = voted[position]
            position += 1
            if text and score >= MIN_LINE_SCORE:
                words.append(text)
                scores.append(score)
        if words:
            out_lines.append(" ".join(words))
    return Reading("\n".join(out_lines), float(np.mean(scores)) if scores else 0.0, reads)


def _dedup(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Drop frames that are pixel-identical (up to codec noise) to one already kept: same input,
    same reading, wasted time."""
    kept: list[np.ndarray] = []
    for frame in frames:
        if not any(
            frame.shape == other.shape and cv2.absdiff(frame, other).mean() < 1.0 for other in kept
        ):
            kept.append(frame)
    return kept
