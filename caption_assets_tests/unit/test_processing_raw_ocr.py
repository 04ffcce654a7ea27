"""raw-ocr.db between the band scan and captions_db, and captions made from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caption_assets.core.errors import BadInputError
from caption_assets.core.processing import pipeline
from caption_assets.core.processing.layout import LayoutResult, Zone, write_layout_db
from caption_assets.core.processing.raw_ocr import RawOcr, RawReading, read_raw_ocr, write_raw_ocr
from caption_assets.core.processing.subtitles import read_cues
from caption_assets.core.processing.video import Region

pytestmark = pytest.mark.unit

BAND = Region(0, 600, 1280, 100)
META = {
    "width": "1280",
    "height": "720",
    "fps": "30.000000",
    "duration_seconds": "10.000000",
    "total_frames": "300",
    "zones": "0,600,1280,100",
}


def reading(first: int, last: int, text: str, samples: int = 10) -> RawReading:
    return RawReading(0, first, last, first / 30, (last + 1) / 30, samples, text, 0.93, 2)


def layout_db(path: Path, band: Region) -> Path:
    zone = Zone(band, 0.9, 0.8, 1.0, 0.0, 40.0, 12, "bottom")
    write_layout_db(path, [], LayoutResult([zone]))
    return path


def test_round_trip_keeps_zones_readings_and_metadata(tmp_path: Path) -> None:
    raw = RawOcr(
        [BAND],
        [reading(3, 50, "Hello, world!"), reading(60, 61, "x", 1)],
        {**META, "stats": json.dumps({"segments_read": 2})},
    )
    write_raw_ocr(tmp_path / "raw-ocr.db", raw)
    back = read_raw_ocr(tmp_path / "raw-ocr.db")
    assert back.zones == raw.zones and back.readings == raw.readings
    assert back.metadata["width"] == "1280" and back.metadata["schema_version"] == "1"


def test_captions_join_over_split_states_and_keep_repeats_apart(tmp_path: Path) -> None:
    write_raw_ocr(
        tmp_path / "raw-ocr.db",
        RawOcr(
            [BAND],
            [
                reading(0, 29, "Same line"),
                reading(30, 59, "Same line"),  # one caption split in two
                reading(75, 119, "Same line"),  # shown again after a gap: a caption of its own
                reading(120, 121, "Next one", 1),
                reading(122, 170, "Next one!"),  # a fade step first
            ],
            {**META, "stats": json.dumps({"ocr_reads": 10, "segments_read": 5})},
        ),
    )
    out = pipeline.run_captions(
        tmp_path / "raw-ocr.db", layout_db(tmp_path / "layout.db", BAND), tmp_path / "out" / "captions.db"
    )
    assert [(c.text, c.start_native_frame, c.end_native_frame) for c in out.captions] == [
        ("Same line", 0, 59),
        ("Same line", 75, 119),
        ("Next one!", 120, 170),
    ]
    assert [c.start_frame_index for c in out.captions] == [0, 25, 40]
    assert [t for _, _, t in read_cues(out.srt_path)] == ["Same line", "Same line", "Next one!"]
    assert out.stats["segments_read"] == 5 and out.stats["captions"] == 3


def test_a_changed_band_or_missing_scan_is_refused_with_the_fix(tmp_path: Path) -> None:
    write_raw_ocr(tmp_path / "raw-ocr.db", RawOcr([BAND], [reading(0, 29, "Hi")], META))
    moved = layout_db(tmp_path / "layout.db", Region(0, 40, 1280, 100))
    with pytest.raises(BadInputError, match="materialize cropped_frames again"):
        pipeline.run_captions(tmp_path / "raw-ocr.db", moved, tmp_path / "c.db")
    with pytest.raises(BadInputError, match="raw-ocr.db is missing"):
        pipeline.run_captions(tmp_path / "nope.db", moved, tmp_path / "c.db")
    assert not (tmp_path / "c.db").exists()
