"""Materialization metadata a person reads at a glance: units in the names, rounded values, each fact
once, small tables (pandas -> markdown) instead of JSON blobs, and a picture per asset
(core/previews.py) shown inline and written to the store beside the video's other artifacts.

A picture that cannot be drawn (an unreadable frame, a chunk that does not decode) is logged and
left out: it never fails a step whose artifacts are stored already."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import av
import dagster as dg
import pandas as pd

from caption_assets.core import previews
from caption_assets.core.compute.base import CroppedResult, FullFramesResult, LayoutResult
from caption_assets.core.health.records import CONFIDENCE_BINS, confidence_counts
from caption_assets.core.keys import VideoKeys
from caption_assets.core.processing.captions_db import Caption
from caption_assets.core.processing.chunks import CHUNK_FRAMES, LEVELS, chunk_layout
from caption_assets.core.store.base import ArtifactStore

CUES_SHOWN = 10
SRT_LINES_SHOWN = 16
BAND_CROPS = 6


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def clock(seconds: float) -> str:
    """``m:ss.s`` (``h:mm:ss.s`` from an hour)."""
    seconds = max(0.0, seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{int(hours)}:{int(minutes):02d}:{secs:04.1f}"
    return f"{int(minutes)}:{secs:04.1f}"


def table(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=False))


def _picture(
    context: dg.AssetExecutionContext,
    store: ArtifactStore,
    keys: VideoKeys,
    name: str,
    alt: str,
    draw: Callable[[], bytes | None],
) -> dict[str, Any]:
    """``{name: md image, name_key: path}`` of the picture ``draw`` makes, stored at
    ``keys.preview(name)``; nothing when it cannot be drawn."""
    try:
        png = draw()
        if png is None:
            return {}
        key = keys.preview(name)
        store.put_bytes(key, png, "image/png")
    except Exception as exc:  # a preview must never fail a step whose artifacts are stored
        context.log.warning(f"{name} preview not drawn: {type(exc).__name__}: {exc}")
        return {}
    return {
        name: dg.MetadataValue.md(previews.markdown_image(png, alt)),
        f"{name}_key": dg.MetadataValue.path(key),
    }


# full_frames --------------------------------------------------------------------------------------


def full_frames_metadata(
    context: dg.AssetExecutionContext,
    store: ArtifactStore,
    keys: VideoKeys,
    result: FullFramesResult,
    stored_bytes: int,
) -> dict[str, Any]:
    def sheet() -> bytes:
        indices = sorted(result.frame_indices)
        thumbs = [store.get_bytes(keys.thumbnail(i)) for i in indices]
        return previews.contact_sheet(thumbs, [i / 10 for i in indices])

    return {
        "size": human_bytes(stored_bytes),
        "duration": f"{clock(result.duration_seconds)} ({result.duration_seconds:.1f} s)",
        "resolution": f"{result.width} x {result.height} px",
        "fps": round(result.fps, 3),
        "total_frames": result.total_frames,
        "full_frames_sampled": len(result.frame_indices),
        **_picture(context, store, keys, "contact_sheet", "full frames", sheet),
        "prefix": dg.MetadataValue.path(keys.full_frames_prefix()),
    }


# layout_db ----------------------------------------------------------------------------------------


def _layout_rows(db_path: Path) -> tuple[list[tuple[int, int, int, int]], pd.DataFrame, pd.DataFrame]:
    """The zones, the boxes (frame_index, x, y, width, height) and the frames (index, width,
    height) of a layout.db."""
    db = sqlite3.connect(db_path)
    try:
        zones = [
            (int(x), int(y), int(w), int(h))
            for x, y, w, h in db.execute("select x, y, width, height from zones order by y")
        ]
        boxes = pd.read_sql_query("select frame_index, x, y, width, height from boxes", db)
        frames = pd.read_sql_query("select frame_index, width, height from frames", db)
    finally:
        db.close()
    return zones, boxes, frames


def _stats_tables(stats: Mapping[str, Any]) -> str:
    """The layout statistics: the scalar figures in one table, the zone candidates in another."""
    scalars = {k: v for k, v in stats.items() if isinstance(v, int | float | str | bool)}
    parts = [
        pd.DataFrame({"statistic": list(scalars), "value": list(scalars.values())}).to_markdown(index=False)
    ]
    overlays = stats.get("overlay_boxes")
    if isinstance(overlays, Mapping) and overlays:
        parts.append(
            pd.DataFrame({"overlay": list(overlays), "boxes": list(overlays.values())}).to_markdown(
                index=False
            )
        )
    candidates = stats.get("candidates")
    if isinstance(candidates, list) and candidates:
        frame = pd.DataFrame(candidates)
        keep = [
            c
            for c in (
                "cy",
                "frames",
                "frame_share",
                "centred",
                "static_share",
                "distinct_texts",
                "score",
                "rejected",
            )
            if c in frame
        ]
        parts.append("zone candidates\n\n" + frame[keep].to_markdown(index=False))
    return "\n\n".join(parts)


def layout_metadata(
    context: dg.AssetExecutionContext,
    store: ArtifactStore,
    keys: VideoKeys,
    result: LayoutResult,
    layout_db_path: Path | None,
) -> dict[str, Any]:
    zones: list[tuple[int, int, int, int]]
    if layout_db_path is None:
        zones, boxes, frames = [], pd.DataFrame(), pd.DataFrame()
    else:
        zones, boxes, frames = _layout_rows(layout_db_path)
    if not zones and result.region is not None:
        zones = [result.region]
    frame_height = int(frames["height"].iloc[0]) if len(frames) else None

    def overlay() -> bytes | None:
        if frames.empty:
            return None
        # the frame with the most boxes shows the most of what the layout saw
        counts = boxes.groupby("frame_index").size() if len(boxes) else pd.Series(dtype=int)
        index = int(counts.idxmax()) if len(counts) else int(frames["frame_index"].iloc[0])
        size = frames.loc[frames["frame_index"] == index, ["width", "height"]].iloc[0]
        shown = boxes[boxes["frame_index"] == index]
        rects = [
            tuple(int(v) for v in r) for r in shown[["x", "y", "width", "height"]].itertuples(index=False)
        ]
        return previews.zone_overlay(
            store.get_bytes(keys.full_frame(index)),
            zones=zones,
            boxes=rects,  # type: ignore[arg-type]
            source_size=(int(size["width"]), int(size["height"])),
        )

    region: dict[str, Any] = {"region": "none found"}
    if result.region is not None:
        x, y, width, height = result.region
        region = {
            "region_x_px": x,
            "region_y_px": y,
            "region_width_px": width,
            "region_height_px": height,
        }
        if frame_height:
            region["region_height_pct_of_frame"] = round(100 * height / frame_height, 1)
    return {
        **_picture(context, store, keys, "layout", "caption zones and OCR boxes", overlay),
        **region,
        "confidence": round(result.confidence, 3),
        "stats": dg.MetadataValue.md(_stats_tables(result.stats)),
    }


# cropped_frames -----------------------------------------------------------------------------------


def _frames_at(data: bytes, offsets: set[int]) -> dict[int, Any]:
    """The frames at these positions of a chunk, as RGB arrays."""
    found: dict[int, Any] = {}
    with av.open(io.BytesIO(data), mode="r") as container:
        for position, frame in enumerate(container.decode(video=0)):
            if position in offsets:
                found[position] = frame.to_ndarray(format="rgb24")
            if len(found) == len(offsets):
                break
    return found


def _band_crops(store: ArtifactStore, keys: VideoKeys, result: CroppedResult) -> list[tuple[float, Any]]:
    """Up to ``BAND_CROPS`` band crops evenly over the video, from the coarsest level's chunks
    (every 16th 10 Hz frame): (seconds, RGB array)."""
    coarse = max(LEVELS)
    indices = [i for chunk in chunk_layout(result.frame_count)[coarse] for i in chunk]
    wanted: dict[int, set[int]] = {}
    for position in previews.evenly(len(indices), BAND_CROPS):
        wanted.setdefault(position // CHUNK_FRAMES, set()).add(position % CHUNK_FRAMES)
    crops = []
    for chunk, offsets in sorted(wanted.items()):
        first = indices[chunk * CHUNK_FRAMES]
        data = store.get_bytes(keys.cropped_chunk(result.version, coarse, first))
        for offset, frame in sorted(_frames_at(data, offsets).items()):
            crops.append((indices[chunk * CHUNK_FRAMES + offset] / 10, frame))
    return crops


def cropped_metadata(
    context: dg.AssetExecutionContext,
    store: ArtifactStore,
    keys: VideoKeys,
    result: CroppedResult,
) -> dict[str, Any]:
    stats = result.stats

    def strip() -> bytes | None:
        crops = _band_crops(store, keys, result) if result.chunk_count else []
        if not crops:
            return None
        return previews.band_strip([c for _, c in crops], [t for t, _ in crops])

    levels = sorted(result.chunks_per_level.items(), reverse=True)
    per_level = pd.DataFrame(
        {"level (every n-th 10 Hz frame)": [m for m, _ in levels], "chunks": [n for _, n in levels]}
    )
    states = sum(int(v) for k, v in stats.items() if k.startswith("zone") and k.endswith("_segments"))
    out: dict[str, Any] = {
        **_picture(context, store, keys, "bands", "caption band crops", strip),
        "version": result.version,
        "frames_10hz": result.frame_count,
        "chunks": result.chunk_count,
        "chunks_per_level": table(per_level),
        "states_found": states,
    }
    for name, key in (("states_with_text", "segments_read"), ("ocr_reads", "ocr_reads")):
        if key in stats:
            out[name] = int(stats[key])
    for name, key in (
        ("ocr_seconds", "ocr_cpu_seconds"),
        ("ocr_after_scan_seconds", "ocr_after_scan_seconds"),
        ("scan_seconds", "scan_seconds"),
    ):
        if key in stats:
            out[name] = round(float(stats[key]), 1)
    return out


# captions_db --------------------------------------------------------------------------------------


def cues_frame(captions: list[Caption]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start-end": [f"{clock(c.start_seconds)}-{clock(c.end_seconds)}" for c in captions],
            "text": [c.text.replace("\n", " / ").replace("|", "\\|") for c in captions],
            "confidence": [
                None if c.text_ocr_confidence is None else round(c.text_ocr_confidence, 2) for c in captions
            ],
        }
    )


def captions_metadata(
    context: dg.AssetExecutionContext,
    store: ArtifactStore,
    keys: VideoKeys,
    captions: list[Caption],
    video_duration_seconds: float | None,
) -> dict[str, Any]:
    duration = float(video_duration_seconds or 0.0) or max((c.end_seconds for c in captions), default=0.0)
    spans = pd.DataFrame(
        {"start": [c.start_seconds for c in captions], "end": [c.end_seconds for c in captions]}, dtype=float
    )
    covered = float((spans["end"] - spans["start"]).clip(lower=0).sum()) if len(spans) else 0.0
    confidences = pd.Series([c.text_ocr_confidence for c in captions], dtype=float).dropna()
    try:
        srt_lines = store.get_bytes(keys.captions_srt()).decode("utf-8", "replace").splitlines()
    except Exception as exc:  # stored a moment ago; a store hiccup only leaves the preview out
        context.log.warning(f"captions.srt not read back for the preview: {exc}")
        srt_lines = ["(not read back)"]

    def timeline() -> bytes:
        return previews.caption_timeline([(c.start_seconds, c.end_seconds) for c in captions], duration)

    shown = cues_frame(captions[:CUES_SHOWN])
    more = f"\n\n... and {len(captions) - CUES_SHOWN} more" if len(captions) > CUES_SHOWN else ""
    out: dict[str, Any] = {
        "cues": dg.MetadataValue.md(shown.to_markdown(index=False) + more if captions else "no captions"),
        "srt_preview": dg.MetadataValue.md("```\n" + "\n".join(srt_lines[:SRT_LINES_SHOWN]) + "\n```"),
        **_picture(context, store, keys, "timeline", "caption timeline", timeline),
        "captioned_pct_of_video": round(100 * covered / duration, 1) if duration else 0.0,
    }
    # the distribution the operations table caption_quality adds up (recorded here, where the
    # captions are read: the captions.db of a later re-read has other confidences)
    out["ocr_confidence_counts"] = dg.MetadataValue.json(
        dict(zip(CONFIDENCE_BINS, confidence_counts(confidences.tolist())))
    )
    if len(confidences):
        out["confidence_mean"] = round(float(confidences.mean()), 3)
        out["confidence_min"] = round(float(confidences.min()), 3)
    return out
