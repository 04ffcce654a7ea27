"""Reading a caption: detect its lines once, recognise them on a few frames, vote.

Assumptions: a caption is horizontal text in lines; within one caption state the text does not move,
so boxes detected on one frame hold the same text on the others. A caption's strokes differ from
their outline or background in brightness (what detection looks at, so coloured background detail
is not taken for text) and often also in hue: recognition reads the band in colour, which keeps a
thin-outlined yellow letter's accent apart from a light sky that luma alone blurs it into.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz

from caption_assets.core.processing import ocr
from caption_assets.core.processing.layout import MAX_CENTRE_OFFSET
from caption_assets.core.processing.signature import min_text_pixels, strokes_outside

MIN_LINE_SCORE = 0.5  # recogniser confidence below which a line is treated as not text
SURE_DETECTION = 0.75  # detector box score above which a box is text whatever the pixel mask says
# mean line confidence of a reading that stands on its own (no frames to vote over, or a second look):
# captions read at 0.9 and above, what the recogniser makes of background detail far lower
SURE_READING = 0.8
SIDE_PAD = 0.3  # of a line's height, added left and right of a detected box before recognition


@dataclass(frozen=True)
class Reading:
    text: str  # lines joined with "\n", words of a line with single spaces
    confidence: float  # mean confidence of the voted lines
    reads: int  # frames recognised
    lines: tuple[tuple[ocr.Box, ...], ...] = ()  # the boxes read, line by line


def same_caption(a: str, b: str) -> bool:
    """Do two readings show the same caption? Line by line: the same number of lines, each close
    (rapidfuzz ratio >= 80, so a partial read or a lost space still matches); a two-line caption
    whose second line changed is another caption even though half its text is the same."""
    lines_a, lines_b = normalise(a).split("\n"), normalise(b).split("\n")
    if not normalise(a) or not normalise(b) or len(lines_a) != len(lines_b):
        return False
    return all(fuzz.ratio(x, y) >= SAME_LINE_RATIO for x, y in zip(lines_a, lines_b))


SAME_LINE_RATIO = 80


def lines_within(part: str, whole: str) -> bool:
    """Is every line of ``part`` one of ``whole``'s lines (close, as in ``same_caption``)? A reading
    that lost a line of a two-line caption is such a part."""
    lines = normalise(whole).split("\n")
    wanted = [line for line in normalise(part).split("\n") if line]
    return bool(wanted) and all(any(fuzz.ratio(x, y) >= SAME_LINE_RATIO for y in lines) for x in wanted)


def normalise(text: str) -> str:
    """Whitespace collapsed per line; empty lines dropped."""
    lines = [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


# a dialogue dash: at a line's start or after a space, before a word (not a hyphen, not a minus)
_DASH = re.compile(r"(?:^|(?<=\s))([-\u2010-\u2015])(?=[^\s\d\-\u2010-\u2015])", re.MULTILINE)
_SPACED_DASH = re.compile(r"(?:^|(?<=\s))[-\u2010-\u2015] (?=\S)", re.MULTILINE)


# a dash set off by a space after a word, in mid-sentence: a parenthetical dash, spaced on both sides
# (a dialogue dash follows a sentence's end; a Spanish inciso's em dash is glued, so not that one)
_WORD_DASH = re.compile(r"(?<=[^\W\d_]) ([-\u2013])(?=[^\W\d_])")


def dialogue_dashes(text: str) -> str:
    """A caption's dashes written one way: when one dialogue dash is followed by a space, all are;
    a dash after a word and a space ("it -enjoy") is a parenthetical one, spaced on both sides.
    Assumed: a subtitle file keeps one convention for them; the recogniser, not the file, drops the
    narrow space after a dash in mid-line ("- Qué? -Yo?"), never adds one."""
    text = _WORD_DASH.sub(r" \1 ", text)
    if not _SPACED_DASH.search(text):
        return text
    return _DASH.sub(r"\1 ", text)


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


def _boxes_on_text(boxes: list[ocr.Box], text_mask: NDArray[np.bool_] | None, scale: float) -> list[ocr.Box]:
    """Drop detections that cover almost no stable text pixels (clutter of a moving background)."""
    if text_mask is None:
        return boxes
    kept = []
    dilated = cv2.dilate(text_mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    for box in boxes:
        y0, y1 = int(box.y0 * scale), max(int(box.y0 * scale) + 1, int(box.y1 * scale))
        x0, x1 = int(box.x0 * scale), max(int(box.x0 * scale) + 1, int(box.x1 * scale))
        window = dilated[y0:y1, x0:x1]
        # a line the detector is sure of stays even without stable pixels: at a state's first
        # sample a new line is stable on one side only and may be missing from the mask
        if (window.size and window.mean() >= 0.03) or box.score >= SURE_DETECTION:
            kept.append(box)
    return kept


# Band height the detector sees at least: a band is a few line heights tall (the layout's zone is a
# line or two plus margins), so its lines stay >= ~20 px for the detector, which finds small text
# over busy background poorly below that (it sees texture as one big "text" box instead)
MIN_DETECT_HEIGHT = 96


def detect_side(shape: tuple[int, ...]) -> int:
    """Longest side to detect a band of ``shape`` at: the default, or more for a low band (small
    captions), never more than the band's own width."""
    height, width = shape[0], shape[1]
    scale = min(1.0, max(ocr.DETECT_SIDE / width, MIN_DETECT_HEIGHT / max(1, height)))
    return max(ocr.DETECT_SIDE if width >= ocr.DETECT_SIDE else width, round(width * scale))


