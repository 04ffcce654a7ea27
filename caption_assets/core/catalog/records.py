"""What the catalog hands out: the dataclasses of its rows and the values of its columns.

Their own module so that ``rows`` (which builds them) and ``base`` (whose methods return them) both
import them without importing each other; ``base`` re-exports them, the catalog's one interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Tier = Literal["free", "premium", "enterprise"]
Status = Literal["wait", "processing", "annotate", "done", "review", "error"]
StatusColumn = Literal["layout_status", "boundaries_status", "text_status"]
LockDatabase = Literal["layout", "captions"]
PurgeReason = Literal["deleted", "archived"]
Work = Literal["layout", "captions"]  # what a run claims: a layout run or a captions run
LockKind = Literal["server", "client"]


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    tier: Tier
    auto_approve: bool
    active: bool


@dataclass(frozen=True)
class Video:
    id: str
    tenant_id: str
    storage_key: str
    uploaded_at: datetime
    deleted_at: datetime | None
    original_filename: str | None
    size_bytes: int | None
    duration_seconds: float | None
    width: int | None
    height: int | None
    fps: float | None
    total_frames: int | None
    layout_status: Status
    layout_error_details: dict[str, Any] | None
    layout_approved_at: datetime | None
    boundaries_status: Status | None
    boundaries_error_details: dict[str, Any] | None
    text_status: Status | None
    current_cropped_frames_version: int
    processing_attempt: int

    def status_line(self) -> str:
        """The three status columns as a person reads them (``-``: that step has not begun)."""
        return (
            f"layout {self.layout_status}, boundaries {self.boundaries_status or '-'}, "
            f"text {self.text_status or '-'}"
        )

    def error_messages(self) -> dict[str, str]:
        """The recorded error message of each part (layout, captions) that has one."""
        parts = {"layout": self.layout_error_details, "captions": self.boundaries_error_details}
        return {part: str(d["message"]) for part, d in parts.items() if d and d.get("message")}


@dataclass(frozen=True)
class PendingUpload:
    """A ``wait`` row the new_uploads sensor should start a layout run for."""

    video_id: str
    tenant_id: str
    tier: Tier
    uploaded_at: datetime
    processing_attempt: int
    wait_since: datetime  # when layout_status last became 'wait' (upload or retry): the sensor's cursor


@dataclass(frozen=True)
class ApprovedLayout:
    """A video whose layout was approved after ``since``: it needs a captions run."""

    video_id: str
    tenant_id: str
    tier: Tier
    uploaded_at: datetime
    layout_approved_at: datetime


@dataclass(frozen=True)
class WorkClaim:
    """A claimed layout or captions run whose work has not started: the repair checks that the
    orchestrator has a run for it, and releases it when not (the next tick requests it again)."""

    video_id: str
    work: Work
    processing_attempt: int | None  # layout: the attempt claimed
    layout_approved_at: datetime | None  # captions: the approval claimed
    claimed_by: str | None  # the run that claimed the work for itself; None: a sensor
    claimed_at: datetime


@dataclass(frozen=True)
class LockResult:
    acquired: bool
    holder: str | None
    kind: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class OcrRequest:
    id: str
    video_id: str
    caption_id: int
    status: str


@dataclass(frozen=True)
class StaleLock:
    video_id: str
    database: str
    holder: str
    expires_at: datetime


@dataclass(frozen=True)
class ProcessingVideo:
    """A video with a status column in ``processing``: work that a live run must own."""

    video_id: str
    tenant_id: str
    columns: tuple[StatusColumn, ...]
    updated_at: datetime


@dataclass(frozen=True)
class VideoMetadata:
    duration_seconds: float
    width: int
    height: int
    fps: float
    total_frames: int


@dataclass(frozen=True)
class PurgeCandidate:
    """A deleted (or long archived) video whose objects and partition the retention job removes."""

    video_id: str
    tenant_id: str
    reason: PurgeReason
    deleted_at: datetime | None
    archived_at: datetime | None


def error_details(message: str, error: str, run_id: str | None, **extra: Any) -> dict[str, Any]:
    """The JSON a person reads in the web app when a step failed."""
    details: dict[str, Any] = {"message": message, "error": error, "run_id": run_id}
    details.update(extra)
    return details
