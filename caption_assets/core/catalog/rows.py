"""Rows of the ``captionacc`` functions and tables -> the catalog's dataclasses, for both adapters.

psycopg hands over ``datetime``/``UUID``/``float`` values; PostgREST hands over their JSON form (ISO 8601
strings, plain strings, numbers that may have lost their ``.0``). Both go through the same converters so
the two adapters build equal dataclasses from the same row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from caption_assets.core.catalog.base import (
    ApprovedLayout,
    LockResult,
    OcrRequest,
    PendingUpload,
    ProcessingVideo,
    PurgeCandidate,
    StaleLock,
    Tenant,
    Video,
    WorkClaim,
)

VIDEO_FIELDS = (
    "id",
    "tenant_id",
    "storage_key",
    "uploaded_at",
    "deleted_at",
    "original_filename",
    "size_bytes",
    "duration_seconds",
    "width",
    "height",
    "fps",
    "total_frames",
    "layout_status",
    "layout_error_details",
    "layout_approved_at",
    "boundaries_status",
    "boundaries_error_details",
    "text_status",
    "current_cropped_frames_version",
    "processing_attempt",
)
TENANT_FIELDS = ("id", "name", "tier", "auto_approve", "active")
LOCK_STATE_FIELDS = ("lock_holder", "lock_kind", "expires_at")


def timestamp(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _required_timestamp(value: datetime | str) -> datetime:
    parsed = timestamp(value)
    if parsed is None:
        raise ValueError("a required timestamp is null")
    return parsed


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def video_from_row(row: Mapping[str, Any]) -> Video:
    return Video(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        storage_key=row["storage_key"],
        uploaded_at=_required_timestamp(row["uploaded_at"]),
        deleted_at=timestamp(row["deleted_at"]),
        original_filename=row["original_filename"],
        size_bytes=row["size_bytes"],
        duration_seconds=_float(row["duration_seconds"]),
        width=row["width"],
        height=row["height"],
        fps=_float(row["fps"]),
        total_frames=row["total_frames"],
        layout_status=row["layout_status"],
        layout_error_details=row["layout_error_details"],
        layout_approved_at=timestamp(row["layout_approved_at"]),
        boundaries_status=row["boundaries_status"],
        boundaries_error_details=row["boundaries_error_details"],
        text_status=row["text_status"],
        current_cropped_frames_version=row["current_cropped_frames_version"],
        processing_attempt=row["processing_attempt"],
    )


def tenant_from_row(row: Mapping[str, Any]) -> Tenant:
    return Tenant(
        id=str(row["id"]),
        name=row["name"],
        tier=row["tier"],
        auto_approve=row["auto_approve"],
        active=row["active"],
    )


def pending_upload_from_row(row: Mapping[str, Any]) -> PendingUpload:
    """A row of ``captionacc.pending_uploads``."""
    return PendingUpload(
        video_id=str(row["video_id"]),
        tenant_id=str(row["tenant_id"]),
        tier=row["tier"],
        uploaded_at=_required_timestamp(row["uploaded_at"]),
        processing_attempt=row["processing_attempt"],
        wait_since=_required_timestamp(row["wait_since"]),
    )


def approved_layout_from_row(row: Mapping[str, Any]) -> ApprovedLayout:
    """A row of ``captionacc.approved_layouts``."""
    return ApprovedLayout(
        video_id=str(row["video_id"]),
        tenant_id=str(row["tenant_id"]),
        tier=row["tier"],
        uploaded_at=_required_timestamp(row["uploaded_at"]),
        layout_approved_at=_required_timestamp(row["layout_approved_at"]),
    )


def work_claim_from_row(row: Mapping[str, Any]) -> WorkClaim:
    """A row of ``captionacc.unstarted_claims``."""
    return WorkClaim(
        video_id=str(row["video_id"]),
        work=row["work"],
        processing_attempt=row["processing_attempt"],
        layout_approved_at=timestamp(row["layout_approved_at"]),
        claimed_by=row["claimed_by"],
        claimed_at=_required_timestamp(row["claimed_at"]),
    )


def stale_lock_from_row(row: Mapping[str, Any]) -> StaleLock:
    """A row of ``captionacc.clear_stale_locks``."""
    return StaleLock(
        video_id=str(row["video_id"]),
        database=row["database"],
        holder=row["lock_holder"],
        expires_at=_required_timestamp(row["expires_at"]),
    )


def ocr_request_from_row(row: Mapping[str, Any]) -> OcrRequest:
    """A row of ``captionacc.caption_ocr_requests`` (as ``claim_caption_ocr_requests`` returns it)."""
    return OcrRequest(
        id=str(row["id"]),
        video_id=str(row["video_id"]),
        caption_id=row["caption_id"],
        status=row["status"],
    )


def lock_result_from_state(acquired: bool, state: Mapping[str, Any] | None) -> LockResult:
    """The acquire answer plus the ``video_database_state`` row read right after it (who holds it)."""
    return LockResult(
        acquired=acquired,
        holder=state["lock_holder"] if state else None,
        kind=state["lock_kind"] if state else None,
        expires_at=timestamp(state["expires_at"]) if state else None,
    )


def processing_video_from_row(row: Mapping[str, Any]) -> ProcessingVideo:
    """A row of ``captionacc.videos_in_processing``."""
    return ProcessingVideo(
        video_id=str(row["video_id"]),
        tenant_id=str(row["tenant_id"]),
        columns=tuple(
            c for c in ("layout_status", "boundaries_status", "text_status") if row[c] == "processing"
        ),  # type: ignore[arg-type]
        updated_at=_required_timestamp(row["updated_at"]),
    )


def refused_from_rows(rows: list[Mapping[str, Any]]) -> dict[str, str]:
    """Rows of ``captionacc.refused_videos`` -> {video id: reason}."""
    return {str(r["video_id"]): str(r["reason"]) for r in rows}


def purge_candidate_from_row(row: Mapping[str, Any]) -> PurgeCandidate:
    """A row of ``captionacc.videos_to_purge``."""
    return PurgeCandidate(
        video_id=str(row["video_id"]),
        tenant_id=str(row["tenant_id"]),
        reason=row["reason"],
        deleted_at=timestamp(row["deleted_at"]),
        archived_at=timestamp(row["archived_at"]),
    )


def sorted_ids(values: Iterable[Any]) -> list[str]:
    """The ids ``mark_videos_purged`` / ``delete_tenant`` return (``setof uuid``) as text, sorted
    like the uuid type (lower-case UUID text sorts the same), whatever order they came in."""
    return sorted(str(v) for v in values)
