"""Cropped-frame chunks for the annotation UI: the band at 10 Hz as VP9/WebM files of 32 frames.

Three disjoint coarse-to-fine levels, so a viewer can load every 16th frame first, then fill in:
modulo 16 = indices divisible by 16; modulo 4 = divisible by 4 but not 16; modulo 1 = the rest. Each
level's indices are cut into chunks of 32, each named by its first index; the last chunk may be short.
"""

from __future__ import annotations

import queue
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av

from caption_assets.core.processing.video import YuvPlanes, plane_rows

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


class _Chunk:
    """One chunk file, open while its frames arrive (runs on its level's thread: libvpx releases the
    GIL while it encodes, so the levels encode in parallel with each other and with decoding)."""

    def __init__(self, path: Path, width: int, height: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.width, self.height = path, width, height
        self._container = av.open(str(path), mode="w", format="webm")
        stream = self._container.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 10)
        stream.codec_context.thread_count = 1  # parallelism comes from the levels' own threads
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
        self._stream = stream
        self._pts = 0

    def write(self, planes: YuvPlanes) -> None:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for plane, data in zip(frame.planes, planes):
            view = plane_rows(plane)
            view[:, : data.shape[1]] = data
        frame.pts = self._pts
        self._pts += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def finish(self) -> Path:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        return self.path

    def abandon(self) -> None:
        """A chunk that cannot be finished leaves no half-written file behind."""
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - the error that stopped the chunk is the one reported
            pass
        self.path.unlink(missing_ok=True)


_STOP = object()


class _LevelWriter:
    """One level's chunks in order, encoded frame by frame on a thread of the level's own as the
    frames arrive; at most ``_AHEAD`` frames wait for it (the caller waits when it falls behind). A
    failure is kept and raised to the caller at its next frame or at ``close``."""

    def __init__(self, out_dir: Path, level: int, width: int, height: int) -> None:
        self.out_dir, self.level, self.width, self.height = out_dir, level, width, height
        self.paths: list[Path] = []
        self.error: BaseException | None = None
        self.open = False  # a chunk was started and not yet ended (as the caller sees it)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_AHEAD)
        self._thread = threading.Thread(target=self._run, name=f"vp9-modulo-{level}", daemon=True)
        self._thread.start()

    def start(self, first: int) -> None:
        self._put(("start", first))
        self.open = True

    def write(self, planes: YuvPlanes) -> None:
        self._put(("frame", planes))

    def end(self) -> None:
        self.open = False
        self._put(("end", None))

    def close(self) -> list[Path]:
        self._queue.put(_STOP)
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.paths

    def _put(self, item: tuple[str, object]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(item)

    def _run(self) -> None:
        chunk: _Chunk | None = None
        while (item := self._queue.get()) is not _STOP:
            if self.error is not None:
                continue  # drained, so the caller never waits on a writer that stopped
            kind, value = cast(tuple[str, Any], item)
            try:
                if kind == "start":
                    chunk = _Chunk(chunk_path(self.out_dir, self.level, value), self.width, self.height)
                elif kind == "frame" and chunk is not None:
                    chunk.write(value)
                elif kind == "end" and chunk is not None:
                    self.paths.append(chunk.finish())
                    chunk = None
            except BaseException as exc:  # raised on the caller's thread
                self.error = exc
                if chunk is not None:
                    chunk.abandon()
                    chunk = None
        if chunk is not None:
            chunk.abandon()


# frames waiting for a level's encoder: enough to ride out a slow frame, few band images held
_AHEAD = 4


class ChunkWriter:
    """Receives the band's 10 Hz frames in index order (Y, U, V planes) and writes the chunks.

    Each level's chunk is encoded as its frames arrive, on that level's own thread, so what is held
    is an open encoder per level and a few frames waiting for it, not a chunk's 32 frames (at 4K a
    band frame is ~3 MB, and a modulo-16 chunk spans 51 s of video).
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
        self._levels = {level: _LevelWriter(self.out_dir, level, width, height) for level in LEVELS}
        self.paths: list[Path] = []

    def add(self, index: int, planes: YuvPlanes) -> None:
        if index not in self._where:
            return
        level, first, last = self._where[index]
        writer = self._levels[level]
        if index == first:
            writer.start(first)
        writer.write(planes)
        if index == last:
            writer.end()

    def close(self) -> list[Path]:
        """Finishes the chunks still open (a video shorter than its frame count said) and waits for
        every level; the first level's error is raised once all have stopped."""
        errors: list[BaseException] = []
        for writer in self._levels.values():
            try:
                if writer.open:
                    writer.end()
            except BaseException as exc:
                errors.append(exc)
        for writer in self._levels.values():
            try:
                self.paths += writer.close()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return self.paths
