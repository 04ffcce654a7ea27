"""The catalog interface: what the orchestrator needs from Supabase / Postgres.

Every state change goes through a SQL function of schema ``captionacc`` (deploy/supabase/migrations),
so the Postgres and Supabase adapters run the same atomic code. The operations are written once here,
over a ``CatalogSession`` (call a function with named arguments, read a table) and the retry policy;
an adapter supplies the session and says which of its library's failures are transient.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar, get_args

from caption_assets.core import errors
from caption_assets.core.catalog.records import (
    ApprovedLayout,
    LockDatabase,
    LockKind,
    LockResult,
    OcrRequest,
    PendingUpload,
    ProcessingVideo,
    PurgeCandidate,
    PurgeReason,
    StaleLock,
    Status,
    StatusColumn,
    Tenant,
    Tier,
    Video,
    VideoMetadata,
    Work,
    WorkClaim,
    error_details,
)
from caption_assets.core.catalog.retry import catalog_retrying
from caption_assets.core.catalog.rows import (
    STATUS_COLUMNS,
    ApprovedLayoutRow,
    LockStateRow,
    OcrRequestRow,
    PendingUploadRow,
    ProcessingVideoRow,
    PurgeCandidateRow,
    RefusedRow,
    StaleLockRow,
    TenantRow,
    UnexpectedAnswerError,
    VideoRow,
    WorkClaimRow,
    approved_layout_from_row,
    as_bool,
    as_int,
    as_timestamp,
    as_uuid_text,
    ignored,
    lock_result_from_state,
    ocr_request_from_row,
    pending_upload_from_row,
    processing_video_from_row,
    purge_candidate_from_row,
    refused_from_rows,
    stale_lock_from_row,
    tenant_from_row,
    video_from_row,
    work_claim_from_row,
)
from caption_assets.core.keys import validate_uuid

# the catalog's vocabulary is part of its interface: callers import it from here
__all__ = [
    "ApprovedLayout",
    "Catalog",
    "CatalogSession",
    "LockDatabase",
    "LockKind",
    "LockResult",
    "OcrRequest",
    "Param",
    "PendingUpload",
    "ProcessingVideo",
    "PurgeCandidate",
    "PurgeReason",
    "StaleLock",
    "Status",
    "StatusColumn",
    "Tenant",
    "Tier",
    "Video",
    "VideoMetadata",
    "Work",
    "WorkClaim",
    "error_details",
    "validate_choice",
]

T = TypeVar("T")
R = TypeVar("R", bound=Mapping[str, object])

# a SQL function argument as the catalog passes it; each session encodes it for its wire (JSON
# for PostgREST, timestamps in ISO 8601; psycopg: jsonb for the dicts)
Param = str | int | float | bool | datetime | list[str] | dict[str, Any] | None

TIERS: tuple[Tier, ...] = get_args(Tier)
STATUSES: tuple[Status, ...] = get_args(Status)
LOCK_DATABASES: tuple[LockDatabase, ...] = get_args(LockDatabase)


def validate_choice(value: object, choices: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``choices``, or BadInputError before any SQL is sent."""
    if value not in choices:
        raise errors.BadInputError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


class CatalogSession(abc.ABC):
    """What one attempt has of the catalog: a pooled connection (Postgres) or the PostgREST client
    (Supabase). Functions are called with named arguments, exactly the SQL functions' argument
    names, as PostgREST requires."""

    @abc.abstractmethod
    def call(self, fn: str, params: Mapping[str, Param]) -> object:
        """``captionacc.fn`` returning one value (None for ``void``)."""

    @abc.abstractmethod
    def call_row(self, fn: str, params: Mapping[str, Param], row: type[R]) -> R:
        """``captionacc.fn`` returning one row of a table type."""

    @abc.abstractmethod
    def call_rows(self, fn: str, params: Mapping[str, Param], row: type[R]) -> list[R]:
        """``captionacc.fn`` returning a table or a set of rows."""

    @abc.abstractmethod
    def call_ids(self, fn: str, params: Mapping[str, Param]) -> list[str]:
        """``captionacc.fn`` returning ``setof uuid``, as text."""

    @abc.abstractmethod
    def select(self, table: str, row: type[R], where: Mapping[str, str]) -> list[R]:
        """The row type's columns of the rows of ``captionacc.table`` whose columns equal ``where``."""


