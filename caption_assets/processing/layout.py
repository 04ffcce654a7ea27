"""Caption region from the OCR boxes of the full frames, and layout.db.

Assumptions the detection rests on:
- Caption lines recur at a stable height across the video (their boxes' vertical centres cluster),
  and are horizontally centred or at least span the middle of the frame.
- Logos and watermarks also recur but show the same text at the same place in every frame; scene
  text does not recur at one height in many frames.
- Captions have at most two lines more than were seen in the sampled frames' tallest caption: the band
  grows by one line towards the frame's centre so a two-line caption the samples missed still fits.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz

from caption_assets.processing.ocr import Box, reading_order
from caption_assets.processing.video import Region

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FrameBoxes:
    frame_index: int  # tenths of a second
    width: int
    height: int
    boxes: list[tuple[Box, str, float]]  # box, recognised text, recognition confidence


@dataclass
class Zone:
    region: Region  # the band to crop, native pixels, with margin
    confidence: float
    frame_share: float  # share of sampled frames with a caption line in the zone
    centred: float  # 1 = lines centred on the frame's vertical axis
    static_share: float  # share of repeated identical text at the same place (logo-like)
    line_height: float
    box_count: int
    position: str  # "bottom" | "top" | "middle"


@dataclass
class LayoutResult:
    zones: list[Zone] = field(default_factory=list)
    stats: dict[str, object] = field(default_factory=dict)

    @property
    def region(self) -> Region | None:
        """One band covering every caption zone (what the annotation UI crops)."""
        if not self.zones:
            return None
        x0 = min(z.region.x for z in self.zones)
        y0 = min(z.region.y for z in self.zones)
        x1 = max(z.region.x + z.region.width for z in self.zones)
        y1 = max(z.region.y + z.region.height for z in self.zones)
        return Region(x0, y0, x1 - x0, y1 - y0)

    @property
    def confidence(self) -> float:
        return max((z.confidence for z in self.zones), default=0.0)


MIN_TEXT_SCORE = 0.5


def plausible_geometry(box: Box, height: int) -> bool:
    """A horizontal line of caption size: 0.8% to 12% of the frame's height, at least as wide as high
    (give or take). Only such boxes are worth recognising."""
    return 0.008 * height <= box.height <= 0.12 * height and box.width >= 0.8 * box.height


def _plausible(box: Box, text: str, score: float, height: int) -> bool:
    """A horizontal line of caption size that reads as text (two letters or digits at least,
    recognised with some confidence): clutter detected as text is not."""
    return (
        plausible_geometry(box, height)
        and score >= MIN_TEXT_SCORE
        and sum(ch.isalnum() for ch in text) >= 2
    )


def _clusters(items: list[tuple[int, Box, str]], tolerance: float) -> list[list[tuple[int, Box, str]]]:
    """Group boxes whose vertical centres lie within ``tolerance`` of a cluster's running mean."""
    groups: list[list[tuple[int, Box, str]]] = []
    for item in sorted(items, key=lambda it: it[1].cy):
        if groups:
            centre = float(np.mean([b.cy for _, b, _ in groups[-1]]))
            if abs(item[1].cy - centre) <= tolerance:
                groups[-1].append(item)
                continue
        groups.append([item])
    return groups


