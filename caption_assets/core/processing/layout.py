"""Caption region from the OCR boxes of the full frames, and layout.db.

A zone is accepted only when its text behaves like captions. Assumptions the detection rests on:
- Caption lines recur at a stable height across the video (their boxes' vertical centres cluster).
- Captions sit near the top or the bottom: a zone's centre lies in the outer ``CAPTION_BAND`` (38%) of
  the frame's height at either end. That holds for bottom captions with two lines and a generous
  margin, top captions, captions in a letterbox bar and captions raised above a phone app's controls
  in vertical video (up to ~60% down the frame); the middle quarter left out is where signs, title
  cards and scene text are, and where renderers put dialogue only on request (typesetting).
- Caption lines are centred: a line's centre (its boxes in one frame, joined) is within
  ``MAX_CENTRE_OFFSET`` (15%) of the width from the frame's vertical axis, whatever the line's
  length; the median line of a zone must be. Left- or right-aligned captions are not supported.
- Captions come and go with speech: one text stays up for seconds, not for longer than
  ``MAX_CAPTION_SECONDS`` (subtitle guidelines cap an event at 6-7 s for reading speed). The same text
  at the same place in consecutive samples for longer than that is a logo, watermark, title or
  other held overlay, and so is one off the centre line in nearly every sampled frame (a logo in a
  video too short to tell by duration). These are judged per box track, before the zones are
  formed, so a logo beside the captions leaves the caption zone as it is.
- Captions do not move and stay inside the frame: text cut by a frame edge, a line of boxes running
  from one edge to the other, or the same text (or a scrolled continuation of it) found shifted
  sideways in the next sample is a ticker or scene text on a panning shot, not a caption.
- Every zone must pass all of the above, so a second zone is accepted only when it too behaves like
  captions (and is nearly as established as the best one).
- Captions have at most two lines more than were seen in the sampled frames' tallest caption: the band
  grows by one line towards the frame's centre so a two-line caption the samples missed still fits;
  it never grows over text ruled out above (a ticker under the captions stays out of the band).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz

from caption_assets.core.processing.ocr import Box, reading_order
from caption_assets.core.processing.sampling import RATE
from caption_assets.core.processing.video import Region

SCHEMA_VERSION = 1

CAPTION_BAND = 0.38  # share of the height, from the top or the bottom edge, where caption lines sit
MAX_CENTRE_OFFSET = 0.15  # share of the width a centred line's centre may be off the vertical axis
MAX_CAPTION_SECONDS = 8.0  # longer than any one caption stays up
LOGO_FRAME_SHARE = 0.8  # an off-centre text in this share of the samples is a logo, however short
RECENT_READS = 3  # a track goes on with any of its last reads: OCR alternates between misreads
MISSED_SAMPLES = 2  # ... and after as many samples without it (missed, or read another way)
EDGE_TOLERANCE = 0.01  # share of the width: a box this close to a frame edge is cut by it
SAME_TEXT = 90  # rapidfuzz ratio from which two texts are the same (distinct texts are counted with it)


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
    static_share: float  # share of boxes whose text reappears at the same place in another sample
    line_height: float
    box_count: int
    position: str  # "bottom" | "top"


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

_Item = tuple[int, Box, str]  # sampled frame index, box, recognised text


def plausible_geometry(box: Box, height: int) -> bool:
    """A horizontal line of caption size: 0.8% to 12% of the frame's height, at least as wide as high
    (give or take). Only such boxes are worth recognising."""
    return 0.008 * height <= box.height <= 0.12 * height and box.width >= 0.8 * box.height


def _plausible(box: Box, text: str, score: float, height: int) -> bool:
    """A horizontal line of caption size that reads as text (two letters or digits at least,
    recognised with some confidence): clutter detected as text is not."""
    return (
        plausible_geometry(box, height) and score >= MIN_TEXT_SCORE and sum(ch.isalnum() for ch in text) >= 2
    )


def _clusters(items: list[_Item], tolerance: float) -> list[list[_Item]]:
    """Group boxes whose vertical centres lie within ``tolerance`` of a cluster's running mean."""
    groups: list[list[_Item]] = []
    for item in sorted(items, key=lambda it: it[1].cy):
        if groups:
            centre = float(np.mean([b.cy for _, b, _ in groups[-1]]))
            if abs(item[1].cy - centre) <= tolerance:
                groups[-1].append(item)
                continue
        groups.append([item])
    return groups


