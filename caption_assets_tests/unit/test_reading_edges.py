"""Reading's edges without OCR: nothing to read gives the empty reading, and the second look over
busy texture keeps only the surroundings of the stable strokes."""

from __future__ import annotations

import numpy as np
import pytest

from caption_assets.core.processing.ocr import Box
from caption_assets.core.processing.reading import _only_near, read_caption, read_lines

pytestmark = pytest.mark.unit


def test_nothing_to_read_is_the_empty_reading() -> None:
    band = np.zeros((20, 40), np.uint8)
    for reading in (read_caption([]), read_lines([], [[Box(0, 0, 10, 10)]]), read_lines([band], [])):
        assert (reading.text, reading.confidence, reading.reads) == ("", 0.0, 0)


def test_the_second_look_flattens_everything_far_from_the_strokes() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 96), dtype=np.uint8)  # busy texture, full resolution
    mask = np.zeros((24, 48), bool)  # the stable strokes, at half the resolution
    mask[10:14, 20:28] = True
    quiet = _only_near(image, mask, 0.5)
    near = np.zeros(image.shape, bool)
    near[20:28, 40:56] = True  # the strokes at full resolution: kept as they are
    assert np.array_equal(quiet[near], image[near])
    assert np.all(quiet[:, :20] == int(np.median(image)))  # far away: one flat grey
    assert np.all(quiet[:8] == int(np.median(image)))


def test_colour_bands_are_detected_in_brightness_and_recognised_in_colour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from caption_assets.core.processing import ocr

    seen: dict[str, list[int]] = {"detect": [], "recognise": []}

    def detect(image: np.ndarray, limit_side: int | None = None) -> list[Box]:
        seen["detect"].append(image.ndim)
        return [Box(100, 10, 300, 50, 0.9)]

    def recognize(crops: list[np.ndarray]) -> list[tuple[str, float]]:
        seen["recognise"] += [c.ndim for c in crops]
        return [("más", 0.95) for _ in crops]

    monkeypatch.setattr(ocr, "detect", detect)
    monkeypatch.setattr(ocr, "recognize", recognize)
    rng = np.random.default_rng(1)
    bands = [rng.integers(0, 256, (60, 400, 3), dtype=np.uint8) for _ in range(3)]
    assert read_caption(bands).text == "más"
    assert seen["detect"] == [2] and seen["recognise"] and set(seen["recognise"]) == {3}


def test_dialogue_dashes_follow_the_captions_own_convention() -> None:
    from caption_assets.core.processing.reading import dialogue_dashes

    # the recogniser lost the space after the second dash: the first one says there is one
    assert dialogue_dashes("- ¿Qué vas a hacer tú? -¿Yo?") == "- ¿Qué vas a hacer tú? - ¿Yo?"
    assert dialogue_dashes("- Did he tell you?\n-He did.") == "- Did he tell you?\n- He did."
    # a caption written without spaces stays so; hyphens, minus signs and long dashes are not touched
    assert dialogue_dashes("-Non! -Si!") == "-Non! -Si!"
    assert dialogue_dashes("- An e-mail at -5 degrees -- cold.") == "- An e-mail at -5 degrees -- cold."
    # a dash in mid-sentence after a word and a space is spaced on both sides; a glued em dash
    # (a Spanish inciso) and a dialogue dash after a sentence's end keep their convention
    assert dialogue_dashes("That's it -enjoy your meal!") == "That's it - enjoy your meal!"
    assert dialogue_dashes("Dijo \u2014sin mirar\u2014 que no.") == "Dijo \u2014sin mirar\u2014 que no."
    assert dialogue_dashes("Non! -Si!") == "Non! -Si!"