def detect_zones(frames: list[FrameBoxes]) -> LayoutResult:
    """Caption zones from the boxes of the sampled full frames."""
    stats: dict[str, object] = {"frames": len(frames), "boxes": sum(len(f.boxes) for f in frames)}
    if not frames:
        return LayoutResult([], stats)
    width, height = frames[0].width, frames[0].height
    items = [
        (f.frame_index, box, text)
        for f in frames
        for box, text, score in f.boxes
        if _plausible(box, text, score, height)
    ]
    stats["plausible_boxes"] = len(items)
    if not items:
        return LayoutResult([], stats)
    median_h = float(np.median([b.height for _, b, _ in items]))
    # lines of one caption are a line height apart; two-line captions form one zone
    groups = _clusters(items, tolerance=1.2 * median_h)
    zones: list[Zone] = []
    candidates = []
    for group in groups:
        frames_with = {fi for fi, _, _ in group}
        frame_share = len(frames_with) / len(frames)
        offsets = [abs(b.cx - width / 2) / width for _, b, _ in group]
        centred = float(np.clip(1.0 - (np.median(offsets) - 0.05) / 0.2, 0.0, 1.0))
        static_share = _static_share(group)
        distinct = _distinct_texts(group)
        line_h = float(np.median([b.height for _, b, _ in group]))
        # one unchanging text off the centre line is a logo or watermark; a centred one may be a
        # caption that stays up for the whole (short) video
        logo_like = distinct <= 1 and static_share > 0.6 and centred < 0.5
        score = frame_share * (0.3 + 0.7 * centred)
        candidates.append(
            {
                "cy": float(np.mean([b.cy for _, b, _ in group]) / height),
                "frames": len(frames_with),
                "frame_share": round(frame_share, 3),
                "centred": round(centred, 3),
                "static_share": round(static_share, 3),
                "distinct_texts": distinct,
                "score": round(score, 3),
            }
        )
        # recurring: several frames (or a single frame for a short video's only caption, if centred)
        min_frames = 2 if len(frames) >= 4 else 1
        if len(frames_with) < min_frames or logo_like or centred < 0.2 or score < 0.05:
            continue
        y0 = min(b.y0 for _, b, _ in group)
        y1 = max(b.y1 for _, b, _ in group)
        margin = 0.5 * line_h
        centre_y = (y0 + y1) / 2 / height
        position = "bottom" if centre_y > 0.6 else "top" if centre_y < 0.4 else "middle"
        lines_seen = max(_lines_per_frame(group).values())
        grow = 1.3 * line_h if lines_seen < 2 else 0.0
        top = y0 - margin - (grow if position == "bottom" else 0.0)
        bottom = y1 + margin + (grow if position == "top" else 0.0)
        region = Region(0, int(max(0, top)), width, int(min(height, bottom) - max(0, top)))
        zones.append(
            Zone(
                region=region.even(width, height),
                confidence=round(min(1.0, score * 1.5), 3),
                frame_share=round(frame_share, 3),
                centred=round(centred, 3),
                static_share=round(static_share, 3),
                line_height=round(line_h, 1),
                box_count=len(group),
                position=position,
            )
        )
    stats["candidates"] = candidates
    # a secondary zone must be nearly as established as the best one to count
    zones.sort(key=lambda z: -z.confidence)
    if zones:
        best = zones[0].confidence
        zones = [z for z in zones if z.confidence >= 0.35 * best]
    return LayoutResult(_merge_overlapping(zones, width, height), stats)


def _lines_per_frame(group: list[tuple[int, Box, str]]) -> dict[int, int]:
    per_frame: dict[int, list[Box]] = {}
    for fi, box, _ in group:
        per_frame.setdefault(fi, []).append(box)
    return {fi: len(reading_order(boxes)) for fi, boxes in per_frame.items()}


def _distinct_texts(group: list[tuple[int, Box, str]]) -> int:
    """How many different texts (rapidfuzz ratio < 90 to every other) the group shows."""
    seen: list[str] = []
    for _, _, text in group:
        if text and not any(fuzz.ratio(text, other) >= 90 for other in seen):
            seen.append(text)
    return len(seen)


def _static_share(group: list[tuple[int, Box, str]]) -> float:
    """Share of boxes whose text reappears at the same place in another frame (logo, watermark)."""
    if len(group) < 2:
        return 0.0
    repeated = 0
    for i, (fi, box, text) in enumerate(group):
        for fj, other, other_text in group:
            if fj == fi or not text:
                continue
            same_place = abs(box.cx - other.cx) < 0.5 * box.height and abs(box.cy - other.cy) < 0.5 * box.height
            if same_place and fuzz.ratio(text, other_text) >= 90:
                repeated += 1
                break
    return repeated / len(group)


