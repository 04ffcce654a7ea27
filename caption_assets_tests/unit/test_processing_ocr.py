"""The detector on a caption band: what it is shown of it, and boxes in the band's own pixels."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from caption_assets.core.processing import ocr

pytestmark = pytest.mark.unit


def test_a_wide_band_is_detected_with_half_its_height_above_and_below(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    band = np.full((96, 1312), 40, np.uint8)  # a 1080p band: far wider than 8:1
    cv2.putText(band, "A caption line over the band", (330, 62), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 235, 3)
    session = ocr.engine()._load_det_model().session
    shapes: list[tuple[int, ...]] = []
    run = type(session).__call__

    def watched(self: Any, image: np.ndarray) -> Any:
        shapes.append(image.shape)
        return run(self, image)

    monkeypatch.setattr(type(session), "__call__", watched)
    boxes = ocr.detect(band, limit_side=band.shape[1])
    # the band with bars of half its height (rapidocr's own padding, to a quarter of the width, would
    # make 320 rows: 1.7 times these pixels)
    assert [s[2:] for s in shapes] == [(192, 1312)]
    assert boxes, "the caption line must be found"
    ink = np.argwhere(band > 128)
    assert all(b.y0 <= ink[:, 0].min() + 2 and b.y1 >= ink[:, 0].max() - 2 for b in boxes)
    assert min(b.x0 for b in boxes) <= ink[:, 1].min() + 4 and max(b.x1 for b in boxes) >= ink[:, 1].max() - 4
