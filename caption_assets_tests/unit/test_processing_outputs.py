"""captions.db, SRT/VTT, voting and reading order, region detection from boxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from caption_assets.core.processing import captions_db as cdb
from caption_assets.core.processing.layout import FrameBoxes, detect_zones, read_layout_db, write_layout_db
from caption_assets.core.processing.ocr import Box, reading_order
from caption_assets.core.processing.pipeline import _carry_over, _merge
from caption_assets.core.processing.raw_ocr import RawReading
from caption_assets.core.processing.reading import normalise, vote
from caption_assets.core.processing.subtitles import read_cues, write_srt, write_vtt

pytestmark = pytest.mark.unit


def caption(i: int, start: float, end: float, text: str, **kw: object) -> cdb.Caption:
    a, b = cdb.tenths_span(start, end)
    return cdb.Caption(
        id=i,
        start_frame_index=a,
        end_frame_index=b,
        start_native_frame=int(start * 30),
        end_native_frame=int(end * 30) - 1,
        start_seconds=start,
        end_seconds=end,
        text=text,
        **kw,
    )


def test_captions_db_round_trip_and_subtitles(tmp_path: Path) -> None:
    captions = [caption(1, 0.5, 1.25, "Hello, world!"), caption(2, 2.0, 3.5, "Two\nlines")]
    db = tmp_path / "captions.db"
    cdb.write_captions(db, captions, {"width": "1280"})
    back = cdb.read_captions(db)
    assert [(c.id, c.text, c.start_frame_index, c.end_frame_index) for c in back] == [
        (1, "Hello, world!", 5, 12),
        (2, "Two\nlines", 20, 34),
    ]
    srt, vtt = write_srt(back, tmp_path / "c.srt"), write_vtt(back, tmp_path / "c.vtt")
    assert vtt.read_text().startswith("WEBVTT")
    for path in (srt, vtt):
        assert read_cues(path) == [(0.5, 1.25, "Hello, world!"), (2.0, 3.5, "Two\nlines")]
    write_vtt([], tmp_path / "e.vtt")
    assert read_cues(tmp_path / "e.vtt") == []


def test_tenths_span() -> None:
    assert cdb.tenths_span(0.5, 1.25) == (5, 12)
    assert cdb.tenths_span(1.0, 1.1) == (10, 10)
    assert cdb.tenths_span(1.02, 1.08) == (10, 10)  # between two samples: the nearest


def test_reprocessing_keeps_what_a_person_confirmed() -> None:
    previous = [
        caption(1, 0.0, 1.0, "kept", caption_frame_extents_state=cdb.CONFIRMED),
        caption(2, 2.0, 3.0, "edited", text_edited_at="2026-01-01T00:00:00"),
        caption(3, 4.0, 5.0, "machine"),
    ]
    new = [
        caption(1, 0.1, 0.9, "overlaps kept"),
        caption(2, 4.0, 5.0, "machine again"),
        caption(3, 6.0, 7.0, "new"),
    ]
    result = _carry_over(new, previous)
    assert [(c.id, c.text) for c in result] == [(1, "kept"), (2, "edited"), (3, "machine again"), (4, "new")]


def test_vote_prefers_consistent_reads() -> None:
    assert vote([("Hello there", 0.9), ("Hel1o there", 0.95), ("Hello there", 0.8)])[0] == "Hello there"
    assert vote([("  two   spaces ", 0.9)])[0] == "two spaces"
    assert vote([]) == ("", 0.0)
    assert normalise(" a  b \n\n c ") == "a b\nc"


def test_merge_joins_over_split_and_fade_fragments_only() -> None:
    def f(first: int, last: int, text: str, samples: int = 5) -> RawReading:
        return RawReading(0, first, last, first / 30, (last + 1) / 30, samples, text, 0.9, 2)

    merged = _merge(
        [
            f(0, 29, "Same"),
            f(30, 59, "Same"),
            f(60, 62, "Next one", 1),
            f(63, 99, "Next one!"),
            f(130, 160, "Same"),
        ]
    )
    assert [(m.first, m.last, m.text) for m in merged] == [
        (0, 59, "Same"),
        (60, 99, "Next one!"),
        (130, 160, "Same"),
    ]


def test_reading_order_groups_lines_top_to_bottom() -> None:
    boxes = [Box(200, 50, 300, 80), Box(10, 12, 100, 40), Box(110, 10, 190, 42)]
    assert [[b.x0 for b in line] for line in reading_order(boxes)] == [[10, 110], [200]]


def frames_with(
    boxes_per_frame: list[list[tuple[Box, str]]], w: int = 1280, h: int = 720
) -> list[FrameBoxes]:
    return [
        FrameBoxes(i * 10, w, h, [(b, t, 0.95) for b, t in boxes]) for i, boxes in enumerate(boxes_per_frame)
    ]


def test_zone_from_recurring_centred_lines_ignores_logo_and_scene_text(tmp_path: Path) -> None:
    logo = (Box(1100, 20, 1260, 60), "CHANNEL")
    frames = []
    for i in range(20):
        boxes = [logo]
        if i % 4:
            width = 300 + 20 * (i % 5)
            boxes.append((Box(640 - width // 2, 610, 640 + width // 2, 650), f"caption number {i}"))
        if i == 7:
            boxes.append((Box(100, 300, 260, 330), "STOP sign"))
        frames.append(boxes)
    result = detect_zones(frames_with(frames))
    assert len(result.zones) == 1
    region = result.region
    assert region is not None and region.y < 610 and region.y + region.height > 650
    assert region.y + region.height < 720 and region.y > 300
    assert result.confidence > 0.5
    write_layout_db(tmp_path / "layout.db", frames_with(frames), result)
    assert read_layout_db(tmp_path / "layout.db").region == region


def test_top_and_bottom_zones_and_no_text() -> None:
    frames = [
        [(Box(500, 620, 780, 660), f"bottom {i}"), (Box(520, 40, 760, 80), f"top {i}")] for i in range(10)
    ]
    zones = detect_zones(frames_with(frames)).zones
    assert sorted(z.position for z in zones) == ["bottom", "top"]
    empty = detect_zones(frames_with([[] for _ in range(20)]))
    assert empty.region is None and empty.confidence == 0.0


@pytest.mark.parametrize(
    "reads, expected_reads, text",
    [
        (["Hello there.", "Hello  there."], 2, "Hello there."),  # two agreeing reads are enough
        (["Hel1o there.", "Hello there.", "Hello there."], 3, "Hello there."),  # disagreement: a third
    ],
)
def test_read_caption_reads_a_third_frame_only_when_two_disagree(
    monkeypatch, reads, expected_reads, text
) -> None:
    import numpy as np

    from caption_assets.core.processing import ocr, reading

    frames = [np.full((40, 200), 10 * i, np.uint8) for i in range(3)]  # three distinct frames
    queue = list(reads)
    monkeypatch.setattr(ocr, "detect", lambda image, limit_side=None: [Box(10, 5, 190, 35)])
    monkeypatch.setattr(ocr, "recognize", lambda crops: [(queue.pop(0), 0.9) for _ in crops])
    result = reading.read_caption(frames)
    assert (result.text, result.reads) == (text, expected_reads)
    assert not queue