def _merge_overlapping(zones: list[Zone], width: int, height: int) -> list[Zone]:
    merged: list[Zone] = []
    for zone in sorted(zones, key=lambda z: z.region.y):
        if merged:
            last = merged[-1]
            if zone.region.y <= last.region.y + last.region.height:
                y0 = last.region.y
                y1 = max(last.region.y + last.region.height, zone.region.y + zone.region.height)
                keep = last if last.confidence >= zone.confidence else zone
                merged[-1] = Zone(**{**asdict(keep), "region": Region(0, y0, width, y1 - y0).even(width, height)})
                continue
        merged.append(zone)
    return merged


# ---------------------------------------------------------------------------------------------
# layout.db

_SCHEMA = """
create table if not exists frames (
    frame_index integer primary key, width integer not null, height integer not null
);
create table if not exists boxes (
    id integer primary key, frame_index integer not null references frames(frame_index),
    x integer not null, y integer not null, width integer not null, height integer not null,
    det_score real, text text, text_score real
);
create table if not exists zones (
    id integer primary key, x integer not null, y integer not null, width integer not null,
    height integer not null, confidence real not null, frame_share real, centred real,
    static_share real, line_height real, box_count integer, position text
);
create table if not exists metadata (key text primary key, value text not null);
"""


def write_layout_db(path: Path, frames: list[FrameBoxes], result: LayoutResult) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    db = sqlite3.connect(path)
    try:
        db.executescript(_SCHEMA)
        for f in frames:
            db.execute("insert into frames values (?, ?, ?)", (f.frame_index, f.width, f.height))
            for box, text, score in f.boxes:
                db.execute(
                    "insert into boxes (frame_index, x, y, width, height, det_score, text, text_score)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?)",
                    (f.frame_index, box.x0, box.y0, box.width, box.height, box.score, text, score),
                )
        for zone in result.zones:
            r = zone.region
            db.execute(
                "insert into zones (x, y, width, height, confidence, frame_share, centred, static_share,"
                " line_height, box_count, position) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (r.x, r.y, r.width, r.height, zone.confidence, zone.frame_share, zone.centred,
                 zone.static_share, zone.line_height, zone.box_count, zone.position),
            )
        region = result.region
        meta = {
            "schema_version": str(SCHEMA_VERSION),
            "region": json.dumps(None if region is None else asdict(region)),
            "confidence": str(result.confidence),
            "stats": json.dumps(result.stats),
        }
        if frames:
            meta["frame_width"] = str(frames[0].width)
            meta["frame_height"] = str(frames[0].height)
        db.executemany("insert into metadata values (?, ?)", meta.items())
        db.commit()
    finally:
        db.close()


@dataclass(frozen=True)
class StoredLayout:
    region: Region | None
    zones: list[Region]
    confidence: float
    frame_width: int | None
    frame_height: int | None


def read_layout_db(path: Path) -> StoredLayout:
    """The region and zones a layout.db holds (a person may have edited them in the catalog's UI)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    db = sqlite3.connect(path)
    try:
        meta = dict(db.execute("select key, value from metadata").fetchall())
        zones = [
            Region(*row) for row in db.execute("select x, y, width, height from zones order by y")
        ]
    finally:
        db.close()
    raw = json.loads(meta.get("region", "null"))
    region = Region(**raw) if raw else None
    if region is not None and not zones:
        zones = [region]
    return StoredLayout(
        region=region,
        zones=zones,
        confidence=float(meta.get("confidence", 0.0)),
        frame_width=int(meta["frame_width"]) if "frame_width" in meta else None,
        frame_height=int(meta["frame_height"]) if "frame_height" in meta else None,
    )
