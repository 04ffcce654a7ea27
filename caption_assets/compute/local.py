"""In-process compute: the default, and what tests and `caption-assets process` use."""

from __future__ import annotations

from caption_assets.compute import steps
from caption_assets.compute.base import (
    CaptionsResult,
    Compute,
    CroppedResult,
    FullFramesResult,
    LayoutResult,
    VideoJob,
)
from caption_assets.store.base import ArtifactStore


class LocalCompute(Compute):
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def full_frames(self, job: VideoJob) -> FullFramesResult:
        return steps.full_frames_step(self.store, job)

    def layout(self, job: VideoJob) -> LayoutResult:
        return steps.layout_step(self.store, job)

    def cropped_frames(self, job: VideoJob, version: int) -> CroppedResult:
        return steps.cropped_frames_step(self.store, job, version)

    def captions(
        self, job: VideoJob, reocr_caption_ids: list[int] | None = None
    ) -> CaptionsResult:
        return steps.captions_step(self.store, job, reocr_caption_ids)
