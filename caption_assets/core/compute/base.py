"""The compute interface: one method per heavy step (docs/architecture.md, asset graph).

Steps take ids, not data: the implementation reads its inputs from the artifact store and writes its
outputs there itself, so a remote worker never ships frames back through the orchestrator. Results are
small, picklable summaries that become materialization metadata.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any


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