def detect_zones(frames: list[FrameBoxes]) -> LayoutResult:
    """Caption zones from the boxes of the sampled full frames (the module docstring says which text
    counts as captions)."""
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
    overlays = _overlay_items(items, sorted({f.frame_index for f in frames}), width)
    stats["overlay_boxes"] = dict(Counter(overlays.values()))
    kept = [item for i, item in enumerate(items) if i not in overlays]
    if not kept:
        return LayoutResult([], stats)
    # text ruled out that stays where it is: the band keeps clear of it (moving or cut-off text
    # may pass anywhere, so it does not shape the band)
    staying = [items[i][1] for i, why in overlays.items() if why in ("held", "logo", "edge to edge")]
    beside = [items[i][1] for i, why in overlays.items() if why in ("held", "logo")]
    median_h = float(np.median([b.height for _, b, _ in kept]))
    # lines of one caption are a line height apart; two-line captions form one zone
    groups = _clusters(kept, tolerance=1.2 * median_h)
    zones: list[Zone] = []
    candidates = []
    for group in groups:
        frames_with = {fi for fi, _, _ in group}
        frame_share = len(frames_with) / len(frames)
        offset = float(np.median(_line_offsets(group, width)))
        centred = float(np.clip(1.0 - (offset - 0.05) / 0.2, 0.0, 1.0))
        static_share = _static_share(group)
        line_h = float(np.median([b.height for _, b, _ in group]))
        score = frame_share * (0.3 + 0.7 * centred)
        y0 = min(b.y0 for _, b, _ in group)
        y1 = max(b.y1 for _, b, _ in group)
        centre_y = (y0 + y1) / 2 / height
        position = "bottom" if centre_y >= 1 - CAPTION_BAND else "top" if centre_y <= CAPTION_BAND else None
        # recurring: several frames (or a single frame for a short video's only caption)
        min_frames = 2 if len(frames) >= 4 else 1
        rejected = (
            "too few frames"
            if len(frames_with) < min_frames
            else "middle of the frame"
            if position is None
            else "not centred"
            if offset > MAX_CENTRE_OFFSET
            else "weak"
            if score < 0.05
            else None
        )
        candidates.append(
            {
                "cy": round(float(np.mean([b.cy for _, b, _ in group]) / height), 3),
                "frames": len(frames_with),
                "frame_share": round(frame_share, 3),
                "centred": round(centred, 3),
                "static_share": round(static_share, 3),
                "distinct_texts": _distinct_texts(group),
                "score": round(score, 3),
                "rejected": rejected,
            }
        )
        if rejected or position is None:
            continue
        margin = 0.5 * line_h
        lines_seen = max(_lines_per_frame(group).values())
        grow = 1.3 * line_h if lines_seen < 2 else 0.0
        top = y0 - margin - (grow if position == "bottom" else 0.0)
        bottom = y1 + margin + (grow if position == "top" else 0.0)
        # the band's margins stop at text ruled out above or below the lines
        top = max([top, *(b.y1 for b in staying if b.y1 <= y0)])
        bottom = min([bottom, *(b.y0 for b in staying if b.y0 >= y1)])
        half = _half_width(group, [b for b in beside if b.y0 < bottom and b.y1 > top], width, margin)
        x0 = int(width / 2 - half)
        region = Region(x0, int(max(0, top)), width - 2 * x0, int(min(height, bottom) - max(0, top)))
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


# ---------------------------------------------------------------------------------------------
# text that is not captions, box by box


