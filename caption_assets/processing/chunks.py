"""Cropped-frame chunks for the annotation UI: the band at 10 Hz as VP9/WebM files of 32 frames.

Three disjoint coarse-to-fine levels, so a viewer can load every 16th frame first, then fill in:
modulo 16 = indices divisible by 16; modulo 4 = divisible by 4 but not 16; modulo 1 = the rest. Each
level's indices are cut into chunks of 32, each named by its first index; the last chunk may be short.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

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


@dataclass
class _OpenChunk:
    container: av.container.OutputContainer
    stream: av.video.stream.VideoStream
    path: Path
    written: int = 0


class ChunkWriter:
    """Receives the band's 10 Hz frames in index order (Y, U, V planes) and writes the chunks."""

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
        self._open: dict[int, _OpenChunk] = {}
        self.paths: list[Path] = []

    def add(self, index: int, planes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        if index not in self._where:
            return
        level, first, last = self._where[index]
        chunk = self._open.get(level)
        if chunk is None:
            chunk = self._start(level, first)
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for plane, data in zip(frame.planes, planes):
            view = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
            view[:, : data.shape[1]] = data
        frame.pts = chunk.written
        for packet in chunk.stream.encode(frame):
            chunk.container.mux(packet)
        chunk.written += 1
        if index == last:
            self._close(level)

    def close(self) -> list[Path]:
        for level in list(self._open):
            self._close(level)
        return self.paths

    def _start(self, level: int, first: int) -> _OpenChunk:
        path = chunk_path(self.out_dir, level, first)
        path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(path), mode="w", format="webm")
        stream = container.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 10)
        # realtime settings: chunks are for viewing in the annotation UI, speed matters more than size
        stream.options = {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
        chunk = _OpenChunk(container, stream, path)
        self._open[level] = chunk
        return chunk

    def _close(self, level: int) -> None:
        chunk = self._open.pop(level)
        for packet in chunk.stream.encode():
            chunk.container.mux(packet)
        chunk.container.close()
        self.paths.append(chunk.path)
