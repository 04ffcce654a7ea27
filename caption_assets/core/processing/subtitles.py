"""SRT and WebVTT exports of captions, through pysubs2."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import pysubs2


class Cue(Protocol):
    start_seconds: float
    end_seconds: float
    text: str


def to_subs(captions: Sequence[Cue]) -> pysubs2.SSAFile:
    """Captions with text, in time order, as a pysubs2 document (times in whole milliseconds)."""
    subs = pysubs2.SSAFile()
    for caption in sorted(captions, key=lambda c: (c.start_seconds, c.end_seconds)):
        if not caption.text:
            continue
        start = round(caption.start_seconds * 1000)
        end = max(start + 1, round(caption.end_seconds * 1000))
        # pysubs2 stores line breaks as the ASS "\N" escape and writes them back as real newlines
        subs.append(pysubs2.SSAEvent(start=start, end=end, text=caption.text.replace("\n", r"\N")))
    return subs


def write_srt(captions: Sequence[Cue], path: Path) -> Path:
    return _write(captions, path, "srt")


def write_vtt(captions: Sequence[Cue], path: Path) -> Path:
    return _write(captions, path, "vtt")


def _write(captions: Sequence[Cue], path: Path, format_: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = to_subs(captions).to_string(format_)
    if format_ == "vtt" and not text.startswith("WEBVTT"):
        text = "WEBVTT\n\n" + text
    path.write_text(text, encoding="utf-8")
    return path


def read_cues(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, text) of an SRT or WebVTT file: for checks and tests."""
    text = Path(path).read_text(encoding="utf-8")
    if not text.strip() or text.strip() == "WEBVTT":
        return []  # a valid file with no cues (pysubs2 cannot detect a format without one)
    subs = pysubs2.SSAFile.from_string(text)
    return [(e.start / 1000.0, e.end / 1000.0, e.plaintext) for e in subs]
