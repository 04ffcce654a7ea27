"""captions.db: one row per caption, SQLite.

Columns of the original platform (frame indices on the 10 Hz timeline, extents state, text, OCR status,
timestamps) plus the exact native frames and seconds found here. ``start_frame_index`` is the first
tenth of a second at which the caption is on screen and ``end_frame_index`` the last one (inclusive);
``start_native_frame``/``end_native_frame`` are inclusive native frame indices (presentation order) and
``start_seconds``/``end_seconds`` the half-open display interval.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

SCHEMA_VERSION = 1

# caption_frame_extents_state values
PREDICTED = "predicted"
CONFIRMED = "confirmed"
# text_ocr_status values
OCR_DONE = "done"
OCR_EMPTY = "empty"
OCR_ERROR = "error"
OCR_QUEUED = "queued"

_SCHEMA = """
create table if not exists captions (
    id integer primary key,
    start_frame_index integer not null,
    end_frame_index integer not null,
    caption_frame_extents_state text not null default 'predicted',
    text text,
    text_ocr_status text not null default 'queued',
    text_ocr_confidence real,
    text_edited_at text,
    start_native_frame integer not null,
    end_native_frame integer not null,
    start_seconds real not null,
    end_seconds real not null,
    zone integer not null default 0,
    created_at text not null,
    updated_at text not null
);
create index if not exists captions_start on captions (start_frame_index);
create table if not exists metadata (key text primary key, value text not null);
"""


@dataclass
class Caption:
    id: int
    start_frame_index: int
    end_frame_index: int
    start_native_frame: int
    end_native_frame: int
    start_seconds: float
    end_seconds: float
    text: str
    caption_frame_extents_state: str = PREDICTED
    text_ocr_status: str = OCR_DONE
    text_ocr_confidence: float | None = None
    text_edited_at: str | None = None  # set when a person edited the text
    zone: int = 0
    created_at: str = ""
    updated_at: str = ""

    @property
    def person_owned(self) -> bool:
        """Reprocessing must keep this caption as it is."""
        return self.caption_frame_extents_state == CONFIRMED or self.text_edited_at is not None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def tenths_span(start_seconds: float, end_seconds: float, rate: float = 10.0) -> tuple[int, int]:
    """First and last tenth-of-a-second sample inside ``[start, end)``; a caption shorter than one
    sample interval that falls between two samples gets the nearest sample."""
    first = math.ceil(start_seconds * rate - 1e-6)
    last = math.ceil(end_seconds * rate - 1e-6) - 1
    if last < first:
        first = last = round(start_seconds * rate)
    return first, last


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_captions(path: Path, captions: list[Caption], metadata: dict[str, str] | None = None) -> None:
    """Write a fresh captions.db (an existing file is replaced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    stamp = now()
    columns = [f.name for f in fields(Caption)]
    db = sqlite3.connect(path)
    try:
        db.executescript(_SCHEMA)
        db.execute("insert into metadata values ('schema_version', ?)", (str(SCHEMA_VERSION),))
        for key, value in (metadata or {}).items():
            db.execute("insert or replace into metadata values (?, ?)", (key, value))
        insert = f"insert into captions ({', '.join(columns)}) values ({', '.join('?' * len(columns))})"
        for caption in captions:
            row = caption.to_dict()
            row["created_at"] = row["created_at"] or stamp
            row["updated_at"] = row["updated_at"] or stamp
            db.execute(insert, [row[c] for c in columns])
        db.commit()
    finally:
        db.close()


def read_captions(captions_db_path: Path) -> list[Caption]:
    """All captions of a captions.db, in time order."""
    path = Path(captions_db_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    db = sqlite3.connect(path)
    try:
        db.row_factory = sqlite3.Row
        rows = db.execute("select * from captions order by start_seconds, zone, id").fetchall()
    finally:
        db.close()
    names = {f.name for f in fields(Caption)}
    return [Caption(**{k: row[k] for k in row.keys() if k in names}) for row in rows]
