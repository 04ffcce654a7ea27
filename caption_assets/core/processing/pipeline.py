"""The four heavy steps, as plain functions over local files (no Dagster, no store).

Each step probes the video first (cheap), so bad input fails with ``BadVideoError`` and a one-line
reason at whichever step sees it first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz

from caption_assets.core.errors import BadInputError
from caption_assets.core.processing import captions_db as cdb
from caption_assets.core.processing import layout as lay
from caption_assets.core.processing import ocr
from caption_assets.core.processing.band_scan import BandScan
from caption_assets.core.processing.chunks import ChunkWriter
from caption_assets.core.processing.progress import Progress, Reporter
from caption_assets.core.processing.raw_ocr import RawOcr, RawReading, read_raw_ocr, write_raw_ocr
from caption_assets.core.processing.raw_ocr import stats_of as raw_stats
from caption_assets.core.processing.reading import (
    SURE_READING,
    lines_within,
    read_caption,
    same_caption,
    vote,
)
from caption_assets.core.processing.sampling import RATE, sampled
from caption_assets.core.processing.subtitles import write_srt, write_vtt
from caption_assets.core.processing.video import (
    Region,
    VideoInfo,
    crop_bgr,
    crop_yuv420,
    frames_at,
    iter_frames,
    probe,
    to_rgb,
)

Caption = cdb.Caption
read_captions = cdb.read_captions

__all__ = [
    "Caption",
    "CaptionsOutput",
    "CroppedOutput",
    "FullFramesOutput",
    "LayoutOutput",
    "Region",
    "VideoInfo",
    "full_frame_indices",
    "read_captions",
    "run_captions",
    "run_cropped_frames",
    "run_full_frames",
    "run_layout",
    "run_reocr",
]

THUMBNAIL_WIDTH = 320
FULL_FRAME_STEP = 100  # tenths of a second: one full frame every 10 s
MIN_FULL_FRAMES = 20
# Detection resolution of full frames (longest side). Assumes caption lines are at least ~3% of the
# frame's shorter side high: at 640 px (360 px short side for 16:9) they stay >= 10 px for the detector,
# and detection costs ~25% less than at 736.
LAYOUT_DETECT_SIDE = 640


@dataclass(frozen=True)
class FullFramesOutput:
    info: VideoInfo
    indices: list[int]


@dataclass(frozen=True)
class LayoutOutput:
    region: Region | None
    confidence: float
    frame_count: int
    box_count: int
    stats: dict[str, object]


@dataclass(frozen=True)
class CroppedOutput:
    frame_count: int
    chunk_count: int
    chunk_paths: list[Path]
    raw_ocr_path: Path
    stats: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CaptionsOutput:
    captions: list[Caption]
    srt_path: Path
    vtt_path: Path
    stats: dict[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# full frames


def full_frame_indices(duration_seconds: float) -> list[int]:
    """Tenths of a second to sample: every 10 s, or at least 20 evenly spaced for short videos."""
    total = max(1, int(np.floor(duration_seconds * 10 - 1e-6)) + 1)  # valid indices: 0..total-1
    indices = list(range(0, total, FULL_FRAME_STEP))
    if len(indices) < MIN_FULL_FRAMES:
        indices = sorted({int(j * total / MIN_FULL_FRAMES) for j in range(MIN_FULL_FRAMES)})
    return indices


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def run_full_frames(video_path: Path, out_dir: Path, progress: Progress | None = None) -> FullFramesOutput:
    """JPEGs of the full frame (and 320 px thumbnails) at the sampled tenths of a second;
    ``progress`` hears the frames decoded of those wanted (throttled, ``processing.progress``)."""
    info = probe(video_path)
    wanted = full_frame_indices(info.duration_seconds)
    reporter = Reporter(progress, "frames decoded", len(wanted))
    reporter.update(0)
    frames_dir = Path(out_dir) / "full_frames"
    thumbs_dir = Path(out_dir) / "full_frames_thumbnails"
    frames_dir.mkdir(parents=True, exist_ok=True)
    thumbs_dir.mkdir(parents=True, exist_ok=True)
    written: list[int] = []
    # only the GOPs holding a wanted frame are decoded (keyframe-aware seeks), not the whole file
    for (_target, frame), k in zip(frames_at(video_path, [k / RATE for k in wanted]), wanted):
        rgb = to_rgb(frame, info.rotation)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        name = f"frame_{k:010d}.jpg"
        cv2.imwrite(str(frames_dir / name), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        thumb_h = max(1, round(bgr.shape[0] * THUMBNAIL_WIDTH / bgr.shape[1]))
        thumb = cv2.resize(bgr, (THUMBNAIL_WIDTH, thumb_h), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(thumbs_dir / name), thumb, [cv2.IMWRITE_JPEG_QUALITY, 85])
        written.append(k)
        reporter.update(len(written))
    reporter.finish(len(written))
    return FullFramesOutput(info=info, indices=sorted(written))


# ---------------------------------------------------------------------------------------------
# layout


def _frame_boxes(path: Path, index: int) -> lay.FrameBoxes:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise BadInputError(f"{path.name}: not a readable JPEG full frame")
    h, w = image.shape[:2]
    boxes = ocr.detect(image, limit_side=LAYOUT_DETECT_SIDE)
    # recognition only where geometry alone cannot rule a box out (tiny, huge or vertical boxes)
    wanted = [b for b in boxes if lay.plausible_geometry(b, h)]
    readings = dict(zip(wanted, ocr.recognize([ocr.crop(image, b) for b in wanted])))
    return lay.FrameBoxes(index, w, h, [(b, *readings.get(b, ("", 0.0))) for b in boxes])


def run_layout(frames_dir: Path, layout_db_path: Path, progress: Progress | None = None) -> LayoutOutput:
    """OCR boxes of every full frame into layout.db, and the caption region from where text recurs;
    ``progress`` hears the frames read (throttled)."""
    paths = sorted(Path(frames_dir).glob("frame_*.jpg"))
    if not paths:
        raise BadInputError(f"no full frames (frame_*.jpg) in {Path(frames_dir).name}")
    reporter = Reporter(progress, "frames read", len(paths))
    reporter.update(0)
    # frames side by side on the OCR threads (each reads its own JPEG); reported from this thread
    frames: list[lay.FrameBoxes] = []
    for boxes in ocr.executor().map(lambda p: _frame_boxes(p, int(p.stem.split("_")[1])), paths):
        frames.append(boxes)
        reporter.update(len(frames))
    reporter.finish(len(frames))
    result = lay.detect_zones(frames)
    lay.write_layout_db(layout_db_path, frames, result)
    return LayoutOutput(
        region=result.region,
        confidence=result.confidence,
        frame_count=len(frames),
        box_count=sum(len(f.boxes) for f in frames),
        stats={**result.stats, "zones": len(result.zones)},
    )


def _stored_layout(layout_db_path: Path, info: VideoInfo) -> lay.StoredLayout:
    try:
        stored = lay.read_layout_db(layout_db_path)
    except FileNotFoundError as exc:
        raise BadInputError(f"layout.db is missing: {exc}") from exc
    if stored.frame_width is not None and (stored.frame_width, stored.frame_height) != (
        info.width,
        info.height,
    ):
        raise BadInputError(
            f"layout.db was made for {stored.frame_width}x{stored.frame_height}, "
            f"the video is {info.width}x{info.height}"
        )
    return stored


def _zones(stored: lay.StoredLayout, width: int, height: int) -> list[Region]:
    """The caption zones to scan, even-aligned as the crops need (none without a region)."""
    return [z.even(width, height) for z in stored.zones] if stored.region is not None else []


# ---------------------------------------------------------------------------------------------
# cropped frames


def run_cropped_frames(
    video_path: Path,
    layout_db_path: Path,
    out_dir: Path,
    raw_ocr_path: Path | None = None,
    progress: Progress | None = None,
) -> CroppedOutput:
    """One decode of the video for both uses of the band: the 10 Hz VP9/WebM chunks in three modulo
    levels for the annotation UI, and the caption-state scan with each state's text (raw-ocr.db,
    ``out_dir/raw-ocr.db`` unless given), which ``run_captions`` turns into captions. ``progress``
    hears the native frames scanned of the container's count and the caption states found
    (throttled; the final report, once the states are read, counts the frames there were)."""
    info = probe(video_path)
    stored = _stored_layout(layout_db_path, info)
    raw_ocr_path = Path(raw_ocr_path) if raw_ocr_path else Path(out_dir) / "raw-ocr.db"
    if stored.region is None:
        write_raw_ocr(raw_ocr_path, RawOcr([], [], _metadata(info, [])))
        return CroppedOutput(frame_count=0, chunk_count=0, chunk_paths=[], raw_ocr_path=raw_ocr_path)
    region = stored.region.even(info.width, info.height)
    zones = _zones(stored, info.width, info.height)
    total = int(np.ceil(info.duration_seconds * 10 - 1e-6))
    writer = ChunkWriter(Path(out_dir), region.width, region.height, max(1, total))
    count = 0
    try:
        with BandScan(zones, info.rotation) as scan:
            reporter = Reporter(
                progress,
                lambda: f"frames scanned, {_count(scan.states_found, 'caption state')} found",
                info.total_frames,
            )
            reporter.update(0)

            def scanned() -> Iterator[tuple[float, av.VideoFrame]]:
                for decoded in iter_frames(video_path):
                    scan.add(decoded)
                    reporter.update(scan.frames)
                    yield decoded.time, decoded.frame

            for k, frame in sampled(scanned(), info.duration_seconds):
                writer.add(k, crop_yuv420(frame, region, info.rotation))
                count = k + 1
            readings, counts, timings = scan.finish(info.duration_seconds)
            reporter.finish(scan.frames, total=scan.frames)
    finally:
        paths = writer.close()
    write_raw_ocr(
        raw_ocr_path, RawOcr(zones, readings, {**_metadata(info, zones), "stats": json.dumps(counts)})
    )
    return CroppedOutput(
        frame_count=min(count, max(1, total)),
        chunk_count=len(paths),
        chunk_paths=paths,
        raw_ocr_path=raw_ocr_path,
        stats={**counts, **timings},
    )


# ---------------------------------------------------------------------------------------------
# captions


def _merge(found: list[RawReading]) -> list[RawReading]:
    """Join neighbouring states of one caption: the scan splits a caption wherever the pixels behind
    it change (a scene cut, motion), and the text read on both sides says it is the same caption
    (``reading.same_caption``), or a short fragment (at most two samples: a fade step, or a reading
    that lost one of the lines) reads close to its neighbour or as part of it. Captions shorter
    than 0.2 s are not expected (the method's assumption), so a real caption is never a fragment.
    Neighbours are states that touch, or are apart by fewer frames than one 10 Hz sample interval
    (frames the scan saw as neither state, at a cut); a caption shown again after a real gap stays
    two captions. The joined caption's text is voted over every frame read in any of its states."""
    merged: list[RawReading] = []
    ballots: list[list[tuple[str, float]]] = []
    for item in sorted(found, key=lambda f: (f.zone, f.first)):
        if merged:
            last = merged[-1]
            touching = last.zone == item.zone and item.start - last.end < 1.0 / RATE - 1e-6
            short, other = (last, item) if last.samples <= item.samples else (item, last)
            fragment = short.samples <= 2 and (
                fuzz.ratio(last.text, item.text) >= 80 or lines_within(short.text, other.text)
            )
            if touching and (same_caption(last.text, item.text) or fragment):
                ballots[-1] += _ballot(item)
                text, confidence = vote(ballots[-1])
                merged[-1] = replace(
                    last,
                    last=item.last,
                    end=item.end,
                    samples=last.samples + item.samples,
                    reads=last.reads + item.reads,
                    text=text,
                    confidence=confidence,
                )
                continue
        merged.append(item)
        ballots.append(_ballot(item))
    return merged


def _ballot(found: RawReading) -> list[tuple[str, float]]:
    """A state's reading as votes: one per frame recognised (a majority over many reads of one
    caption beats any single read's errors), but no more than the samples it spans, so a fade step
    read twice does not outvote the caption it fades into."""
    return [(found.text, found.confidence)] * max(1, min(found.reads, found.samples))


def _wordlike(text: str) -> bool:
    """A caption holds a word: two letters or digits, or one CJK character (a word of its own). A
    lone Latin character is what the recogniser makes of background detail in a short state."""
    chars = [ch for ch in text if ch.isalnum()]
    return len(chars) >= 2 or any("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in chars)


SHORT_STATE_SAMPLES = 2  # a state this short (under 0.3 s) had no frames to vote over


def _sure_enough(found: RawReading) -> bool:
    return found.samples > SHORT_STATE_SAMPLES or found.confidence >= SURE_READING


def _to_caption(found: RawReading, caption_id: int) -> Caption:
    first_k, last_k = cdb.tenths_span(found.start, found.end)
    return Caption(
        id=caption_id,
        start_frame_index=first_k,
        end_frame_index=last_k,
        start_native_frame=found.first,
        end_native_frame=found.last,
        start_seconds=round(found.start, 6),
        end_seconds=round(found.end, 6),
        text=found.text,
        text_ocr_status=cdb.OCR_DONE,
        text_ocr_confidence=round(found.confidence, 4),
        zone=found.zone,
    )


def _overlaps(a: Caption, b: Caption) -> bool:
    return a.zone == b.zone and a.start_seconds < b.end_seconds and b.start_seconds < a.end_seconds


def _carry_over(new: list[Caption], previous: list[Caption]) -> list[Caption]:
    """Keep every caption a person owns unchanged; drop new captions that collide with them; give
    new captions ids that cannot collide with kept ones."""
    kept = [c for c in previous if c.person_owned]
    fresh = [c for c in new if not any(_overlaps(c, k) for k in kept)]
    next_id = max((c.id for c in kept), default=0) + 1
    for caption in sorted(fresh, key=lambda c: (c.start_seconds, c.zone)):
        caption.id = next_id
        next_id += 1
    return sorted(kept + fresh, key=lambda c: (c.start_seconds, c.zone, c.id))


def _write_outputs(
    captions_db_path: Path, captions: list[Caption], metadata: dict[str, str], stats: dict[str, object]
) -> CaptionsOutput:
    captions_db_path = Path(captions_db_path)
    cdb.write_captions(captions_db_path, captions, metadata)
    srt = write_srt(captions, captions_db_path.with_name("captions.srt"))
    vtt = write_vtt(captions, captions_db_path.with_name("captions.vtt"))
    return CaptionsOutput(
        captions=cdb.read_captions(captions_db_path), srt_path=srt, vtt_path=vtt, stats=stats
    )


def _metadata(info: VideoInfo, zones: list[Region]) -> dict[str, str]:
    return {
        "width": str(info.width),
        "height": str(info.height),
        "fps": f"{info.fps:.6f}",
        "duration_seconds": f"{info.duration_seconds:.6f}",
        "total_frames": str(info.total_frames),
        "zones": ";".join(f"{z.x},{z.y},{z.width},{z.height}" for z in zones),
    }


def run_captions(
    raw_ocr_path: Path,
    layout_db_path: Path,
    captions_db_path: Path,
    previous_captions_db: Path | None = None,
    progress: Progress | None = None,
) -> CaptionsOutput:
    """Captions from the scan's caption states (raw-ocr.db of ``run_cropped_frames``): over-split
    states joined, what a person owns in ``previous_captions_db`` kept; captions.db + SRT/VTT.
    No OCR here (the scan read the states), so ``progress`` hears one report, at the end."""
    try:
        raw = read_raw_ocr(raw_ocr_path)
    except FileNotFoundError as exc:
        raise BadInputError(f"raw-ocr.db is missing: {exc}") from exc
    stored = lay.read_layout_db(layout_db_path)
    width, height = int(raw.metadata["width"]), int(raw.metadata["height"])
    zones = _zones(stored, width, height)
    if zones != raw.zones:
        raise BadInputError(
            "the caption band changed since cropped_frames was made (layout.db has "
            f"{zones}, raw-ocr.db {raw.zones}); materialize cropped_frames again"
        )
    merged = [f for f in _merge(raw.readings) if _wordlike(f.text) and _sure_enough(f)]
    captions = [_to_caption(f, i + 1) for i, f in enumerate(sorted(merged, key=lambda f: (f.start, f.zone)))]
    stats: dict[str, object] = {**raw_stats(raw), "states_with_text": len(raw.readings)}
    if previous_captions_db is not None:
        captions = _carry_over(captions, cdb.read_captions(previous_captions_db))
    stats["captions"] = len(captions)
    metadata = {k: v for k, v in raw.metadata.items() if k not in ("stats", "schema_version")}
    output = _write_outputs(captions_db_path, captions, metadata, stats)
    states = len(raw.readings)
    joined = f"caption states joined into {_count(len(captions), 'caption')}"
    Reporter(progress, joined, states).finish(states)
    return output


def run_reocr(
    video_path: Path,
    layout_db_path: Path,
    captions_db_path: Path,
    previous_captions_db: Path,
    caption_ids: list[int],
    progress: Progress | None = None,
) -> CaptionsOutput:
    """Keep the previous captions.db; read the text of the captions ``caption_ids`` again from the
    video (a person changed their extents). ``progress`` hears the OCR reads done (throttled)."""
    info = probe(video_path)
    zones = _zones(_stored_layout(layout_db_path, info), info.width, info.height)
    captions = cdb.read_captions(previous_captions_db)
    by_id = {c.id: c for c in captions}
    unknown = [i for i in caption_ids if i not in by_id]
    if unknown:
        raise BadInputError(f"captions {unknown} are not in the previous captions.db")
    targets = [by_id[i] for i in caption_ids]
    # three frames spread over each caption, away from its (possibly faded) edges
    wanted: dict[int, list[int]] = {}
    for caption in targets:
        span = caption.end_native_frame - caption.start_native_frame
        picks = {caption.start_native_frame + round(span * p) for p in (0.25, 0.5, 0.75)}
        for n in picks:
            wanted.setdefault(n, []).append(caption.id)
    images: dict[int, list[NDArray[np.uint8]]] = {c.id: [] for c in targets}
    last_needed = max(wanted, default=-1)
    if zones:
        for decoded in iter_frames(video_path):
            for caption_id in wanted.get(decoded.index, []):
                zone = zones[min(by_id[caption_id].zone, len(zones) - 1)]
                images[caption_id].append(crop_bgr(decoded.frame, zone, info.rotation))
            if decoded.index >= last_needed:
                break
    stamp = cdb.now()
    reporter = Reporter(progress, "captions read again", len(targets))
    reporter.update(0)
    readings = ocr.executor().map(lambda c: read_caption(images[c.id]), targets)
    for done, (caption, reading) in enumerate(zip(targets, readings), start=1):
        reporter.update(done)
        caption.text = reading.text
        caption.text_ocr_status = cdb.OCR_DONE if reading.text else cdb.OCR_EMPTY
        caption.text_ocr_confidence = round(reading.confidence, 4)
        caption.text_edited_at = None  # the person asked for a machine reading of these
        caption.updated_at = stamp
    reporter.finish(len(targets))
    stats: dict[str, object] = {"reocr": len(targets), "captions": len(captions)}
    return _write_outputs(captions_db_path, captions, _metadata(info, zones), stats)
