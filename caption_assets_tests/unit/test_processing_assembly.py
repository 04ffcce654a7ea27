"""Text decides what a caption is: the states the pixel scan proposes are joined, kept apart or
re-read by what OCR reads on them (no OCR engine here: readings are given)."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pytest

from caption_assets.core.processing import band_scan
from caption_assets.core.processing.extents import Sample, Segment
from caption_assets.core.processing.ocr import Box
from caption_assets.core.processing.pipeline import _merge
from caption_assets.core.processing.raw_ocr import RawReading
from caption_assets.core.processing.reading import Reading, lines_within, same_caption
from caption_assets.core.processing.video import Region

pytestmark = pytest.mark.unit

FPS = 30.0


def state(first: int, last: int, text: str, confidence: float = 0.95) -> RawReading:
    samples = max(1, round((last - first + 1) / 3))
    return RawReading(0, first, last, first / FPS, (last + 1) / FPS, samples, text, confidence, 2)


def texts(found: list[RawReading]) -> list[tuple[int, int, str]]:
    return [(f.first, f.last, f.text) for f in _merge(found)]


def test_a_cut_behind_a_caption_does_not_split_it() -> None:
    # the scan proposed a change at the cut (frame 40); the text on both sides is the caption
    assert texts([state(0, 39, "Tiens bon!"), state(40, 80, "Tiens bon!")]) == [(0, 80, "Tiens bon!")]


def test_a_partial_read_on_one_side_joins_and_the_better_supported_text_wins() -> None:
    found = [state(0, 14, "Il paraît e cruel,", 0.7), state(15, 80, "Il paraît que c'est cruel,")]
    assert texts(found) == [(0, 80, "Il paraît que c'est cruel,")]


def test_frames_seen_as_neither_state_at_a_cut_do_not_split_a_caption() -> None:
    # a frame between the two states that the scan gave to neither (shorter than a sample interval)
    assert texts([state(0, 39, "D'accord."), state(41, 80, "D'accord.")]) == [(0, 80, "D'accord.")]


def test_the_same_text_after_a_real_gap_stays_two_captions() -> None:
    assert len(texts([state(0, 39, "Tiens bon!"), state(52, 80, "Tiens bon!")])) == 2


def test_a_second_line_that_changed_makes_another_caption() -> None:
    found = [
        state(0, 60, "L'été dernier, nous sommes partis\nen vacances à Genève."),
        state(61, 120, "L'été dernier, nous sommes partis\nsans nos bagages."),
    ]
    assert len(texts(found)) == 2


def test_a_short_reading_that_lost_a_line_joins_its_caption() -> None:
    found = [state(0, 5, "C'est pas assez."), state(6, 60, "C'est pas assez.\nJ'en ai mangé trois.")]
    assert texts(found) == [(0, 60, "C'est pas assez.\nJ'en ai mangé trois.")]


def test_consecutive_captions_with_no_gap_stay_apart() -> None:
    found = [state(0, 56, "Je vais réfléchir."), state(57, 95, "Ouais, allez.")]
    assert texts(found) == [(0, 56, "Je vais réfléchir."), (57, 95, "Ouais, allez.")]


def test_same_caption_is_line_by_line() -> None:
    assert same_caption("Non! Si!", "Non!  Si!")
    assert not same_caption("Same top\nfirst end", "Same top\nother words here")
    assert not same_caption("one line", "one line\nand another")
    assert lines_within("one line", "one line\nand another")
    assert not same_caption("", "")


# -- the read chain of band_scan ---------------------------------------------------------------

LINES = ((Box(10, 5, 200, 40, 0.9),),)


def job(
    carried: float | None, text_mask: np.ndarray | None = None, previous_text: np.ndarray | None = None
) -> band_scan._ReadJob:
    frames = [np.zeros((60, 400), np.uint8)] * 3
    mask = np.zeros((60, 400), bool) if text_mask is None else text_mask
    return band_scan._ReadJob(0, 30, 60, 1.0, 2.0, 10, frames, mask, 1.0, carried, previous_text)


def done(reading: Reading) -> Future:
    future: Future = Future()
    raw = RawReading(0, 0, 29, 0.0, 1.0, 10, reading.text, reading.confidence, reading.reads)
    future.set_result(band_scan._Read(raw, reading, 0.0))
    return future


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Records which reading the chain asked for; ``calls['again']`` is what a re-read of the
    previous boxes returns, a full read returns "full read"."""
    seen: dict[str, object] = {"full": 0, "again_calls": 0, "again": "Hello there"}

    def read_lines(frames, lines):  # noqa: ANN001, ANN202
        seen["again_calls"] = int(seen["again_calls"]) + 1  # type: ignore[call-overload]
        return Reading(str(seen["again"]), 0.9, len(frames), tuple(lines))

    def read_caption(frames, mask, scale, detected=None):  # noqa: ANN001, ANN202
        seen["full"] = int(seen["full"]) + 1  # type: ignore[call-overload]
        seen["given"] = detected
        return Reading("full read", 0.9, 2, LINES)

    def first_detection(frames):  # noqa: ANN001, ANN202
        seen["ahead"] = int(seen.get("ahead", 0)) + 1  # type: ignore[call-overload]
        finish = seen.pop("meanwhile", None)
        if callable(finish):
            finish()  # the previous state's reading ends while this detection runs
        return [Box(5, 5, 50, 30, 0.8)]

    monkeypatch.setattr(band_scan, "read_lines", read_lines)
    monkeypatch.setattr(band_scan, "read_caption", read_caption)
    monkeypatch.setattr(band_scan, "first_detection", first_detection)
    return seen


