"""Data tests of layout.db and captions.db as pure functions; the assets report them as asset
checks (blocking ERROR checks stop bad output from flowing downstream, WARN checks flag output a
person should look at)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from caption_assets.core.catalog.base import error_details
from caption_assets.core.compute.base import LayoutResult
from caption_assets.core.processing.captions_db import OCR_ERROR, Caption, read_captions

MIN_REGION_CONFIDENCE = 0.5
# Reading speed bounds: a caption a second on average is already faster than people read; a long
# video with a caption region but under one caption every two minutes has most likely lost some.
MAX_CAPTIONS_PER_MINUTE = 60.0
MIN_CAPTIONS_PER_MINUTE = 0.5
MIN_MINUTES_FOR_RATE = 1.0


@dataclass(frozen=True)
class Finding:
    name: str
    passed: bool
    blocking: bool
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)


def layout_findings(result: LayoutResult) -> list[Finding]:
    if result.region is not None:
        region = Finding(
            "layout_has_caption_region",
            True,
            True,
            f"caption region {result.region}",
            {"confidence": result.confidence},
        )
    elif result.plausible_box_count == 0:
        region = Finding(
            "layout_has_caption_region",
            True,
            True,
            "no text in any sampled frame: the video has no burned-in captions",
            {"boxes": result.box_count, "text_boxes": 0},
        )
    else:
        region = Finding(
            "layout_has_caption_region",
            False,
            True,
            f"{result.plausible_box_count} text boxes were found but none recur as captions do; "
            "draw the caption region in the web app's layout annotation",
            {"boxes": result.box_count, "text_boxes": result.plausible_box_count},
        )
    low = result.region is not None and result.confidence < MIN_REGION_CONFIDENCE
    confidence = Finding(
        "layout_region_confidence",
        not low,
        False,
        f"region confidence {result.confidence:.2f}" + (f" is below {MIN_REGION_CONFIDENCE}" if low else ""),
        {"confidence": result.confidence},
    )
    return [region, confidence]


def _schema_problems(db_path: Path) -> list[str]:
    expected = {f.name for f in fields(Caption)}
    con = sqlite3.connect(db_path)
    try:
        present = {row[1] for row in con.execute("pragma table_info(captions)")}
    finally:
        con.close()
    if not present:
        return ["table captions is missing"]
    missing = sorted(expected - present)
    return [f"columns missing: {', '.join(missing)}"] if missing else []


def _cue_problems(captions: Iterable[Caption]) -> list[str]:
    problems: list[str] = []
    last_by_zone: dict[int, Caption] = {}
    for c in captions:
        if c.end_seconds <= c.start_seconds or c.end_native_frame < c.start_native_frame:
            problems.append(f"caption {c.id} ends before it starts")
        if c.end_frame_index < c.start_frame_index:
            problems.append(f"caption {c.id}: 10 Hz extent is reversed")
        if not (c.text or "").strip() and c.text_ocr_status != OCR_ERROR:
            problems.append(f"caption {c.id} has no text and no OCR error")
        prev = last_by_zone.get(c.zone)
        if prev is not None and c.start_native_frame <= prev.end_native_frame:
            problems.append(f"captions {prev.id} and {c.id} overlap")
        last_by_zone[c.zone] = c
    return problems


def captions_findings(db_path: Path, duration_seconds: float | None, region_found: bool) -> list[Finding]:
    problems = _schema_problems(db_path)
    captions: list[Caption] = [] if problems else read_captions(db_path)
    problems += _cue_problems(captions)
    valid = Finding(
        "captions_db_valid",
        not problems,
        True,
        "schema, order and text are valid" if not problems else "; ".join(problems[:10]),
        {"captions": len(captions), "problems": len(problems)},
    )
    minutes = (duration_seconds or 0.0) / 60.0
    rate = len(captions) / minutes if minutes > 0 else 0.0
    too_many = rate > MAX_CAPTIONS_PER_MINUTE
    too_few = region_found and minutes >= MIN_MINUTES_FOR_RATE and rate < MIN_CAPTIONS_PER_MINUTE
    too_few = too_few or (region_found and not captions)
    message = f"{rate:.1f} captions per minute"
    if too_many:
        message += f" is more than {MAX_CAPTIONS_PER_MINUTE:.0f}: check for flicker splitting captions"
    elif too_few:
        message += " is fewer than expected for a video with a caption region"
    plausible = Finding(
        "captions_rate_plausible",
        not (too_many or too_few),
        False,
        message,
        {"captions_per_minute": round(rate, 2)},
    )
    return [valid, plausible]


def findings_details(failed: list[Finding], run_id: str | None) -> dict[str, Any]:
    return error_details(
        message="; ".join(f"{f.name}: {f.message}" for f in failed),
        error="blocking asset check failed",
        run_id=run_id,
        checks=[f.name for f in failed],
    )
