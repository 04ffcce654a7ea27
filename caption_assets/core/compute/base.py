"""The compute interface: one method per heavy step (docs/architecture.md, asset graph).

Steps take ids, not data: the implementation reads its inputs from the artifact store and writes its
outputs there itself, so a remote worker never ships frames back through the orchestrator. Results are
small, picklable summaries that become materialization metadata.

Progress is not part of a step's arguments (its request stays what a remote worker is sent): a
caller that wants it wraps the calls in ``with backend.reporting(callback):``. In-process compute
hands the callback to the processing loops (reports at a bounded rate, ``processing.progress``);
remote compute (Modal) reports nothing while a call runs.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from caption_assets.core.processing.progress import Progress


@dataclass(frozen=True)
class VideoJob:
    tenant_id: str
    video_id: str


@dataclass(frozen=True)
class FullFramesResult:
    width: int
    height: int
    fps: float
    duration_seconds: float
    total_frames: int
    frame_indices: list[int]


@dataclass(frozen=True)
class LayoutResult:
    region: tuple[int, int, int, int] | None  # x, y, width, height in native pixels
    confidence: float
    frame_count: int
    box_count: int
    plausible_box_count: int  # boxes shaped like caption text (not noise or specks)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CroppedResult:
    version: int
    frame_count: int
    chunk_count: int
    chunks_per_level: dict[int, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)  # the caption-state scan's figures


@dataclass(frozen=True)
class CaptionsResult:
    caption_count: int
    duration_seconds: float
    ocr_error_count: int
    carried_over_count: int
    region_found: bool
    stats: dict[str, Any] = field(default_factory=dict)


class Compute(abc.ABC):
    """Runs the heavy steps. Transient failures raise ``errors.TransientError``; bad input raises
    ``errors.PermanentError`` (usually ``BadVideoError``)."""

    # the callback of the calls inside ``reporting`` (None: no progress reports)
    progress: Progress | None = None

    @contextmanager
    def reporting(self, progress: Progress | None) -> Iterator[None]:
        """Step calls inside the block report their progress to ``progress`` as
        ``(what, done, total)``, at a bounded rate, on the calling thread. Only in-process compute
        reports; a remote call reports nothing until it returns. One instance serves one step at
        a time (as the assets use it), so the callback is per instance, not per thread."""
        previous, self.progress = self.progress, progress
        try:
            yield
        finally:
            self.progress = previous

    @abc.abstractmethod
    def full_frames(self, job: VideoJob) -> FullFramesResult: ...

    @abc.abstractmethod
    def layout(self, job: VideoJob) -> LayoutResult: ...

    @abc.abstractmethod
    def cropped_frames(self, job: VideoJob, version: int) -> CroppedResult: ...

    @abc.abstractmethod
    def captions(self, job: VideoJob, reocr_caption_ids: list[int] | None = None) -> CaptionsResult: ...

    def cancel(self) -> None:  # noqa: B027 - optional: in-process compute keeps this no-op
        """Stop work started by this instance (a terminated run). In-process work has nothing
        to cancel."""