class StillReading(Future):
    """A previous state's reading: not done yet when asked, done as soon as waited for."""

    def done(self) -> bool:
        return False


def pending() -> tuple[Future, object]:
    """A previous state still being read, and what ends its reading."""
    future: Future = Future()
    finished = done(Reading("Hello there", 0.9, 2, LINES)).result()
    return future, lambda: future.set_result(finished)


def other_caption() -> np.ndarray:
    """Text pixels of a new caption in the previous one's place: strokes that were not there."""
    mask = np.zeros((60, 400), bool)
    mask[10:40, 20:190:2] = True
    return mask


def test_a_state_detects_ahead_while_the_previous_one_is_read_and_its_full_read_uses_it(calls: dict) -> None:
    calls["again"] = "Goodbye now"
    previous, finish = pending()
    calls["meanwhile"] = finish
    result = band_scan._read(job(carried=0.4, text_mask=other_caption()), previous)
    assert result.raw.text == "full read" and calls["ahead"] == 1
    assert calls["given"] == [Box(5, 5, 50, 30, 0.8)]  # no second detection


def test_nothing_is_detected_ahead_when_no_new_strokes_came(calls: dict) -> None:
    """No caption's worth of strokes that were not text in the previous state, anywhere: none
    outside the previous boxes either, so the cheap reading comes first and a detection made
    meanwhile would be wasted (the thread waits for the previous reading instead)."""
    texture = other_caption()  # text-like pixels, here in both states
    late: Future = StillReading()
    late.set_result(done(Reading("Hello there", 0.9, 2, LINES)).result())
    result = band_scan._read(job(0.4, texture, texture.copy()), late)
    assert result.raw.text == "Hello there"
    assert "ahead" not in calls and calls["full"] == 0 and calls["again_calls"] == 1


def test_nothing_is_detected_ahead_once_the_previous_reading_is_known_or_the_strokes_carried(
    calls: dict,
) -> None:
    band_scan._read(job(carried=0.4), done(Reading("Goodbye now", 0.9, 2, LINES)))
    assert "ahead" not in calls and calls["given"] is None
    previous, finish = pending()
    calls["meanwhile"] = finish
    finish()  # read by the time this state's thread looks
    band_scan._read(job(carried=0.4), previous)
    assert "ahead" not in calls

    late: Future = StillReading()
    late.set_result(previous.result())
    result = band_scan._read(job(carried=0.97), late)
    assert result.raw.text == "Hello there" and "ahead" not in calls


def test_strokes_carried_across_reuse_the_previous_reading_without_ocr(calls: dict) -> None:
    result = band_scan._read(job(carried=0.97), done(Reading("Hello there", 0.9, 2, LINES)))
    assert result.raw.text == "Hello there" and calls["full"] == 0 and calls["again_calls"] == 0


def test_a_proposed_change_is_checked_on_the_previous_boxes_first(calls: dict) -> None:
    result = band_scan._read(job(carried=0.4), done(Reading("Hello there", 0.9, 2, LINES)))
    assert result.raw.text == "Hello there" and calls["again_calls"] == 1 and calls["full"] == 0


def test_other_text_in_the_previous_boxes_means_a_full_read(calls: dict) -> None:
    calls["again"] = "Goodbye now"
    result = band_scan._read(job(carried=0.4), done(Reading("Hello there", 0.9, 2, LINES)))
    assert result.raw.text == "full read" and calls["full"] == 1


