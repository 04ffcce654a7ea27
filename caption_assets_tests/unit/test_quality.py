import sqlite3
from pathlib import Path

import pytest

from caption_assets.core.compute.base import LayoutResult
from caption_assets.core.policy.quality import captions_findings, findings_details, layout_findings
from caption_assets.core.processing.captions_db import OCR_ERROR, Caption, write_captions

pytestmark = pytest.mark.unit


def _cap(i: int, start: float, end: float, text: str = "hi", **kw) -> Caption:
    return Caption(
        id=i,
        start_frame_index=int(start * 10),
        end_frame_index=int(end * 10) - 1,
        start_native_frame=int(start * 30),
        end_native_frame=int(end * 30) - 1,
        start_seconds=start,
        end_seconds=end,
        text=text,
        **kw,
    )


def _by_name(findings):
    return {f.name: f for f in findings}


def test_layout_region_found_passes_and_low_confidence_warns() -> None:
    ok = _by_name(layout_findings(LayoutResult((0, 600, 1280, 100), 0.9, 20, 14, 14)))
    assert ok["layout_has_caption_region"].passed and ok["layout_region_confidence"].passed
    low = _by_name(layout_findings(LayoutResult((0, 600, 1280, 100), 0.3, 20, 14, 14)))
    assert low["layout_has_caption_region"].passed
    assert not low["layout_region_confidence"].passed
    assert not low["layout_region_confidence"].blocking


def test_layout_without_text_passes_but_text_without_region_blocks() -> None:
    empty = _by_name(layout_findings(LayoutResult(None, 0.0, 20, 11, 0)))
    assert empty["layout_has_caption_region"].passed
    stray = _by_name(layout_findings(LayoutResult(None, 0.0, 20, 7, 7)))
    failed = stray["layout_has_caption_region"]
    assert not failed.passed and failed.blocking and "annotation" in failed.message
    details = findings_details([failed], "run-1")
    assert details["run_id"] == "run-1" and details["checks"] == ["layout_has_caption_region"]


def test_valid_captions_pass(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    write_captions(
        db, [_cap(1, 0.5, 2.0), _cap(2, 2.0, 4.0), _cap(3, 5.0, 6.0, "", text_ocr_status=OCR_ERROR)]
    )
    found = _by_name(captions_findings(db, 60.0, region_found=True))
    assert found["captions_db_valid"].passed, found["captions_db_valid"].message
    assert found["captions_rate_plausible"].passed


@pytest.mark.parametrize(
    ("captions", "problem"),
    [
        ([_cap(1, 0.5, 2.0), _cap(2, 1.5, 3.0)], "overlap"),
        ([_cap(1, 0.5, 2.0, "  ")], "no text"),
        ([_cap(1, 2.0, 1.0)], "ends before it starts"),
    ],
)
def test_invalid_captions_block(tmp_path: Path, captions, problem: str) -> None:
    db = tmp_path / "c.db"
    write_captions(db, captions)
    valid = _by_name(captions_findings(db, 60.0, region_found=True))["captions_db_valid"]
    assert not valid.passed and valid.blocking and problem in valid.message


def test_wrong_schema_blocks(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    con = sqlite3.connect(db)
    con.execute("create table captions (id integer, text text)")
    con.close()
    valid = _by_name(captions_findings(db, 60.0, region_found=True))["captions_db_valid"]
    assert not valid.passed and "columns missing" in valid.message


def test_caption_rate_warnings(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    write_captions(db, [])
    # no caption region: zero captions is the expected answer
    assert _by_name(captions_findings(db, 300.0, region_found=False))["captions_rate_plausible"].passed
    # a caption region but nothing read: a person should look
    assert not _by_name(captions_findings(db, 300.0, region_found=True))["captions_rate_plausible"].passed
    flicker = tmp_path / "many.db"
    write_captions(flicker, [_cap(i, i * 0.5, i * 0.5 + 0.4) for i in range(100)])
    rate = _by_name(captions_findings(flicker, 50.0, region_found=True))["captions_rate_plausible"]
    assert not rate.passed and "flicker" in rate.message