def first_detection(frames: list[NDArray[np.uint8]]) -> list[ocr.Box]:
    """The detection ``read_caption`` starts from: the boxes of the middle distinct frame."""
    if not frames:
        return []
    unique = _dedup(frames)
    reference = unique[len(unique) // 2]
    return ocr.detect(_luma(reference), limit_side=detect_side(reference.shape))


def read_caption(
    frames: list[NDArray[np.uint8]],
    text_mask: NDArray[np.bool_] | None = None,
    mask_scale: float = 1.0,
    detected: list[ocr.Box] | None = None,
) -> Reading:
    """Text of one caption state from its band images (colour BGR or luma, same geometry).

    Detection runs once, on the middle frame (``detected``: ``first_detection`` of these frames,
    when it was made ahead); the crops of those boxes are recognised on two frames,
    on the remaining frames too when the two disagree on any line, and each line is voted over the
    frames read. ``text_mask`` (at ``mask_scale`` of the band) filters
    out detections on moving background.
    """
    if not frames:
        return Reading("", 0.0, 0)
    unique = _dedup(frames)
    reference = unique[len(unique) // 2]
    reference_luma = _luma(reference)
    side = detect_side(reference.shape)
    if detected is None:
        detected = first_detection(frames)
    boxes = _boxes_on_text(detected, text_mask, mask_scale)
    if text_mask is not None and len(unique) > 1 and strokes_outside(text_mask, boxes, mask_scale):
        # the detector missed text the pixels show (a line over busy background): look again on
        # another frame of the state and add the lines found there
        more = _boxes_on_text(ocr.detect(_luma(unique[0]), limit_side=side), text_mask, mask_scale)
        boxes += [b for b in more if not any(_overlap(b, other) for other in boxes)]
    # the reference frame and one more first; the rest only when those two disagree on a line
    ordered = [unique[len(unique) // 2]] + [f for i, f in enumerate(unique) if i != len(unique) // 2]
    width = reference.shape[1]
    reading = read_lines(ordered, _centred(ocr.reading_order(boxes), width)) if boxes else Reading("", 0.0, 0)
    if (
        not reading.text
        and text_mask is not None
        and np.count_nonzero(text_mask) >= min_text_pixels(text_mask.shape)
    ):
        # nothing readable, yet the pixels show stable strokes: over busy texture (grass, foliage)
        # the detector takes the texture for text and the caption's small line drowns in it, so
        # look once more with everything but the stable strokes' surroundings flattened
        quiet = _only_near(reference_luma, text_mask, mask_scale)
        boxes = _boxes_on_text(ocr.detect(quiet, limit_side=side), text_mask, mask_scale)
        if boxes:
            second = read_lines(ordered, _centred(ocr.reading_order(boxes), width))
            # a second look finds texture as readily as text: only a sure reading counts
            if second.confidence >= SURE_READING:
                reading = second
    return reading


def _centred(lines: list[list[ocr.Box]], width: int) -> list[list[ocr.Box]]:
    """Of each line, the run of boxes that reaches the middle of the band (within the layout's
    centring tolerance of its axis), boxes of a run being at most ``WORD_GAP`` line heights apart:
    a centred caption line always reaches the middle, whatever its length, and its words are close;
    background detail the detector takes for text lies off to a side or far apart. The band is the
    frame's width, or narrowed evenly on both sides, so its axis is the frame's."""
    reach = MAX_CENTRE_OFFSET * width
    kept = []
    for line in lines:
        height = float(np.median([b.height for b in line]))
        runs: list[list[ocr.Box]] = [[line[0]]]
        for box in line[1:]:
            if box.x0 - runs[-1][-1].x1 > WORD_GAP * height:
                runs.append([])
            runs[-1].append(box)
        kept += [run for run in runs if run[0].x0 <= width / 2 + reach and run[-1].x1 >= width / 2 - reach]
    return kept


WORD_GAP = 2.0  # line heights: wider than any gap between words of a caption line


def _only_near(image: NDArray[np.uint8], text_mask: NDArray[np.bool_], scale: float) -> NDArray[np.uint8]:
    """``image`` with every pixel far from ``text_mask``'s strokes set to the image's median grey."""
    strokes = cv2.resize(
        text_mask.view(np.uint8), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST
    )
    grow = max(3, image.shape[0] // 12) | 1
    near = cv2.dilate(strokes, np.ones((grow, grow), np.uint8)) > 0
    out = np.full_like(image, int(np.median(image)))
    out[near] = image[near]
    return out


def read_lines(
    frames: list[NDArray[np.uint8]], lines: list[list[ocr.Box]] | tuple[tuple[ocr.Box, ...], ...]
) -> Reading:
    """Recognise the boxes ``lines`` (from ``ocr.reading_order``) on the first two ``frames``, on the
    rest too when those two disagree on a line, and vote each box over the frames read."""
    flat = [box for line in lines for box in line]
    if not frames or not flat:
        return Reading("", 0.0, 0)
    height = float(np.median([b.height for b in flat]))
    # the detector's boxes already hold the line with a margin (growing them further above and
    # below brings in background the recogniser reads as marks), but start at the first letter and
    # leave out a dialogue dash or an opening mark set apart before it: a third of a line height
    # sideways brings those in
    pad = 2
    pad_x = pad + int(height * SIDE_PAD)
    per_box: list[list[tuple[str, float]]] = [[] for _ in flat]
    reads = 0
    for batch in (frames[:2], frames[2:]):
        if not batch:
            continue
        if reads >= 2 and all(len({normalise(t) for t, _ in r}) == 1 for r in per_box):
            break
        crops = [ocr.crop(frame, box, pad, pad_x) for frame in batch for box in flat]
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
    return Reading(
        dialogue_dashes("\n".join(out_lines)),
        float(np.mean(scores)) if scores else 0.0,
        reads,
        tuple(tuple(line) for line in lines),
    )


def _luma(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """What the detector looks at: brightness only. In colour it takes coloured background detail
    (foliage, signs) for text more often; colour pays in recognition, where a stroke's hue tells it
    from a background of the same brightness."""
    return image if image.ndim == 2 else np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)


def _overlap(a: ocr.Box, b: ocr.Box) -> bool:
    return min(a.x1, b.x1) > max(a.x0, b.x0) and min(a.y1, b.y1) > max(a.y0, b.y0)


def _dedup(frames: list[NDArray[np.uint8]]) -> list[NDArray[np.uint8]]:
    """Drop frames that are pixel-identical (up to codec noise) to one already kept: same input,
    same reading, wasted time."""
    kept: list[NDArray[np.uint8]] = []
    for frame in frames:
        if not any(frame.shape == other.shape and cv2.absdiff(frame, other).mean() < 1.0 for other in kept):
            kept.append(frame)
    return kept
