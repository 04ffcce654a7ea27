"""In-process compute: the default, and what tests and `caption-assets process` use.

``cancel()`` (from another thread: a lost lock, see ``compute.watch``) cannot interrupt the
processing code, which has no cancellation check; it makes every artifact-store operation of the
steps raise ``ComputeCancelledError`` instead, so a cancelled step stops at its next read or write
and stores nothing more.

Progress (``Compute.reporting``) goes straight to the processing loops, on the step's thread.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from caption_assets.core.compute import steps
from caption_assets.core.compute.base import (
    CaptionsResult,
    Compute,
    CroppedResult,
    FullFramesResult,
    LayoutResult,
    VideoJob,
)
from caption_assets.core.compute.errors import ComputeCancelledError
from caption_assets.core.store.base import ArtifactStore


class _CancellableStore:
    """The steps' view of the store: every call refused once ``cancelled`` is set."""

    def __init__(self, store: ArtifactStore, cancelled: threading.Event) -> None:
        self._store = store
        self._cancelled = cancelled

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self._cancelled.is_set():
                raise ComputeCancelledError(f"store.{name}: the step was cancelled")
            return attr(*args, **kwargs)

        return guarded


class LocalCompute(Compute):
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._cancelled = threading.Event()
        # what the steps are given: the same store, refused once cancelled (a proxy: it answers
        # every ArtifactStore attribute through __getattr__ without being a subclass)
        self._steps_store = cast(ArtifactStore, _CancellableStore(store, self._cancelled))

    def cancel(self) -> None:
        """Refuse the steps' store operations from now on (safe from any thread)."""
        self._cancelled.set()

    def full_frames(self, job: VideoJob) -> FullFramesResult:
        return steps.full_frames_step(self._steps_store, job, self.progress)

    def layout(self, job: VideoJob) -> LayoutResult:
        return steps.layout_step(self._steps_store, job, self.progress)

    def cropped_frames(self, job: VideoJob, version: int) -> CroppedResult:
        return steps.cropped_frames_step(self._steps_store, job, version, self.progress)

    def captions(self, job: VideoJob, reocr_caption_ids: list[int] | None = None) -> CaptionsResult:
        return steps.captions_step(self._steps_store, job, reocr_caption_ids, self.progress)