class Catalog(abc.ABC):
    """One interface, two adapters (PostgresCatalog, SupabaseCatalog)."""

    _logger: ClassVar[logging.Logger]
    _max_attempts: int
    _retry_initial_wait: float
    _retry_max_wait: float

    # ---- what an adapter supplies --------------------------------------------------------------

    @abc.abstractmethod
    def _attempt(self, work: Callable[[CatalogSession], T]) -> T:
        """Run ``work`` once on a session of the adapter."""

    @abc.abstractmethod
    def _is_transient(self, exc: BaseException) -> bool:
        """Whether retrying can help (the connection, the server's capacity, a concurrent
        transaction); never for a constraint, a permission or one of our CA* refusals."""

    @abc.abstractmethod
    def _error_of(self, exc: BaseException, message: str) -> errors.CaptionAssetsError | None:
        """The project's error for a failure the adapter's library raised; None for any other."""

    @abc.abstractmethod
    def _detail(self, exc: BaseException) -> str:
        """What the failure says, for the message of the error raised in its place."""

    def _on_retry(self, exc: BaseException | None) -> None:  # noqa: B027 - optional hook
        """Called before each retry with the failure that caused it."""

    # ---- plumbing ------------------------------------------------------------------------------

    def _run(self, op: str, subject: str, work: Callable[[CatalogSession], T]) -> T:
        """``work`` with the retry policy; a failure leaves as the project's error, naming the
        operation and its subject (the video)."""
        context = f"catalog {op} for {subject}"
        retrying = catalog_retrying(
            op,
            subject,
            is_transient=self._is_transient,
            logger=self._logger,
            max_attempts=self._max_attempts,
            initial_wait=self._retry_initial_wait,
            max_wait=self._retry_max_wait,
            on_retry=self._on_retry,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(work)
        except UnexpectedAnswerError as exc:
            raise errors.PermanentError(f"{context}: {exc}") from exc
        except Exception as exc:
            if self._is_transient(exc):
                raise errors.CatalogUnavailableError(
                    f"{context} failed after {self._max_attempts} attempts: {self._detail(exc)}"
                ) from exc
            error = self._error_of(exc, f"{context}: {self._detail(exc)}")
            if error is None:
                raise
            raise error from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # ``fn=`` / ``table=`` keyword-only: every SQL name the catalog uses is spelled that way, once,
    # here (the Supabase adapter's test collects them to check that it calls exactly these)
    def _call(
        self, op: str, subject: str, *, fn: str, params: Mapping[str, Param], answer: Callable[[object], T]
    ) -> T:
        return self._run(op, subject, lambda s: answer(s.call(fn, params)))

    def _call_row(self, op: str, subject: str, *, fn: str, params: Mapping[str, Param], row: type[R]) -> R:
        return self._run(op, subject, lambda s: s.call_row(fn, params, row))

    def _call_rows(
        self, op: str, subject: str, *, fn: str, params: Mapping[str, Param], row: type[R]
    ) -> list[R]:
        return self._run(op, subject, lambda s: s.call_rows(fn, params, row))

    def _call_ids(self, op: str, subject: str, *, fn: str, params: Mapping[str, Param]) -> list[str]:
        # sorted like the uuid type (lower-case UUID text sorts the same), whatever order they came in
        return sorted(self._run(op, subject, lambda s: s.call_ids(fn, params)))

    def _select(self, op: str, subject: str, *, table: str, row: type[R], **where: str) -> list[R]:
        return self._run(op, subject, lambda s: s.select(table, row, where))

    # tenants -----------------------------------------------------------------------------------

    def ensure_tenant(self, name: str, tier: Tier = "free", auto_approve: bool = True) -> Tenant:
        """Return the tenant of that name, creating it (active) if missing."""
        if not isinstance(name, str) or not name.strip():
            raise errors.BadInputError(f"tenant name must be a non-empty string, got {name!r}")
        validate_choice(tier, TIERS, f"tier of tenant {name!r}")
        row = self._call_row(
            "ensure_tenant",
            f"tenant {name!r}",
            fn="ensure_tenant",
            params={"p_name": name, "p_tier": tier, "p_auto_approve": bool(auto_approve)},
            row=TenantRow,
        )
        return tenant_from_row(row)

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        tenant_id = validate_uuid(tenant_id, "tenant id")
        rows = self._select("get_tenant", f"tenant {tenant_id}", table="tenants", row=TenantRow, id=tenant_id)
        return tenant_from_row(rows[0]) if rows else None

    def get_tenant_by_name(self, name: str) -> Tenant | None:
        rows = self._select(
            "get_tenant_by_name", f"tenant {name!r}", table="tenants", row=TenantRow, name=name
        )
        return tenant_from_row(rows[0]) if rows else None

    def tenant_exists(self, tenant_id: str) -> bool:
        return self.get_tenant(tenant_id) is not None

    # videos ------------------------------------------------------------------------------------

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
        video_id = validate_uuid(video_id, "video id")
        tenant_id = validate_uuid(tenant_id, f"tenant id of video {video_id}")
        validate_choice(layout_status, ("wait", "processing"), f"initial status of video {video_id}")
        row = self._call_row(
            "insert_video",
            f"video {video_id}",
            fn="insert_video",
            params={
                "p_tenant_id": tenant_id,
                "p_video_id": video_id,
                "p_storage_key": storage_key,
                "p_original_filename": original_filename,
                "p_size_bytes": size_bytes,
                "p_layout_status": layout_status,
            },
            row=VideoRow,
        )
        return video_from_row(row)

    def get_video(self, video_id: str) -> Video | None:
        """The row, deleted or not (callers check ``deleted_at``)."""
        video_id = validate_uuid(video_id, "video id")
        rows = self._select("get_video", f"video {video_id}", table="videos", row=VideoRow, id=video_id)
        return video_from_row(rows[0]) if rows else None

    def pending_uploads(
        self, limit: int = 100, after: tuple[datetime, str] | None = None
    ) -> list[PendingUpload]:
        """``wait`` rows of active tenants, not deleted, ordered by (wait_since, video id), only
        those after the ``after`` cursor. A retry sets ``wait`` again with a new ``wait_since``,
        so the sensor sees it although the video is old."""
        after_at, after_id = (None, None)
        if after is not None:
            after_at, after_id = after[0], validate_uuid(after[1], "pending_uploads cursor video id")
        rows = self._call_rows(
            "pending_uploads",
            "pending uploads",
            fn="pending_uploads",
            params={"p_limit": int(limit), "p_after_wait_since": after_at, "p_after_video_id": after_id},
            row=PendingUploadRow,
        )
        return [pending_upload_from_row(r) for r in rows]

    def approved_layouts(self, since: datetime | None, limit: int = 100) -> list[ApprovedLayout]:
        """Videos whose ``layout_approved_at`` is newer than ``since``, oldest approval first."""
        rows = self._call_rows(
            "approved_layouts",
            "approved layouts",
            fn="approved_layouts",
            params={"p_since": since, "p_limit": int(limit)},
            row=ApprovedLayoutRow,
        )
        return [approved_layout_from_row(r) for r in rows]

    def claim_pending_uploads(
        self, limit: int = 100, video_ids: list[str] | None = None
    ) -> list[PendingUpload]:
        """Claim the layout runs of waiting uploads not yet claimed for their current attempt
        (of ``video_ids`` only, when given), oldest first. Each (video, attempt) is returned to
        exactly one caller, whenever its row became visible."""
        rows = self._call_rows(
            "claim_pending_uploads",
            "pending uploads",
            fn="claim_pending_uploads",
            params={"p_limit": int(limit), "p_video_ids": _validate_uuids(video_ids)},
            row=PendingUploadRow,
        )
        return [pending_upload_from_row(r) for r in rows]

    def claim_approved_layouts(
        self, limit: int = 100, video_ids: list[str] | None = None
    ) -> list[ApprovedLayout]:
        """Claim the captions runs of approved layouts not yet claimed for their current approval,
        oldest approval first; each (video, approval) is returned to exactly one caller."""
        rows = self._call_rows(
            "claim_approved_layouts",
            "approved layouts",
            fn="claim_approved_layouts",
            params={"p_limit": int(limit), "p_video_ids": _validate_uuids(video_ids)},
            row=ApprovedLayoutRow,
        )
        return [approved_layout_from_row(r) for r in rows]

    def unstarted_claims(self, claimed_before: datetime, limit: int = 1000) -> list[WorkClaim]:
        """Claims made before ``claimed_before`` whose run has not started the work."""
        rows = self._call_rows(
            "unstarted_claims",
            "run claims",
            fn="unstarted_claims",
            params={"p_claimed_before": claimed_before, "p_limit": int(limit)},
            row=WorkClaimRow,
        )
        return [work_claim_from_row(r) for r in rows]

    def release_claim(self, claim: WorkClaim) -> bool:
        """Give the claim up (only that exact claim) so the work is claimed again; False when it
        changed meanwhile (the run started, or a newer claim)."""
        video_id = validate_uuid(claim.video_id, "video id")
        return self._call(
            f"release {claim.work} claim",
            f"video {video_id}",
            fn="release_claim",
            params={"p_video_id": video_id, "p_work": claim.work, "p_claimed_at": claim.claimed_at},
            answer=as_bool,
        )

    def set_status(
        self,
        video_id: str,
        column: StatusColumn,
        status: Status,
        error_details: dict[str, Any] | None = None,
    ) -> None:
        """Move one status column along an allowed transition (refused otherwise)."""
        video_id = validate_uuid(video_id, "video id")
        validate_choice(column, STATUS_COLUMNS, f"status column of video {video_id}")
        validate_choice(status, STATUSES, f"{column} of video {video_id}")
        self._call(
            f"set {column}={status}",
            f"video {video_id}",
            fn="set_video_status",
            params={
                "p_video_id": video_id,
                "p_column": column,
                "p_status": status,
                "p_error_details": error_details,
            },
            answer=ignored,
        )

    def begin_processing(self, video_id: str, column: StatusColumn) -> int:
        """Set ``column`` to ``processing``; from ``error``/``done``/``annotate`` this is a retry
        (passes through ``wait`` and increments ``processing_attempt``). Returns the attempt."""
        video_id = validate_uuid(video_id, "video id")
        validate_choice(column, STATUS_COLUMNS, f"status column of video {video_id}")
        return self._call(
            f"begin_processing {column}",
            f"video {video_id}",
            fn="begin_processing",
            params={"p_video_id": video_id, "p_column": column},
            answer=as_int,
        )

    def record_metadata(self, video_id: str, metadata: VideoMetadata) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._call(
            "record_metadata",
            f"video {video_id}",
            fn="record_video_metadata",
            params={
                "p_video_id": video_id,
                "p_duration_seconds": metadata.duration_seconds,
                "p_width": metadata.width,
                "p_height": metadata.height,
                "p_fps": metadata.fps,
                "p_total_frames": metadata.total_frames,
            },
            answer=ignored,
        )

    def approve_layout(self, video_id: str, captions_run_id: str | None = None) -> None:
        """Set ``layout_approved_at = now()`` and ``layout_status = 'done'``; an approved layout
        stays as it is. ``captions_run_id``: the run approving it goes on to the captions itself
        and claims them (no second run from the approvals sensor)."""
        video_id = validate_uuid(video_id, "video id")
        self._call(
            "approve_layout",
            f"video {video_id}",
            fn="approve_layout",
            params={"p_video_id": video_id, "p_captions_run_id": captions_run_id},
            answer=ignored,
        )

    def set_cropped_frames_version(self, video_id: str, version: int) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._call(
            "set_cropped_frames_version",
            f"video {video_id}",
            fn="set_cropped_frames_version",
            params={"p_video_id": video_id, "p_version": int(version)},
            answer=ignored,
        )

    def mark_deleted(self, video_id: str) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._call(
            "mark_deleted",
            f"video {video_id}",
            fn="mark_video_deleted",
            params={"p_video_id": video_id},
            answer=ignored,
        )

    def set_tenant_active(self, tenant_id: str, active: bool) -> None:
        tenant_id = validate_uuid(tenant_id, "tenant id")
        self._call(
            "set_tenant_active",
            f"tenant {tenant_id}",
            fn="set_tenant_active",
            params={"p_tenant_id": tenant_id, "p_active": bool(active)},
            answer=ignored,
        )

    def videos_in_processing(self, limit: int = 1000) -> list[ProcessingVideo]:
        """Videos with any status column in ``processing``, least recently updated first."""
        rows = self._call_rows(
            "videos_in_processing",
            "videos in processing",
            fn="videos_in_processing",
            params={"p_limit": int(limit)},
            row=ProcessingVideoRow,
        )
        return [processing_video_from_row(r) for r in rows]

    def refused_videos(self, video_ids: list[str]) -> dict[str, str]:
        """Of ``video_ids``, those whose work must not run, with the reason (unknown video,
        video deleted, tenant inactive)."""
        ids = [validate_uuid(v, "video id") for v in video_ids]
        if not ids:
            return {}
        rows = self._call_rows(
            "refused_videos",
            f"{len(ids)} videos",
            fn="refused_videos",
            params={"p_video_ids": ids},
            row=RefusedRow,
        )
        return refused_from_rows(rows)

    # retention -----------------------------------------------------------------------------------

    def set_video_archived(self, video_id: str, archived: bool = True) -> datetime | None:
        """Archive (or unarchive) a video; returns ``archived_at``. A purged video stays archived."""
        video_id = validate_uuid(video_id, "video id")
        return self._call(
            "set_video_archived",
            f"video {video_id}",
            fn="set_video_archived",
            params={"p_video_id": video_id, "p_archived": bool(archived)},
            answer=as_timestamp,
        )

    def videos_to_purge(
        self,
        deleted_before: datetime | None,
        archived_before: datetime | None = None,
        limit: int = 500,
        after: str | None = None,
    ) -> list[PurgeCandidate]:
        """Videos not purged yet that were deleted at or before ``deleted_before`` or archived at
        or before ``archived_before`` (None: none of that kind), by id, after the ``after`` id."""
        after_id = None if after is None else validate_uuid(after, "videos_to_purge cursor video id")
        rows = self._call_rows(
            "videos_to_purge",
            "videos to purge",
            fn="videos_to_purge",
            params={
                "p_deleted_before": deleted_before,
                "p_archived_before": archived_before,
                "p_limit": int(limit),
                "p_after_video_id": after_id,
            },
            row=PurgeCandidateRow,
        )
        return [purge_candidate_from_row(r) for r in rows]

    def mark_videos_purged(self, video_ids: list[str]) -> list[str]:
        """Record that these deleted or archived videos' objects and partitions are gone (they
        count as deleted from then on); returns the ids now purged. Idempotent."""
        ids = [validate_uuid(v, "video id") for v in video_ids]
        if not ids:
            return []
        return self._call_ids(
            "mark_videos_purged", f"{len(ids)} videos", fn="mark_videos_purged", params={"p_video_ids": ids}
        )

    def delete_tenant(self, tenant_id: str) -> list[str]:
        """Deactivate the tenant for good and mark all its videos deleted; returns the ids of its
        videos not purged yet. Idempotent."""
        tenant_id = validate_uuid(tenant_id, "tenant id")
        return self._call_ids(
            "delete_tenant", f"tenant {tenant_id}", fn="delete_tenant", params={"p_tenant_id": tenant_id}
        )

    # locks -------------------------------------------------------------------------------------

    def _acquire(
        self, kind: LockKind, video_id: str, database: LockDatabase, holder: str, ttl_seconds: int
    ) -> LockResult:
        """``captionacc.acquire_{kind}_lock``, then who holds the lock."""
        video_id = validate_uuid(video_id, "video id")
        validate_choice(database, LOCK_DATABASES, f"lock database of video {video_id}")
        params: dict[str, Param] = {
            "p_video_id": video_id,
            "p_database": database,
            "p_holder": holder,
            "p_ttl_seconds": int(ttl_seconds),
        }

        def work(session: CatalogSession) -> LockResult:
            acquired = as_bool(session.call(fn=f"acquire_{kind}_lock", params=params))
            # a loser reports who holds it; read right after, so it may already be free again
            state = session.select(
                table="video_database_state",
                row=LockStateRow,
                where={"video_id": video_id, "database": database},
            )
            return lock_result_from_state(acquired, state[0] if state else None)

        return self._run(f"acquire {kind} lock {database}", f"video {video_id}", work)

    def _release(self, kind: LockKind, video_id: str, database: LockDatabase, holder: str) -> bool:
        """``captionacc.release_{kind}_lock``."""
        video_id = validate_uuid(video_id, "video id")
        validate_choice(database, LOCK_DATABASES, f"lock database of video {video_id}")
        return self._call(
            f"release {kind} lock {database}",
            f"video {video_id}",
            fn=f"release_{kind}_lock",
            params={"p_video_id": video_id, "p_database": database, "p_holder": holder},
            answer=as_bool,
        )

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
        result = self.acquire_server_lock(video_id, database, holder, ttl_seconds)
        if not result.acquired:
            raise errors.LockHeldError(video_id, database, result.holder, result.expires_at)
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

    def clear_stale_locks(self) -> list[StaleLock]:
        """Remove expired locks and report which they were."""
        rows = self._call_rows(
            "clear_stale_locks", "all videos", fn="clear_stale_locks", params={}, row=StaleLockRow
        )
        return [stale_lock_from_row(r) for r in rows]

    # caption OCR requests ----------------------------------------------------------------------

    def request_caption_ocr(self, video_id: str, caption_id: int) -> str:
        """What the web app does after a person edited a caption's extents."""
        video_id = validate_uuid(video_id, "video id")
        return self._call(
            "request_caption_ocr",
            f"video {video_id}",
            fn="request_caption_ocr",
            params={"p_video_id": video_id, "p_caption_id": int(caption_id)},
            answer=as_uuid_text,
        )

    def claim_ocr_requests(self, limit: int = 100) -> list[OcrRequest]:
        """Queued requests become ``processing`` (``for update skip locked``), by video and caption."""
        rows = self._call_rows(
            "claim_ocr_requests",
            "caption OCR requests",
            fn="claim_caption_ocr_requests",
            params={"p_limit": int(limit)},
            row=OcrRequestRow,
        )
        # lower-case UUID text sorts like the uuid type
        return sorted((ocr_request_from_row(r) for r in rows), key=lambda r: (r.video_id, r.caption_id))

    def finish_ocr_request(self, request_id: str, error: str | None = None) -> None:
        request_id = validate_uuid(request_id, "ocr request id")
        self._call(
            "finish_ocr_request",
            f"ocr request {request_id}",
            fn="finish_caption_ocr_request",
            params={"p_request_id": request_id, "p_error": error},
            answer=ignored,
        )

    # lifecycle -----------------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional: adapters without a pool keep this no-op
        """Release pooled connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _validate_uuids(values: list[str] | None) -> list[str] | None:
    """``validate_uuid`` of each video id; None (no restriction) stays None."""
    return None if values is None else [validate_uuid(v, "video id") for v in values]
