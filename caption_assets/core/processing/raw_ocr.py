"""raw-ocr.db: what the band scan found, before it becomes captions (server-side, never shown to
tenants).

One row per caption state with text: its zone, exact native frames and times, how many 10 Hz samples
it spans, and the voted reading. ``captions_db`` turns these into captions (joining over-split states,
keeping what a person owns); the scan and OCR happen once, in the pass that also cuts the band for
the annotation UI, so the video is decoded once for both.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from caption_assets.core.processing.video import Region

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RawReading:
    zone: int
    first: int  # native frames, inclusive
    last: int
    start: float  # seconds, half-open display interval
    end: float
    samples: int  # 10 Hz samples the state spans
    text: str
    confidence: float
    reads: int  # frames recognised for the vote


@dataclass(frozen=True)
class RawOcr:
    zones: list[Region]  # display pixels, as cropped
    readings: list[RawReading]
    metadata: dict[str, str]  # video geometry and timing, scan counts (no run times: the file is
    # the same whenever the same video and layout are scanned)


_COLUMNS = [f.name for f in fields(RawReading)]
_SCHEMA = f"""
create table readings (id integer primary key, {", ".join(_COLUMNS)});
create table zones (number integer primary key, x integer, y integer, width integer, height integer);
create table metadata (key text primary key, value text not null);
"""


def write_raw_ocr(path: Path, raw: RawOcr) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(_SCHEMA)
        db.executemany(
            "insert into zones values (?, ?, ?, ?, ?)",
            [(n, z.x, z.y, z.width, z.height) for n, z in enumerate(raw.zones)],
        )
        db.executemany(
            f"insert into readings ({', '.join(_COLUMNS)}) values ({', '.join('?' * len(_COLUMNS))})",
            [astuple(r) for r in raw.readings],
        )
        meta = {**raw.metadata, "schema_version": str(SCHEMA_VERSION)}
        db.executemany("insert into metadata values (?, ?)", meta.items())
        db.commit()
    finally:
        db.close()


def read_raw_ocr(path: Path) -> RawOcr:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    db = sqlite3.connect(path)
    try:
        zones = [Region(*row) for row in db.execute("select x, y, width, height from zones order by number")]
        readings = [
            RawReading(*row)
            for row in db.execute(f"select {', '.join(_COLUMNS)} from readings order by zone, first")
        ]
        metadata = dict(db.execute("select key, value from metadata").fetchall())
    finally:
        db.close()
    return RawOcr(zones, readings, metadata)


def stats_of(raw: RawOcr) -> dict[str, float]:
    """The scan's counts (stored as JSON in the metadata)."""
    return {k: float(v) for k, v in json.loads(raw.metadata.get("stats", "{}")).items()}
