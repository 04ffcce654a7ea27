"""Rows of the ``captionacc`` functions and tables -> the catalog's dataclasses, for both adapters.

psycopg hands over ``datetime``/``UUID``/``float`` values; PostgREST hands over their JSON form (ISO 8601
strings, plain strings, numbers that may have lost their ``.0``). The row types say both, and both go
through the same converters so the two adapters build equal dataclasses from the same row.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from caption_assets.core.catalog import records

Uuid = UUID | str  # psycopg: UUID; PostgREST: its text
Timestamp = datetime | str  # psycopg: datetime; PostgREST: ISO 8601 text
Number = float | int  # PostgREST writes 12.0 as 12

STATUS_COLUMNS: tuple[records.StatusColumn, ...] = ("layout_status", "boundaries_status", "text_status")


class TenantRow(TypedDict):
    """``captionacc.tenants`` (the columns the catalog reads)."""

    id: Uuid
    name: str
    tier: records.Tier
    auto_approve: bool
    active: bool


class VideoRow(TypedDict):
    """``captionacc.videos`` (the columns the catalog reads)."""

    id: Uuid
    tenant_id: Uuid
    storage_key: str
    uploaded_at: Timestamp
    deleted_at: Timestamp | None
    original_filename: str | None
    size_bytes: int | None
    duration_seconds: Number | None
    width: int | None
    height: int | None
    fps: Number | None
    total_frames: int | None
    layout_status: records.Status
    layout_error_details: dict[str, Any] | None
    layout_approved_at: Timestamp | None
    boundaries_status: records.Status | None
    boundaries_error_details: dict[str, Any] | None
    text_status: records.Status | None
    current_cropped_frames_version: int
    processing_attempt: int


class PendingUploadRow(TypedDict):
    """``captionacc.pending_uploads`` / ``claim_pending_uploads``."""

    video_id: Uuid
    tenant_id: Uuid
    tier: records.Tier
    uploaded_at: Timestamp
    processing_attempt: int
    wait_since: Timestamp


class ApprovedLayoutRow(TypedDict):
    """``captionacc.approved_layouts`` / ``claim_approved_layouts``."""

    video_id: Uuid
    tenant_id: Uuid
    tier: records.Tier
    uploaded_at: Timestamp
    layout_approved_at: Timestamp


class WorkClaimRow(TypedDict):
    """``captionacc.unstarted_claims``."""

    video_id: Uuid
    work: records.Work
    processing_attempt: int | None
    layout_approved_at: Timestamp | None
    claimed_by: str | None
    claimed_at: Timestamp


class LockStateRow(TypedDict):
    """``captionacc.video_database_state``: who holds a lock now."""

    lock_holder: str | None
    lock_kind: str | None
    expires_at: Timestamp | None


class StaleLockRow(TypedDict):
    """``captionacc.clear_stale_locks``."""

    video_id: Uuid
    database: str
    lock_holder: str
    expires_at: Timestamp


class OcrRequestRow(TypedDict):
    """``captionacc.caption_ocr_requests`` (as ``claim_caption_ocr_requests`` returns them)."""

    id: Uuid
    video_id: Uuid
    caption_id: int
    status: str


class ProcessingVideoRow(TypedDict):
    """``captionacc.videos_in_processing``."""

    video_id: Uuid
    tenant_id: Uuid
    layout_status: records.Status | None
    boundaries_status: records.Status | None
    text_status: records.Status | None
    updated_at: Timestamp


class RefusedRow(TypedDict):
    """``captionacc.refused_videos``."""

    video_id: Uuid
    reason: str


class PurgeCandidateRow(TypedDict):
    """``captionacc.videos_to_purge``."""

    video_id: Uuid
    tenant_id: Uuid
    reason: records.PurgeReason
    deleted_at: Timestamp | None
    archived_at: Timestamp | None


def columns(row: type[Mapping[str, object]]) -> tuple[str, ...]:
    """The columns of a row type, in their declared order: what an adapter selects."""
    return tuple(inspect.get_annotations(row))


class UnexpectedAnswerError(Exception):
    """The catalog answered with the wrong shape (not rows where rows were due, text for a count);
    the adapter reports it as a permanent error of the operation."""

    def __init__(self, data: object) -> None:
        super().__init__(f"unexpected answer {data!r:.200}")


# ---- values ----------------------------------------------------------------------------------------


def timestamp(value: Timestamp | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _required_timestamp(value: Timestamp) -> datetime:
    parsed = timestamp(value)
    if parsed is None:
        raise ValueError("a required timestamp is null")
    return parsed


def _float(value: Number | None) -> float | None:
    return None if value is None else float(value)


def as_bool(value: object) -> bool:
    """A ``returns boolean`` answer."""
    if not isinstance(value, bool):
        raise UnexpectedAnswerError(value)
    return value


def as_int(value: object) -> int:
    """A ``returns integer`` answer (a JSON ``true`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnexpectedAnswerError(value)
    return value


def as_timestamp(value: object) -> datetime | None:
    """A ``returns timestamptz`` answer."""
    if value is not None and not isinstance(value, (datetime, str)):
        raise UnexpectedAnswerError(value)
    return timestamp(value)


def as_uuid_text(value: object) -> str:
    """A ``returns uuid`` answer as lower-case text."""
    if not isinstance(value, (UUID, str)):
        raise UnexpectedAnswerError(value)
    return str(value)


def ignored(value: object) -> None:
    """The answer of a function called for its effect (void, or a value nobody needs)."""


# ---- rows ------------------------------------------------------------------------------------------


def video_from_row(row: VideoRow) -> records.Video:
    return records.Video(
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


def tenant_from_row(row: TenantRow) -> records.Tenant:
    return records.Tenant(
        id=str(row["id"]),
        name=row["name"],
        tier=row["tier"],
        auto_approve=row["auto_approve"],
        active=row["active"],
    )


def pending_upload_from_row(row: PendingUploadRow) -> records.PendingUpload:
    return records.PendingUpload(
        video_id=str(row["video_id"]),
        tenant_id=str(row["tenant_id"]),
        tier=row["tier"],
        uploaded_at=_required_timestamp(row["uploaded_at"]),
        processing_attempt=row["processing_attempt"],
        wait_since=_required_timestamp(row["wait_since"]),
    )


def approved_layout_from_row(row: ApprovedLayoutRow) -> records.ApprovedLayout:
    return records.ApprovedLayout(
        video_id=str(row["video_id"]),
        tenant_id=str(row["tenant_id"]),
        tier=row["tier"],
        uploaded_at=_required_timestamp(row["uploaded_at"]),
        layout_approved_at=_required_timestamp(row["layout_approved_at"]),
    )


def work_claim_from_row(row: WorkClaimRow) -> records.WorkClaim:
    return records.WorkClaim(
        video_id=str(row["video_id"]),
        work=row["work"],
        processing_attempt=row["processing_attempt"],
        layout_approved_at=timestamp(row["layout_approved_at"]),
        claimed_by=row["claimed_by"],
        claimed_at=_required_timestamp(row["claimed_at"]),
    )


def stale_lock_from_row(row: StaleLockRow) -> records.StaleLock:
    return records.StaleLock(
        video_id=str(row["video_id"]),
        database=row["database"],
        holder=row["lock_holder"],
        expires_at=_required_timestamp(row["expires_at"]),
    )


def ocr_request_from_row(row: OcrRequestRow) -> records.OcrRequest:
    return records.OcrRequest(
        id=str(row["id"]),
        video_id=str(row["video_id"]),
        caption_id=row["caption_id"],
        status=row["status"],
    )


def lock_result_from_state(acquired: bool, state: LockStateRow | None) -> records.LockResult:
    """The acquire answer plus the ``video_database_state`` row read right after it (who holds it)."""
    return records.LockResult(
        acquired=acquired,
        holder=state["lock_holder"] if state else None,
        kind=state["lock_kind"] if state else None,
        expires_at=timestamp(state["expires_at"]) if state else None,
    )


def processing_video_from_row(row: ProcessingVideoRow) -> records.ProcessingVideo:
    return records.ProcessingVideo(
        video_id=str(row["video_id"]),
        tenant_id=str(row["tenant_id"]),
        columns=tuple(c for c in STATUS_COLUMNS if row[c] == "processing"),
        updated_at=_required_timestamp(row["updated_at"]),
    )


def refused_from_rows(rows: list[RefusedRow]) -> dict[str, str]:
    """Rows of ``captionacc.refused_videos`` -> {video id: reason}."""
    return {str(r["video_id"]): r["reason"] for r in rows}


def purge_candidate_from_row(row: PurgeCandidateRow) -> records.PurgeCandidate:
    return records.PurgeCandidate(
        video_id=str(row["video_id"]),
        tenant_id=str(row["tenant_id"]),
        reason=row["reason"],
        deleted_at=timestamp(row["deleted_at"]),
        archived_at=timestamp(row["archived_at"]),
    )
