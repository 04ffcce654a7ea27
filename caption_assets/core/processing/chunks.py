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
from typing import cast

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
    """One chunk file, open while its frames are written (on the writer's thread)."""

    def __init__(self, path: Path, width: int, height: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.width, self.height = path, width, height
        self._container = av.open(str(path), mode="w", format="webm")
        stream = self._container.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 10)
        stream.codec_context.thread_count = 1  # the writer's thread runs beside decoding and the scan
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
# frames waiting for the encoder thread: enough to ride out a slow frame, few band images held
_AHEAD = 4


class ChunkWriter:
    """Receives the band's 10 Hz frames in index order (Y, U, V planes) and writes the chunks.

    One libvpx encoder is alive at a time, on a thread of the writer's own (libvpx releases the GIL
    while it encodes, so encoding runs beside decoding and the scan): modulo 1, three frames of every
    four, streams into its open chunk as the frames arrive; the rarer levels' frames are kept until
    their chunk is complete and encoded between two modulo-1 chunks. An open VP9 encoder holds far
    more than a chunk of frames (~225 MB at a 4K band of 3840x540, whose 32 frames are 100 MB as
    planes), so keeping each level's encoder open would hold the most. At most ``_AHEAD`` frames
    wait for the thread (the caller waits when it falls behind). A failure is kept and raised to the
    caller at its next frame or at ``close``; a chunk it stopped leaves no file, chunks not yet
    encoded are not written.
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
        self.error: BaseException | None = None
        self._written: list[tuple[int, int, Path]] = []  # (level's place in LEVELS, first index, path)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_AHEAD)
        self._thread = threading.Thread(target=self._run, name="vp9-chunks", daemon=True)
        self._thread.start()

    def add(self, index: int, planes: YuvPlanes) -> None:
        if self.error is not None:
            raise self.error
        if index in self._where:
            self._queue.put((index, planes))

    def close(self) -> list[Path]:
        """Finishes the chunks still open or kept (a video shorter than its frame count said) and
        waits for the thread; its error is raised then. The paths in level order, then index order."""
        self._queue.put(_STOP)
        self._thread.join()
        if self.error is not None:
            raise self.error
        return [path for _, _, path in sorted(self._written)]

    def _run(self) -> None:
        streaming: _Chunk | None = None  # the open modulo-1 chunk, which starts at ``streaming_first``
        streaming_first = 0
        kept: dict[int, tuple[int, list[YuvPlanes]]] = {}  # rarer level -> (first, frames so far)
        complete: list[tuple[int, int, list[YuvPlanes]]] = []  # (level, first, frames) to encode
        stopped = False
        try:
            while (item := self._queue.get()) is not _STOP:
                index, planes = cast(tuple[int, YuvPlanes], item)
                level, first, last = self._where[index]
                if level == 1:
                    if streaming is None:
                        streaming, streaming_first = self._open(1, first), first
                    streaming.write(planes)
                    if index == last:
                        self._finish(1, streaming_first, streaming)
                        streaming = None
                        self._encode(complete)  # no other encoder is open now
                else:
                    frames = kept.setdefault(level, (first, []))[1]
                    frames.append(planes)
                    if index == last:
                        complete.append((level, first, frames))
                        del kept[level]
            stopped = True
            if streaming is not None:
                self._finish(1, streaming_first, streaming)
                streaming = None
            self._encode(complete + [(level, first, frames) for level, (first, frames) in kept.items()])
        except BaseException as exc:  # raised on the caller's thread
            self.error = exc
            if streaming is not None:
                streaming.abandon()
            while not stopped and self._queue.get() is not _STOP:
                pass  # drained, so the caller never waits on a thread that stopped

    def _open(self, level: int, first: int) -> _Chunk:
        return _Chunk(chunk_path(self.out_dir, level, first), self.width, self.height)

    def _finish(self, level: int, first: int, chunk: _Chunk) -> None:
        self._written.append((LEVELS.index(level), first, chunk.finish()))

    def _encode(self, complete: list[tuple[int, int, list[YuvPlanes]]]) -> None:
        """Encodes the kept chunks, one encoder at a time, and empties the list."""
        while complete:
            level, first, frames = complete.pop(0)
            chunk = self._open(level, first)
            try:
                for planes in frames:
                    chunk.write(planes)
                self._finish(level, first, chunk)
            except BaseException:
                chunk.abandon()
                raise
