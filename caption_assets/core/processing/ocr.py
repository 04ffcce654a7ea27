"""OCR with the models inside the rapidocr wheel: detect text boxes once, recognise box crops.

Parallelism comes from OCR'ing several images side by side on ``executor()``'s threads, each with
its own single-threaded engine: onnxruntime releases the GIL, one image per core wastes no time in
spinning intra-op threads, and an engine is never shared between threads (rapidocr keeps per-call
state on it). Recognition runs on detected box crops only: run on a whole strip the recogniser
produces garbage.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from caption_assets.core.processing.workers import cpu_count

DETECT_SIDE = 736  # longest side the detector works at unless told otherwise
# An image wider than this many times its height (a caption band) is detected with black bars of half
# its height above and below. The detector's boxes on a strip depend on the context around it: with no
# bars it read other boxes on the real-footage benchmark (4 invented captions, 3 texts wrong of 111
# cues), with rapidocr's own rule (bars up to a quarter of the width: 2-3.5x a band's pixels) and
# with these every caption came out the same, at 14% less CPU for the whole set.
WIDE = 8
_LOCAL = threading.local()
_EXECUTOR: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()


def engine() -> Any:
    """This thread's rapidocr engine (made on first use; models load in ~0.1 s)."""
    ocr = getattr(_LOCAL, "engine", None)
    if ocr is None:
        from rapidocr import RapidOCR

        ocr = RapidOCR(
            params={
                "Det.limit_type": "max",
                "Global.use_cls": False,
                "Global.use_vertical_padding": False,  # ``detect`` pads wide images itself
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        _LOCAL.engine = ocr
    return ocr


def _forget_after_fork() -> None:
    # a forked child inherits the pool's bookkeeping but not its threads (work sent there would
    # never run) and engines whose native state it should not share: start afresh
    global _EXECUTOR, _LOCAL
    _EXECUTOR = None
    _LOCAL = threading.local()


os.register_at_fork(after_in_child=_forget_after_fork)


def executor() -> ThreadPoolExecutor:
    """The process-wide OCR threads, one per core; their engines live as long as the process."""
    global _EXECUTOR
    if _EXECUTOR is None:
        with _LOCK:
            if _EXECUTOR is None:
                _EXECUTOR = ThreadPoolExecutor(max_workers=cpu_count(), thread_name_prefix="ocr")
    return _EXECUTOR


@dataclass(frozen=True)
class Box:
    """An axis-aligned text box in the pixels of the image it was detected in."""

    x0: int
    y0: int
    x1: int
    y1: int
    score: float = 1.0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class Line:
    box: Box
    text: str
    score: float


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    return image


def detect(image: np.ndarray, limit_side: int | None = None) -> list[Box]:
    """Text boxes of ``image`` (gray or 3-channel), axis-aligned, in its pixel coordinates."""
    ocr = engine()
    detector = ocr._load_det_model()  # reads its size limit on every call; this thread's own
    default = detector.limit_side_len
    detector.limit_side_len = limit_side or DETECT_SIDE
    h, w = image.shape[:2]
    pad = h // 2 if w > WIDE * h else 0
    bgr = _as_bgr(image)
    if pad:
        bgr = cv2.copyMakeBorder(bgr, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    try:
        result = ocr(bgr, use_det=True, use_cls=False, use_rec=False)
    finally:
        detector.limit_side_len = default
    boxes = getattr(result, "boxes", None)
    if boxes is None or len(boxes) == 0:
        return []
    scores = getattr(result, "scores", None) or [1.0] * len(boxes)
    out = []
    for quad, score in zip(boxes, scores):
        quad = np.asarray(quad) - (0, pad)
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            out.append(Box(int(x0), int(y0), int(x1), int(y1), float(score)))
    return out


def recognize(crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """Text and confidence of each crop (one text line per crop), batched through the recogniser."""
    if not crops:
        return []
    ocr = engine()
    # the engine's public call takes one image; batching through its recogniser is several times faster
    from rapidocr.ch_ppocr_rec import TextRecInput

    recognizer = ocr._load_rec_model()
    result = recognizer(TextRecInput(img=[_as_bgr(c) for c in crops], return_word_box=False))
    texts = result.txts or ("",) * len(crops)
    scores = result.scores or (0.0,) * len(crops)
    return [(str(t), float(s)) for t, s in zip(texts, scores)]


def reading_order(boxes: list[Box]) -> list[list[Box]]:
    """Group boxes into lines (top to bottom), each line's boxes left to right.

    Two boxes share a line when their vertical extents overlap by more than half the smaller height.
    """
    lines: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: b.cy):
        for line in lines:
            ref = line[0]
            overlap = min(ref.y1, box.y1) - max(ref.y0, box.y0)
            if overlap > 0.5 * min(ref.height, box.height):
                line.append(box)
                break
        else:
            lines.append([box])
    return [sorted(line, key=lambda b: b.x0) for line in lines]


def crop(image: np.ndarray, box: Box, pad: int = 0, pad_x: int | None = None) -> np.ndarray:
    """``box`` of ``image`` grown by ``pad`` pixels (``pad_x`` sideways when given)."""
    h, w = image.shape[:2]
    side = pad if pad_x is None else pad_x
    return image[max(0, box.y0 - pad) : min(h, box.y1 + pad), max(0, box.x0 - side) : min(w, box.x1 + side)]