def _overlay_items(items: list[_Item], samples: list[int], width: int) -> dict[int, str]:
    """Indices of the boxes that are not caption text, with the reason: held over a long span (logo,
    title, watermark), cut by a frame edge, a line spanning the width edge to edge for longer than a
    caption stays (ticker), or moving sideways between samples (ticker, scene text on a panning shot)."""
    reasons: dict[int, str] = {}
    for track in _tracks(items, samples, _same_place_same_text):
        off_axis = np.median([abs(items[i][1].cx - width / 2) for i in track]) > MAX_CENTRE_OFFSET * width
        if _held(items, track):
            reasons.update({i: "held" for i in track})
        elif len(samples) >= 4 and len(track) >= LOGO_FRAME_SHARE * len(samples) and off_axis:
            reasons.update({i: "logo" for i in track})
    by_frame: dict[int, list[int]] = {}
    for i, (fi, _, _) in enumerate(items):
        by_frame.setdefault(fi, []).append(i)
    tolerance = EDGE_TOLERANCE * width
    # a line from edge to edge, one item per frame and line: a long caption in a narrow (vertical)
    # frame can span it too, but does not change in every sample over a long span
    full_lines: list[_Item] = []
    members: list[list[int]] = []
    for fi, indices in by_frame.items():
        for row in _rows(items, indices):
            boxes = [items[i][1] for i in row]
            left, right = min(b.x0 for b in boxes) <= tolerance, max(b.x1 for b in boxes) >= width - tolerance
            if left and right:
                union = Box(0, min(b.y0 for b in boxes), width, max(b.y1 for b in boxes))
                full_lines.append((fi, union, " ".join(items[i][2] for i in row)))
                members.append(row)
            elif left or right:
                # centred captions that reach one edge reach both: this one runs off the frame
                reasons.update(
                    {
                        i: "cut by the frame edge"
                        for i, b in zip(row, boxes)
                        if b.x0 <= tolerance or b.x1 >= width - tolerance
                    }
                )
    for track in _tracks(full_lines, samples, lambda a, b: _same_row(a[1], b[1])):
        # a ticker never shows the same text in the same place twice; a caption seen in two samples does
        stays = any(
            fuzz.ratio(full_lines[k][2], full_lines[n][2]) >= SAME_TEXT
            and not _moved(full_lines[k], full_lines[n])
            for k, n in zip(track, track[1:])
        )
        if _held(full_lines, track) and not stays:
            reasons.update({i: "edge to edge" for k in track for i in members[k]})
    for before, after in zip(samples, samples[1:]):
        for i in by_frame.get(before, []):
            for j in by_frame.get(after, []):
                if _same_row(items[i][1], items[j][1]) and _moved(items[i], items[j]):
                    reasons.setdefault(i, "moving")
                    reasons.setdefault(j, "moving")
    return reasons


def _held(items: list[_Item], track: list[int]) -> bool:
    """Seen from one sample to another further apart than any caption stays up."""
    return (items[track[-1]][0] - items[track[0]][0]) / RATE > MAX_CAPTION_SECONDS


def _same_place_same_text(a: _Item, b: _Item) -> bool:
    """Read alike at the same place. Exactly alike: captions that follow each other can differ in a
    character or two ("Part 1", "Part 2"); a held text's misreads recur, and a track matches any of its
    recent reads."""
    _, box, text = a
    _, other, other_text = b
    near = abs(box.cx - other.cx) < 0.5 * box.height and abs(box.cy - other.cy) < 0.5 * box.height
    return near and bool(text) and " ".join(text.split()) == " ".join(other_text.split())


def _tracks(items: list[_Item], samples: list[int], same: Callable[[_Item, _Item], bool]) -> list[list[int]]:
    """Runs of items that are ``same`` as one of the run's last few over consecutive samples (a few
    samples may miss it: OCR misses or misreads it now and then), as item indices in time order."""
    rank = {fi: k for k, fi in enumerate(samples)}
    by_frame: dict[int, list[int]] = {}
    for i, (fi, _, _) in enumerate(items):
        by_frame.setdefault(fi, []).append(i)
    tracks: list[list[int]] = []
    alive: list[int] = []
    for fi in samples:
        alive = [t for t in alive if rank[fi] - rank[items[tracks[t][-1]][0]] <= 1 + MISSED_SAMPLES]
        extended: set[int] = set()
        for i in by_frame.get(fi, []):
            match = next(
                (
                    t
                    for t in alive
                    if t not in extended and any(same(items[j], items[i]) for j in tracks[t][-RECENT_READS:])
                ),
                None,
            )
            if match is None:
                tracks.append([i])
                match = len(tracks) - 1
                alive.append(match)
            else:
                tracks[match].append(i)
            extended.add(match)
    return tracks


def _rows(items: list[_Item], indices: list[int]) -> list[list[int]]:
    """One frame's boxes grouped into lines of text (item indices)."""
    index_of = {id(items[i][1]): i for i in indices}
    return [[index_of[id(b)] for b in line] for line in reading_order([items[i][1] for i in indices])]


def _same_row(a: Box, b: Box) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap > 0.5 * min(a.height, b.height) and abs(a.height - b.height) <= 0.3 * max(
        a.height, b.height
    )


