"""Cropped-frame chunks for the annotation UI: the band at 10 Hz as VP9/WebM files of 32 frames.

Three disjoint coarse-to-fine levels, so a viewer can load every 16th frame first, then fill in:
modulo 16 = indices divisible by 16; modulo 4 = divisible by 4 but not 16; modulo 1 = the rest. Each
level's indices are cut into chunks of 32, each named by its first index; the last chunk may be short.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av

from caption_assets.core.processing.video import YuvPlanes, plane_rows
from caption_assets.core.processing.workers import BoundedSubmitter, cpu_count

CHUNK_FRAMES = 32
LEVELS = (16, 4, 1)


def level_of(index: int) -> int:
    if index % 16 == 0:
        return 16
    if index % 4 == 0:
        return 4
    return 1


def chunk_layout(frame_count: int) -> dict[int, list[list[int]]]:
    """Per level, its chunks as lists of 10 Hz indices."""
    per_level: dict[int, list[int]] = {level: [] for level in LEVELS}
    for index in range(frame_count):
        per_level[level_of(index)].append(index)
    return {
        level: [indices[i : i + CHUNK_FRAMES] for i in range(0, len(indices), CHUNK_FRAMES)]
        for level, indices in per_level.items()
    }


def chunk_path(out_dir: Path, level: int, first: int) -> Path:
    return Path(out_dir) / f"modulo_{level}" / f"chunk_{first:010d}.webm"


def _encode_chunk(path: Path, width: int, height: int, frames: list[YuvPlanes]) -> Path:
    """One chunk file from its frames' Y, U, V planes (runs on a worker thread: libvpx releases the
    GIL while it encodes, so chunks encode in parallel with each other and with decoding)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 10)
        stream.codec_context.thread_count = 1  # parallelism comes from encoding chunks side by side
        # realtime settings: chunks are for viewing in the annotation UI, speed matters more than size;
        # one tile and no row threads, as one thread encodes (7% less CPU, 10% smaller files)
        stream.options = {
            "crf": "32",
            "b": "0",
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "tile-columns": "0",
            "row-mt": "0",
        }
        for pts, planes in enumerate(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, data in zip(frame.planes, planes):
                view = plane_rows(plane)
                view[:, : data.shape[1]] = data
            frame.pts = pts
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class ChunkWriter:
    """Receives the band's 10 Hz frames in index order (Y, U, V planes) and writes the chunks.

    A chunk's frames are buffered (32 band images at most per level) and the complete chunk is encoded
    on a small thread pool; at most two chunks per worker wait, so memory stays bounded.
    """

    def __init__(self, out_dir: Path, width: int, height: int, frame_count: int) -> None:
        self.out_dir = Path(out_dir)
        self.width, self.height = width, height
        self.layout = chunk_layout(frame_count)
        # index -> (level, first index of its chunk, last index of its chunk)
        self._where: dict[int, tuple[int, int, int]] = {}
        for level, chunks in self.layout.items():
            for chunk in chunks:
                for index in chunk:
                    self._where[index] = (level, chunk[0], chunk[-1])
        self._open: dict[int, tuple[int, list[YuvPlanes]]] = {}
        workers = min(4, cpu_count())
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vp9")
        self._encoding: BoundedSubmitter[Path] = BoundedSubmitter(self._pool, 2 * workers)
        self.paths: list[Path] = []

    def add(self, index: int, planes: YuvPlanes) -> None:
        if index not in self._where:
            return
        level, first, last = self._where[index]
        if level not in self._open:
            self._open[level] = (first, [])
        self._open[level][1].append(planes)
        if index == last:
            self._submit(level)

    def close(self) -> list[Path]:
        try:
            for level in list(self._open):
                self._submit(level)
            self.paths = self._encoding.results()
        except BaseException:
            self._encoding.cancel()
            raise
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return self.paths

    def _submit(self, level: int) -> None:
        first, frames = self._open.pop(level)
        path = chunk_path(self.out_dir, level, first)
        self._encoding.submit(_encode_chunk, path, self.width, self.height, frames)