def test_strokes_outside_the_previous_boxes_mean_a_full_read(calls: dict) -> None:
    mask = np.zeros((60, 400), bool)
    mask[10:40, 250:390:2] = True  # a new line of strokes right of the old box
    result = band_scan._read(job(carried=0.97, text_mask=mask), done(Reading("Hello there", 0.9, 2, LINES)))
    assert result.raw.text == "full read" and calls["full"] == 1


def test_static_texture_beside_the_caption_that_was_there_before_does_not_force_a_full_read(
    calls: dict,
) -> None:
    texture = np.zeros((60, 400), bool)
    texture[10:40, 250:390:2] = True  # text-like static texture right of the old box, in both states
    result = band_scan._read(
        job(carried=0.4, text_mask=texture, previous_text=texture.copy()),
        done(Reading("Hello there", 0.9, 2, LINES)),
    )
    assert result.raw.text == "Hello there" and calls["full"] == 0 and calls["again_calls"] == 1
    # strokes that came since the previous state (a new line beside the old one) still do
    before = texture.copy()
    before[:, 320:] = False
    result = band_scan._read(
        job(carried=0.4, text_mask=texture, previous_text=before), done(Reading("Hello there", 0.9, 2, LINES))
    )
    assert result.raw.text == "full read" and calls["full"] == 1


def test_without_a_previous_caption_the_state_is_read_in_full(calls: dict) -> None:
    assert band_scan._read(job(carried=None), None).raw.text == "full read"
    assert band_scan._read(job(carried=0.99), done(Reading("", 0.0, 0))).raw.text == "full read"


def test_a_lone_latin_character_is_not_a_caption_but_a_chinese_one_is() -> None:
    from caption_assets.core.processing.pipeline import _wordlike

    assert not _wordlike("7") and not _wordlike("N") and not _wordlike("- ")
    assert _wordlike("Oh") and _wordlike("好") and _wordlike("Au secours.")


def test_a_short_state_read_with_low_confidence_is_dropped() -> None:
    from caption_assets.core.processing.pipeline import _sure_enough

    assert not _sure_enough(state(558, 563, "XKK", 0.75))
    assert _sure_enough(state(558, 563, "Oui.", 0.97))
    assert _sure_enough(state(500, 563, "Oui.", 0.6))


def test_only_centred_runs_of_close_boxes_are_caption_lines() -> None:
    from caption_assets.core.processing.reading import _centred

    caption = [Box(500, 10, 640, 40), Box(650, 10, 780, 40)]  # two words across the middle
    beside = [Box(20, 10, 60, 40)] + caption  # a speck far left on the same row
    scattered = [Box(100, 60, 150, 90), Box(560, 60, 600, 90), Box(1100, 60, 1200, 90)]
    off_side = [Box(1000, 100, 1250, 130)]
    kept = _centred([beside, scattered, off_side], 1280)
    assert kept[0] == caption
    assert [b for line in kept for b in line if b in off_side] == []
    # of the scattered row only the box near the middle stays, as a run of its own
    assert [Box(560, 60, 600, 90)] in kept


# -- what carried strokes may vouch for ----------------------------------------------------------


def segment_with_text(first: int, carried: float | None) -> Segment:
    segment = Segment(first=first, start_time=first / FPS, last=first + 29, end_time=(first + 30) / FPS)
    segment.carried = carried
    text = np.zeros((20, 100), bool)
    text[5:15, 10:90] = True
    for k in range(3):
        gray = np.zeros((60, 300), np.uint8)
        segment.add_sample(Sample(first + 10 * k, (first + 10 * k) / FPS, gray, gray[:20, :100], gray, text))
    return segment


def test_strokes_carried_from_a_state_without_text_do_not_vouch_for_the_reading_before_it() -> None:
    # caption, then a state without caption text (only a sign stays), then a new caption that keeps
    # the sign's strokes: the sign's strokes say nothing about the first caption still being shown
    scan = band_scan.BandScan([Region(0, 0, 300, 60)], 0)
    submitted: list[band_scan._ReadJob] = []

    class Recorder:
        def submit(self, fn, job, previous):  # noqa: ANN001, ANN201
            submitted.append(job)
            return None

    scan._reader = Recorder()  # type: ignore[assignment]
    blank = Segment(first=30, start_time=1.0, last=59, end_time=2.0)  # nothing kept: no text
    scan._hand_over([segment_with_text(0, None), blank, segment_with_text(60, 0.98)], 0)
    assert [j.first for j in submitted] == [0, 60]
    assert submitted[1].carried is None
    assert submitted[1].previous_text is None  # nor do the text pixels of the state before it
    scan._hand_over([segment_with_text(90, 0.97)], 0)  # right after a read state: it counts
    assert submitted[2].carried == 0.97
    assert submitted[2].previous_text is submitted[1].text_mask