def _moved(a: _Item, b: _Item) -> bool:
    """The text of ``a`` is found in ``b`` (one sample later) displaced sideways: a scrolled
    continuation (the end of one read is the start of the other, a line height or more further on), or
    the same text moved as a whole."""
    _, box, text = a
    _, other, other_text = b
    if not text or not other_text:
        return False
    block = SequenceMatcher(None, text, other_text, autojunk=False).find_longest_match(
        0, len(text), 0, len(other_text)
    )
    shorter, longer = sorted((len(text), len(other_text)))
    # shared characters too many for two captions to share by chance, placed as scrolling places
    # them (a read that only lost its end, as a fading caption's may, starts both at 0: not scrolled)
    scrolled_left = block.a + block.size >= len(text) - 1 and block.b <= 1 < block.a
    scrolled_right = block.b + block.size >= len(other_text) - 1 and block.a <= 1 < block.b
    if block.size >= max(8, 0.3 * shorter) and (scrolled_left or scrolled_right):
        # where they are on screen, assuming characters of even width (hence a whole line height of
        # displacement before it counts)
        xa = box.x0 + (block.a + block.size / 2) / len(text) * box.width
        xb = other.x0 + (block.b + block.size / 2) / len(other_text) * other.width
        return abs(xa - xb) >= box.height
    if longer - shorter <= 1 and fuzz.ratio(text, other_text) >= SAME_TEXT:
        # the complement of "the same place" that tracks use (a letter may be misread)
        return abs(box.cx - other.cx) >= 0.5 * box.height
    return False


# ---------------------------------------------------------------------------------------------
# zone statistics


def _line_offsets(group: list[_Item], width: int) -> list[float]:
    """Distance of each line's centre (its boxes in one frame, joined) from the vertical axis, as a
    share of the width: a centred line split into word boxes is still centred."""
    per_frame: dict[int, list[Box]] = {}
    for fi, box, _ in group:
        per_frame.setdefault(fi, []).append(box)
    return [
        abs((line[0].x0 + max(b.x1 for b in line)) / 2 - width / 2) / width
        for boxes in per_frame.values()
        for line in reading_order(boxes)
    ]


def _half_width(group: list[_Item], beside: list[Box], width: int, margin: float) -> float:
    """Half the band's width: the whole frame's, unless a logo or other held text shares the band's
    height off to a side; then the band stops short of it on both sides (the lines are centred), if
    the lines seen still fit."""
    axis = width / 2
    lines = max(max(axis - b.x0, b.x1 - axis) for _, b, _ in group) + margin
    clear = (
        min((b.x0 - axis if b.x0 >= axis else axis - b.x1 if b.x1 <= axis else 0.0) for b in beside)
        if beside
        else axis
    )
    return min(axis, clear) if clear >= lines else axis


def _lines_per_frame(group: list[_Item]) -> dict[int, int]:
    per_frame: dict[int, list[Box]] = {}
    for fi, box, _ in group:
        per_frame.setdefault(fi, []).append(box)
    return {fi: len(reading_order(boxes)) for fi, boxes in per_frame.items()}


def _distinct_texts(group: list[_Item]) -> int:
    """How many different texts (rapidfuzz ratio < 90 to every other) the group shows."""
    seen: list[str] = []
    for _, _, text in group:
        if text and not any(fuzz.ratio(text, other) >= SAME_TEXT for other in seen):
            seen.append(text)
    return len(seen)


def _static_share(group: list[_Item]) -> float:
    """Share of boxes whose text reappears at the same place in another sample (held text; captions
    reach it too when each is seen in several samples, so it is reported, not decided on)."""
    if len(group) < 2:
        return 0.0
    repeated = sum(
        any(other[0] != item[0] and _same_place_same_text(item, other) for other in group) for item in group
    )
    return repeated / len(group)


def _merge_overlapping(zones: list[Zone], width: int, height: int) -> list[Zone]:
    merged: list[Zone] = []
    for zone in sorted(zones, key=lambda z: z.region.y):
        if merged:
            last = merged[-1]
            if zone.region.y <= last.region.y + last.region.height:
                y0 = last.region.y
                y1 = max(last.region.y + last.region.height, zone.region.y + zone.region.height)
                x0 = min(last.region.x, zone.region.x)
                x1 = max(last.region.x + last.region.width, zone.region.x + zone.region.width)
                keep = last if last.confidence >= zone.confidence else zone
                merged[-1] = Zone(
                    **{**asdict(keep), "region": Region(x0, y0, x1 - x0, y1 - y0).even(width, height)}
                )
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
                (
                    r.x,
                    r.y,
                    r.width,
                    r.height,
                    zone.confidence,
                    zone.frame_share,
                    zone.centred,
                    zone.static_share,
                    zone.line_height,
                    zone.box_count,
                    zone.position,
                ),
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
        zones = [Region(*row) for row in db.execute("select x, y, width, height from zones order by y")]
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
