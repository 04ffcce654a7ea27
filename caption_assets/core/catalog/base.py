"""The catalog interface: what the orchestrator needs from Supabase / Postgres.

Every state change goes through a SQL function of schema ``captionacc`` (deploy/supabase/migrations),
so the Postgres and Supabase adapters run the same atomic code.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Tier = Literal["free", "premium", "enterprise"]
Status = Literal["wait", "processing", "annotate", "done", "review", "error"]
StatusColumn = Literal["layout_status", "boundaries_status", "text_status"]
LockDatabase = Literal["layout", "captions"]
PurgeReason = Literal["deleted", "archived"]


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
    work: Literal["layout", "captions"]
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


class Catalog(abc.ABC):
    """One interface, two adapters (PostgresCatalog, SupabaseCatalog)."""

    # tenants -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def ensure_tenant(self, name: str, tier: Tier = "free", auto_approve: bool = True) -> Tenant:
        """Return the tenant of that name, creating it (active) if missing."""

    @abc.abstractmethod
    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    @abc.abstractmethod
    def get_tenant_by_name(self, name: str) -> Tenant | None: ...

    def tenant_exists(self, tenant_id: str) -> bool:
        return self.get_tenant(tenant_id) is not None

    # videos ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def insert_video(
        self,
        tenant_id: str,
        video_id: str,
        storage_key: str,
        original_filename: str | None = None,
        size_bytes: int | None = None,
        layout_status: Status = "wait",
    ) -> Video:
        """Insert the catalog row of an upload (what the web app does)."""

    @abc.abstractmethod
    def get_video(self, video_id: str) -> Video | None:
        """The row, deleted or not (callers check ``deleted_at``)."""

    @abc.abstractmethod
    def pending_uploads(
        self, limit: int = 100, after: tuple[datetime, str] | None = None
    ) -> list[PendingUpload]:
        """``wait`` rows of active tenants, not deleted, ordered by (wait_since, video id), only
        those after the ``after`` cursor. A retry sets ``wait`` again with a new ``wait_since``,
        so the sensor sees it although the video is old."""

    @abc.abstractmethod
    def approved_layouts(self, since: datetime | None, limit: int = 100) -> list[ApprovedLayout]:
        """Videos whose ``layout_approved_at`` is newer than ``since``, oldest approval first."""

    @abc.abstractmethod
    def claim_pending_uploads(
        self, limit: int = 100, video_ids: list[str] | None = None
    ) -> list[PendingUpload]:
        """Claim the layout runs of waiting uploads not yet claimed for their current attempt
        (of ``video_ids`` only, when given), oldest first. Each (video, attempt) is returned to
        exactly one caller, whenever its row became visible."""

    @abc.abstractmethod
    def claim_approved_layouts(
        self, limit: int = 100, video_ids: list[str] | None = None
    ) -> list[ApprovedLayout]:
        """Claim the captions runs of approved layouts not yet claimed for their current approval,
        oldest approval first; each (video, approval) is returned to exactly one caller."""

    @abc.abstractmethod
    def unstarted_claims(self, claimed_before: datetime, limit: int = 1000) -> list[WorkClaim]:
        """Claims made before ``claimed_before`` whose run has not started the work."""

    @abc.abstractmethod
    def release_claim(self, claim: WorkClaim) -> bool:
        """Give the claim up (only that exact claim) so the work is claimed again; False when it
        changed meanwhile (the run started, or a newer claim)."""

    @abc.abstractmethod
    def set_status(
        self,
        video_id: str,
        column: StatusColumn,
        status: Status,
        error_details: dict[str, Any] | None = None,
    ) -> None:
        """Move one status column along an allowed transition (refused otherwise)."""

    @abc.abstractmethod
    def begin_processing(self, video_id: str, column: StatusColumn) -> int:
        """Set ``column`` to ``processing``; from ``error``/``done``/``annotate`` this is a retry
        (passes through ``wait`` and increments ``processing_attempt``). Returns the attempt."""

    @abc.abstractmethod
    def record_metadata(self, video_id: str, metadata: VideoMetadata) -> None: ...

    @abc.abstractmethod
    def approve_layout(self, video_id: str, captions_run_id: str | None = None) -> None:
        """Set ``layout_approved_at = now()`` and ``layout_status = 'done'``; an approved layout
        stays as it is. ``captions_run_id``: the run approving it goes on to the captions itself
        and claims them (no second run from the approvals sensor)."""

    @abc.abstractmethod
    def set_cropped_frames_version(self, video_id: str, version: int) -> None: ...

    @abc.abstractmethod
    def mark_deleted(self, video_id: str) -> None: ...

    @abc.abstractmethod
    def set_tenant_active(self, tenant_id: str, active: bool) -> None: ...

    @abc.abstractmethod
    def videos_in_processing(self, limit: int = 1000) -> list[ProcessingVideo]:
        """Videos with any status column in ``processing``, least recently updated first."""

    @abc.abstractmethod
    def refused_videos(self, video_ids: list[str]) -> dict[str, str]:
        """Of ``video_ids``, those whose work must not run, with the reason (unknown video,
        video deleted, tenant inactive)."""

    # retention -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def set_video_archived(self, video_id: str, archived: bool = True) -> datetime | None:
        """Archive (or unarchive) a video; returns ``archived_at``. A purged video stays archived."""

    @abc.abstractmethod
    def videos_to_purge(
        self,
        deleted_before: datetime | None,
        archived_before: datetime | None = None,
        limit: int = 500,
        after: str | None = None,
    ) -> list[PurgeCandidate]:
        """Videos not purged yet that were deleted at or before ``deleted_before`` or archived at
        or before ``archived_before`` (None: none of that kind), by id, after the ``after`` id."""

    @abc.abstractmethod
    def mark_videos_purged(self, video_ids: list[str]) -> list[str]:
        """Record that these deleted or archived videos' objects and partitions are gone (they
        count as deleted from then on); returns the ids now purged. Idempotent."""

    @abc.abstractmethod
    def delete_tenant(self, tenant_id: str) -> list[str]:
        """Deactivate the tenant for good and mark all its videos deleted; returns the ids of its
        videos not purged yet. Idempotent."""

    # locks -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _acquire(self, kind: str, video_id: str, database: str, holder: str, ttl_seconds: int) -> LockResult:
        """``captionacc.acquire_{kind}_lock`` (kind: server or client), as the adapter calls it."""

    @abc.abstractmethod
    def _release(self, kind: str, video_id: str, database: str, holder: str) -> bool:
        """``captionacc.release_{kind}_lock``, as the adapter calls it."""

    def acquire_server_lock(
        self, video_id: str, database: LockDatabase, holder: str, ttl_seconds: int
    ) -> LockResult:
        """One compare-and-set; the holder may call again to renew. A loser gets the current
        holder and expiry in the result."""
        return self._acquire("server", video_id, database, holder, ttl_seconds)

    def require_server_lock(
        self, video_id: str, database: LockDatabase, holder: str, ttl_seconds: int
    ) -> LockResult:
        """``acquire_server_lock`` that raises ``LockHeldError`` ("held by <holder> until
        <expiry>", transient) when someone else holds the lock."""
        from caption_assets.core.errors import LockHeldError

        result = self.acquire_server_lock(video_id, database, holder, ttl_seconds)
        if not result.acquired:
            raise LockHeldError(video_id, database, result.holder, result.expires_at)
        return result

    def release_server_lock(self, video_id: str, database: LockDatabase, holder: str) -> bool:
        return self._release("server", video_id, database, holder)

    def acquire_client_lock(
        self, video_id: str, database: LockDatabase, holder: str, ttl_seconds: int
    ) -> LockResult:
        """What the web app's annotation session takes (excludes and is excluded by server locks)."""
        return self._acquire("client", video_id, database, holder, ttl_seconds)

    def release_client_lock(self, video_id: str, database: LockDatabase, holder: str) -> bool:
        return self._release("client", video_id, database, holder)

    @abc.abstractmethod
    def clear_stale_locks(self) -> list[StaleLock]:
        """Remove expired locks and report which they were."""

    # caption OCR requests ----------------------------------------------------------------------
    @abc.abstractmethod
    def claim_ocr_requests(self, limit: int = 100) -> list[OcrRequest]:
        """Queued requests become ``processing`` (``for update skip locked``)."""

    @abc.abstractmethod
    def finish_ocr_request(self, request_id: str, error: str | None = None) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional: adapters without a pool keep this no-op
        """Release pooled connections."""
