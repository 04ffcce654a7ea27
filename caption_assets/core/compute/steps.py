"""The heavy steps as "store in, processing, store out". No Dagster here: LocalCompute calls these
in-process and the Modal app calls the very same functions inside its containers.

``progress`` (optional, ``processing.progress``) goes to the processing loops, which report at a
bounded rate; the Modal app passes none (nothing of a remote call's progress reaches the caller)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import SupportsFloat, SupportsInt

from caption_assets.core.compute.base import (
    CaptionsResult,
    CroppedResult,
    FullFramesResult,
    LayoutResult,
    VideoJob,
)
from caption_assets.core.errors import NotFoundError
from caption_assets.core.keys import VideoKeys
from caption_assets.core.processing import pipeline
from caption_assets.core.processing.captions_db import OCR_ERROR
from caption_assets.core.processing.layout import read_layout_db
from caption_assets.core.processing.progress import Progress
from caption_assets.core.store.base import ArtifactStore

_CHUNK_NAME = re.compile(r"modulo_(\d+)/chunk_(\d+)\.webm$")


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="caption_assets_") as tmp:
        yield Path(tmp)


def _int_stat(stats: Mapping[str, object], key: str, default: int) -> int:
    # the processing's stats mix figures with nested tables; the ones read here are numbers
    value = stats.get(key, default)
    if not isinstance(value, SupportsInt):
        raise TypeError(f"stats[{key!r}] is {type(value).__name__}, not a number")
    return int(value)


def _float_stat(stats: Mapping[str, object], key: str, default: float) -> float:
    value = stats.get(key, default)
    if not isinstance(value, SupportsFloat):
        raise TypeError(f"stats[{key!r}] is {type(value).__name__}, not a number")
    return float(value)


def _fetch_video(store: ArtifactStore, keys: VideoKeys, workdir: Path) -> Path:
    if not store.exists(keys.video()):
        raise NotFoundError(f"video {keys.video_id}: the upload {keys.video()} is not in the store")
    return store.get_file(keys.video(), workdir / "video.mp4")


def _fetch_layout(store: ArtifactStore, keys: VideoKeys, workdir: Path) -> Path:
    if not store.exists(keys.layout_db()):
        raise NotFoundError(f"video {keys.video_id}: layout.db is missing; materialize layout_db first")
    return store.get_gunzip_file(keys.layout_db(), workdir / "layout.db")


def full_frames_step(
    store: ArtifactStore, job: VideoJob, progress: Progress | None = None
) -> FullFramesResult:
    keys = VideoKeys(job.tenant_id, job.video_id)
    with _workdir() as work:
        video = _fetch_video(store, keys, work)
        out = pipeline.run_full_frames(video, work / "out", progress)
        # a reprocess may sample other indices (new duration metadata): start from a clean prefix
        store.delete_prefix(keys.full_frames_prefix())
        store.delete_prefix(keys.thumbnails_prefix())
        for index in out.indices:
            name = f"frame_{index:010d}.jpg"
            store.put_file(keys.full_frame(index), work / "out" / "full_frames" / name, "image/jpeg")
            store.put_file(
                keys.thumbnail(index), work / "out" / "full_frames_thumbnails" / name, "image/jpeg"
            )
        info = out.info
        return FullFramesResult(
            width=int(info.width),
            height=int(info.height),
            fps=float(info.fps),
            duration_seconds=float(info.duration_seconds),
            total_frames=int(info.total_frames),
            frame_indices=list(out.indices),
        )


def layout_step(store: ArtifactStore, job: VideoJob, progress: Progress | None = None) -> LayoutResult:
    keys = VideoKeys(job.tenant_id, job.video_id)
    with _workdir() as work:
        frames_dir = work / "full_frames"
        frames_dir.mkdir()
        prefix = keys.full_frames_prefix()
        found = 0
        for key in store.list(prefix):
            store.get_file(key, frames_dir / key.rsplit("/", 1)[-1])
            found += 1
        if not found:
            raise NotFoundError(
                f"video {job.video_id}: no full frames under {prefix}; materialize full_frames first"
            )
        layout_db = work / "layout.db"
        out = pipeline.run_layout(frames_dir, layout_db, progress)
        store.put_gzip_file(keys.layout_db(), layout_db)
        region = out.region
        return LayoutResult(
            region=None
            if region is None
            else (int(region.x), int(region.y), int(region.width), int(region.height)),
            confidence=float(out.confidence),
            frame_count=int(out.frame_count),
            box_count=int(out.box_count),
            plausible_box_count=_int_stat(out.stats, "plausible_boxes", out.box_count),
            stats=dict(out.stats),
        )


def cropped_frames_step(
    store: ArtifactStore, job: VideoJob, version: int, progress: Progress | None = None
) -> CroppedResult:
    keys = VideoKeys(job.tenant_id, job.video_id)
    with _workdir() as work:
        video = _fetch_video(store, keys, work)
        layout_db = _fetch_layout(store, keys, work)
        out_dir = work / "cropped"
        out = pipeline.run_cropped_frames(video, layout_db, out_dir, work / "raw-ocr.db", progress)
        # a failed earlier attempt at this version may have left chunks behind
        store.delete_prefix(keys.cropped_frames_prefix(version))
        per_level: dict[int, int] = {}
        for path in out.chunk_paths:
            match = _CHUNK_NAME.search(Path(path).as_posix())
            if match is None:
                raise RuntimeError(f"unexpected chunk file name {path}")
            modulo, first = int(match.group(1)), int(match.group(2))
            store.put_file(keys.cropped_chunk(version, modulo, first), Path(path), "video/webm")
            per_level[modulo] = per_level.get(modulo, 0) + 1
        # the scan's caption states, for captions_db (server side: tenants never read it)
        store.put_gzip_file(keys.raw_ocr_db(), out.raw_ocr_path)
        return CroppedResult(
            version=version,
            frame_count=int(out.frame_count),
            chunk_count=int(out.chunk_count),
            chunks_per_level=per_level,
            stats=dict(out.stats),
        )


def _fetch_raw_ocr(store: ArtifactStore, keys: VideoKeys, workdir: Path) -> Path:
    if not store.exists(keys.raw_ocr_db()):
        raise NotFoundError(f"video {keys.video_id}: raw-ocr.db is missing; materialize cropped_frames first")
    return store.get_gunzip_file(keys.raw_ocr_db(), workdir / "raw-ocr.db")


def captions_step(
    store: ArtifactStore,
    job: VideoJob,
    reocr_caption_ids: list[int] | None = None,
    progress: Progress | None = None,
) -> CaptionsResult:
    keys = VideoKeys(job.tenant_id, job.video_id)
    with _workdir() as work:
        layout_db = _fetch_layout(store, keys, work)
        previous = None
        if store.exists(keys.captions_db()):
            previous = store.get_gunzip_file(keys.captions_db(), work / "previous" / "captions.db")
        elif reocr_caption_ids:
            raise NotFoundError(
                f"video {job.video_id}: re-OCR of captions {reocr_caption_ids} asked for, "
                "but there is no captions.db yet"
            )
        out_db = work / "out" / "captions.db"
        out_db.parent.mkdir(parents=True)
        if reocr_caption_ids:
            assert previous is not None
            video = _fetch_video(store, keys, work)
            out = pipeline.run_reocr(video, layout_db, out_db, previous, reocr_caption_ids, progress)
        else:
            raw_ocr = _fetch_raw_ocr(store, keys, work)
            out = pipeline.run_captions(
                raw_ocr, layout_db, out_db, previous_captions_db=previous, progress=progress
            )
        store.put_file(keys.captions_srt(), out.srt_path, "application/x-subrip")
        store.put_file(keys.captions_vtt(), out.vtt_path, "text/vtt")
        # captions.db last: its presence means the whole set is stored
        store.put_gzip_file(keys.captions_db(), out_db)
        stats = dict(out.stats)
        return CaptionsResult(
            caption_count=len(out.captions),
            duration_seconds=_float_stat(stats, "duration_seconds", 0.0),
            ocr_error_count=sum(1 for c in out.captions if c.text_ocr_status == OCR_ERROR),
            carried_over_count=_int_stat(stats, "carried_over", 0),
            region_found=read_layout_db(layout_db).region is not None,
            stats=stats,
        )
