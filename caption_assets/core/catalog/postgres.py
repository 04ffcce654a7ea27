"""``PostgresCatalog``: the catalog over psycopg 3 with a connection pool.

Every state change is one ``select captionacc.fn(...)`` (deploy/supabase/migrations/0002_functions.sql),
the same functions the Supabase adapter calls through ``rpc``. Reads are plain selects.
Transient failures (connection lost, timeouts, serialisation failures, pool exhausted) are retried
with exponential backoff and jitter; constraint, permission and refused-transition errors are not.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from caption_assets.core import errors
from caption_assets.core.catalog.base import (
    ApprovedLayout,
    Catalog,
    LockResult,
    OcrRequest,
    PendingUpload,
    ProcessingVideo,
    PurgeCandidate,
    StaleLock,
    Status,
    StatusColumn,
    Tenant,
    Tier,
    Video,
    VideoMetadata,
    WorkClaim,
)
from caption_assets.core.catalog.retry import catalog_retrying
from caption_assets.core.catalog.rows import (
    LOCK_STATE_FIELDS,
    TENANT_FIELDS,
    VIDEO_FIELDS,
    approved_layout_from_row,
    lock_result_from_state,
    ocr_request_from_row,
    pending_upload_from_row,
    processing_video_from_row,
    purge_candidate_from_row,
    refused_from_rows,
    sorted_ids,
    stale_lock_from_row,
    tenant_from_row,
    video_from_row,
    work_claim_from_row,
)

T = TypeVar("T")
_log = logging.getLogger(__name__)

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TIERS = ("free", "premium", "enterprise")
STATUSES = ("wait", "processing", "annotate", "done", "review", "error")
STATUS_COLUMNS = ("layout_status", "boundaries_status", "text_status")
LOCK_DATABASES = ("layout", "captions")

VIDEO_COLUMNS = ", ".join(VIDEO_FIELDS)
TENANT_COLUMNS = ", ".join(TENANT_FIELDS)


# ---- helpers shared with the Supabase adapter --------------------------------------------------


def validate_uuid(value: object, what: str) -> str:
    """The canonical lower-case form, or BadInputError before any SQL is sent."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value):
        raise errors.BadInputError(f"{what} must be a UUID, got {value!r}")
    return value.lower()


def validate_uuids(values: list[str] | None, what: str) -> list[str] | None:
    """``validate_uuid`` of each; None (no restriction) stays None."""
    return None if values is None else [validate_uuid(v, what) for v in values]


def validate_choice(value: object, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise errors.BadInputError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def error_for_sqlstate(sqlstate: str | None, message: str) -> errors.CaptionAssetsError:
    """Map a SQLSTATE (raised by our SQL functions or by Postgres) to the project's taxonomy.
    PostgREST passes the same code through, so both adapters share this."""
    code = sqlstate or ""
    if code == "CA001":
        return errors.StatusTransitionError(message)
    if code == "CA002":
        return errors.NotFoundError(message)
    if code == "CA003":
        return errors.TenantNotFoundError(message)
    if code == "CA004":
        return errors.PermanentError(message)
    if code == "CA005" or code.startswith(("22", "23")):
        # data exceptions and integrity constraint violations: the input was wrong
        return errors.BadInputError(message)
    if code == "42501":
        return errors.PermanentError(f"permission denied: {message}")
    if code.startswith(("08", "40", "53", "57")) or code in ("55P03", "55006"):
        return errors.CatalogUnavailableError(message)
    return errors.PermanentError(message)


def is_transient(exc: BaseException) -> bool:
    """Retrying can help: the connection, the server's capacity or a concurrent transaction."""
    if isinstance(exc, psycopg.Error):
        code = exc.sqlstate or ""
        if code.startswith("CA"):
            return False
        if isinstance(exc, psycopg.errors.TransactionRollback):  # serialization failure, deadlock
            return True
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            # connection failures, pool timeout, statement timeout, admin shutdown, too many
            # connections, lock not available
            return True
    return False


def _connection_broken(exc: BaseException | None) -> bool:
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.OperationalError):
        code = exc.sqlstate
        # no SQLSTATE: the client lost the connection; 08: connection exception; 57P0x: shutdown
        return code is None or code.startswith("08") or code.startswith("57P")
    return False


# ---- the adapter ---------------------------------------------------------------------------------


class PostgresCatalog(Catalog):
    """The catalog on any PostgreSQL with the ``captionacc`` migrations (embedded by default).

    Thread-safe: one pool per process is enough (the Dagster resource caches one).
    """

    def __init__(
        self,
        dsn: str,
        min_size: int = 1,
        max_size: int = 10,
        *,
        max_attempts: int = 4,
        pool_timeout: float = 10.0,
        statement_timeout_ms: int | None = 30_000,
        prepare_threshold: int | None = 5,
        retry_initial_wait: float = 0.1,
        retry_max_wait: float = 2.0,
    ) -> None:
        """``prepare_threshold=None`` when connecting through a transaction-mode pooler
        (pgbouncer / Supavisor on port 6543), which cannot keep prepared statements."""
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "row_factory": dict_row,
            "prepare_threshold": prepare_threshold,
            "application_name": "caption_assets-catalog",
        }
        if statement_timeout_ms:
            kwargs["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
        self._max_attempts = max_attempts
        self._retry_initial_wait = retry_initial_wait
        self._retry_max_wait = retry_max_wait
        # not waiting for the first connection: a catalog that is down at start-up must not
        # block Dagster's resource initialisation; the first call retries and reports instead
        self._pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            kwargs=kwargs,
            timeout=pool_timeout,
            name="caption_assets-catalog",
            open=True,
        )

    # ---- plumbing ------------------------------------------------------------------------------

    def _run(self, op: str, subject: str, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        def on_retry(exc: BaseException | None) -> None:
            if _connection_broken(exc):
                # idle connections may be dead too (server restart): drop them before retrying
                self._pool.check()

        retrying = catalog_retrying(
            op,
            subject,
            is_transient=is_transient,
            logger=_log,
            max_attempts=self._max_attempts,
            initial_wait=self._retry_initial_wait,
            max_wait=self._retry_max_wait,
            on_retry=on_retry,
        )
        try:
            for attempt in retrying:
                with attempt:
                    with self._pool.connection() as conn:
                        return fn(conn)
        except psycopg.Error as exc:
            detail = exc.diag.message_primary if exc.diag and exc.diag.message_primary else str(exc)
            if is_transient(exc):
                raise errors.CatalogUnavailableError(
                    f"catalog {op} for {subject} failed after {self._max_attempts} attempts: {detail}"
                ) from exc
            raise error_for_sqlstate(exc.sqlstate, f"catalog {op} for {subject}: {detail}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _one(self, op: str, subject: str, query: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        return self._run(op, subject, lambda conn: conn.execute(query, params).fetchone())

    def _all(self, op: str, subject: str, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self._run(op, subject, lambda conn: conn.execute(query, params).fetchall())

    def _scalar(self, op: str, subject: str, query: str, params: tuple[Any, ...] = ()) -> Any:
        row = self._one(op, subject, query, params)
        return None if row is None else next(iter(row.values()))

    # ---- tenants -------------------------------------------------------------------------------

    def ensure_tenant(self, name: str, tier: Tier = "free", auto_approve: bool = True) -> Tenant:
        if not isinstance(name, str) or not name.strip():
            raise errors.BadInputError(f"tenant name must be a non-empty string, got {name!r}")
        validate_choice(tier, TIERS, f"tier of tenant {name!r}")
        row = self._one(
            "ensure_tenant",
            f"tenant {name!r}",
            f"select {TENANT_COLUMNS} from captionacc.ensure_tenant(%s, %s, %s)",
            (name, tier, bool(auto_approve)),
        )
        assert row is not None
        return tenant_from_row(row)

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        tenant_id = validate_uuid(tenant_id, "tenant id")
        row = self._one(
            "get_tenant",
            f"tenant {tenant_id}",
            f"select {TENANT_COLUMNS} from captionacc.tenants where id = %s",
            (tenant_id,),
        )
        return None if row is None else tenant_from_row(row)

    def get_tenant_by_name(self, name: str) -> Tenant | None:
        row = self._one(
            "get_tenant_by_name",
            f"tenant {name!r}",
            f"select {TENANT_COLUMNS} from captionacc.tenants where name = %s",
            (name,),
        )
        return None if row is None else tenant_from_row(row)

    # ---- videos --------------------------------------------------------------------------------

    def insert_video(
        self,
        tenant_id: str,
        video_id: str,
        storage_key: str,
        original_filename: str | None = None,
        size_bytes: int | None = None,
        layout_status: Status = "wait",
    ) -> Video:
        video_id = validate_uuid(video_id, "video id")
        tenant_id = validate_uuid(tenant_id, f"tenant id of video {video_id}")
        validate_choice(layout_status, ("wait", "processing"), f"initial status of video {video_id}")
        row = self._one(
            "insert_video",
            f"video {video_id}",
            f"select {VIDEO_COLUMNS} from captionacc.insert_video(%s, %s, %s, %s, %s, %s)",
            (tenant_id, video_id, storage_key, original_filename, size_bytes, layout_status),
        )
        assert row is not None
        return video_from_row(row)

    def get_video(self, video_id: str) -> Video | None:
        video_id = validate_uuid(video_id, "video id")
        row = self._one(
            "get_video",
            f"video {video_id}",
            f"select {VIDEO_COLUMNS} from captionacc.videos where id = %s",
            (video_id,),
        )
        return None if row is None else video_from_row(row)

    def pending_uploads(
        self, limit: int = 100, after: tuple[datetime, str] | None = None
    ) -> list[PendingUpload]:
        after_at, after_id = (None, None)
        if after is not None:
            after_at, after_id = after[0], validate_uuid(after[1], "pending_uploads cursor video id")
        rows = self._all(
            "pending_uploads",
            "pending uploads",
            "select * from captionacc.pending_uploads(%s, %s, %s)",
            (int(limit), after_at, after_id),
        )
        return [pending_upload_from_row(r) for r in rows]

    def approved_layouts(self, since: datetime | None, limit: int = 100) -> list[ApprovedLayout]:
        rows = self._all(
            "approved_layouts",
            "approved layouts",
            "select * from captionacc.approved_layouts(%s, %s)",
            (since, int(limit)),
        )
        return [approved_layout_from_row(r) for r in rows]

    def claim_pending_uploads(
        self, limit: int = 100, video_ids: list[str] | None = None
    ) -> list[PendingUpload]:
        ids = validate_uuids(video_ids, "video id")
        rows = self._all(
            "claim_pending_uploads",
            "pending uploads",
            "select * from captionacc.claim_pending_uploads(%s, %s::uuid[])",
            (int(limit), ids),
        )
        return [pending_upload_from_row(r) for r in rows]

    def claim_approved_layouts(
        self, limit: int = 100, video_ids: list[str] | None = None
    ) -> list[ApprovedLayout]:
        ids = validate_uuids(video_ids, "video id")
        rows = self._all(
            "claim_approved_layouts",
            "approved layouts",
            "select * from captionacc.claim_approved_layouts(%s, %s::uuid[])",
            (int(limit), ids),
        )
        return [approved_layout_from_row(r) for r in rows]

    def unstarted_claims(self, claimed_before: datetime, limit: int = 1000) -> list[WorkClaim]:
        rows = self._all(
            "unstarted_claims",
            "run claims",
            "select * from captionacc.unstarted_claims(%s, %s)",
            (claimed_before, int(limit)),
        )
        return [work_claim_from_row(r) for r in rows]

    def release_claim(self, claim: WorkClaim) -> bool:
        video_id = validate_uuid(claim.video_id, "video id")
        return bool(
            self._scalar(
                f"release {claim.work} claim",
                f"video {video_id}",
                "select captionacc.release_claim(%s, %s, %s)",
                (video_id, claim.work, claim.claimed_at),
            )
        )

    def set_status(
        self,
        video_id: str,
        column: StatusColumn,
        status: Status,
        error_details: dict[str, Any] | None = None,
    ) -> None:
        video_id = validate_uuid(video_id, "video id")
        validate_choice(column, STATUS_COLUMNS, f"status column of video {video_id}")
        validate_choice(status, STATUSES, f"{column} of video {video_id}")
        self._scalar(
            f"set {column}={status}",
            f"video {video_id}",
            "select captionacc.set_video_status(%s, %s, %s, %s)",
            (video_id, column, status, None if error_details is None else Jsonb(error_details)),
        )

    def begin_processing(self, video_id: str, column: StatusColumn) -> int:
        video_id = validate_uuid(video_id, "video id")
        validate_choice(column, STATUS_COLUMNS, f"status column of video {video_id}")
        attempt = self._scalar(
            f"begin_processing {column}",
            f"video {video_id}",
            "select captionacc.begin_processing(%s, %s)",
            (video_id, column),
        )
        return int(attempt)

    def record_metadata(self, video_id: str, metadata: VideoMetadata) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._scalar(
            "record_metadata",
            f"video {video_id}",
            "select captionacc.record_video_metadata(%s, %s, %s, %s, %s, %s)",
            (
                video_id,
                metadata.duration_seconds,
                metadata.width,
                metadata.height,
                metadata.fps,
                metadata.total_frames,
            ),
        )

    def approve_layout(self, video_id: str, captions_run_id: str | None = None) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._scalar(
            "approve_layout",
            f"video {video_id}",
            "select captionacc.approve_layout(%s, %s)",
            (video_id, captions_run_id),
        )

    def set_cropped_frames_version(self, video_id: str, version: int) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._scalar(
            "set_cropped_frames_version",
            f"video {video_id}",
            "select captionacc.set_cropped_frames_version(%s, %s)",
            (video_id, int(version)),
        )

    def mark_deleted(self, video_id: str) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._scalar(
            "mark_deleted", f"video {video_id}", "select captionacc.mark_video_deleted(%s)", (video_id,)
        )

    def set_tenant_active(self, tenant_id: str, active: bool) -> None:
        tenant_id = validate_uuid(tenant_id, "tenant id")
        self._scalar(
            "set_tenant_active",
            f"tenant {tenant_id}",
            "select captionacc.set_tenant_active(%s, %s)",
            (tenant_id, bool(active)),
        )

    def videos_in_processing(self, limit: int = 1000) -> list[ProcessingVideo]:
        rows = self._all(
            "videos_in_processing",
            "videos in processing",
            "select * from captionacc.videos_in_processing(%s)",
            (int(limit),),
        )
        return [processing_video_from_row(r) for r in rows]

    def refused_videos(self, video_ids: list[str]) -> dict[str, str]:
        ids = [validate_uuid(v, "video id") for v in video_ids]
        if not ids:
            return {}
        rows = self._all(
            "refused_videos",
            f"{len(ids)} videos",
            "select * from captionacc.refused_videos(%s::uuid[])",
            (ids,),
        )
        return refused_from_rows(rows)

    # ---- retention -----------------------------------------------------------------------------

    def set_video_archived(self, video_id: str, archived: bool = True) -> datetime | None:
        video_id = validate_uuid(video_id, "video id")
        return self._scalar(
            "set_video_archived",
            f"video {video_id}",
            "select captionacc.set_video_archived(%s, %s)",
            (video_id, bool(archived)),
        )

    def videos_to_purge(
        self,
        deleted_before: datetime | None,
        archived_before: datetime | None = None,
        limit: int = 500,
        after: str | None = None,
    ) -> list[PurgeCandidate]:
        after_id = None if after is None else validate_uuid(after, "videos_to_purge cursor video id")
        rows = self._all(
            "videos_to_purge",
            "videos to purge",
            "select * from captionacc.videos_to_purge(%s, %s, %s, %s)",
            (deleted_before, archived_before, int(limit), after_id),
        )
        return [purge_candidate_from_row(r) for r in rows]

    def mark_videos_purged(self, video_ids: list[str]) -> list[str]:
        ids = [validate_uuid(v, "video id") for v in video_ids]
        if not ids:
            return []
        rows = self._all(
            "mark_videos_purged",
            f"{len(ids)} videos",
            "select video_id from captionacc.mark_videos_purged(%s::uuid[]) as purged(video_id)",
            (ids,),
        )
        return sorted_ids(r["video_id"] for r in rows)

    def delete_tenant(self, tenant_id: str) -> list[str]:
        tenant_id = validate_uuid(tenant_id, "tenant id")
        rows = self._all(
            "delete_tenant",
            f"tenant {tenant_id}",
            "select video_id from captionacc.delete_tenant(%s) as deleted(video_id)",
            (tenant_id,),
        )
        return sorted_ids(r["video_id"] for r in rows)

    # ---- locks ---------------------------------------------------------------------------------

    def _acquire(self, kind: str, video_id: str, database: str, holder: str, ttl_seconds: int) -> LockResult:
        video_id = validate_uuid(video_id, "video id")
        validate_choice(database, LOCK_DATABASES, f"lock database of video {video_id}")

        def call(conn: psycopg.Connection[Any]) -> LockResult:
            row = conn.execute(
                f"select captionacc.acquire_{kind}_lock(%s, %s, %s, %s) as acquired",
                (video_id, database, holder, int(ttl_seconds)),
            ).fetchone()
            # a loser reports who holds it; read right after, so it may already be free again
            state = conn.execute(
                f"select {', '.join(LOCK_STATE_FIELDS)} from captionacc.video_database_state "
                "where video_id = %s and database = %s",
                (video_id, database),
            ).fetchone()
            return lock_result_from_state(bool(row and row["acquired"]), state)

        return self._run(f"acquire {kind} lock {database}", f"video {video_id}", call)

    def _release(self, kind: str, video_id: str, database: str, holder: str) -> bool:
        video_id = validate_uuid(video_id, "video id")
        validate_choice(database, LOCK_DATABASES, f"lock database of video {video_id}")
        return bool(
            self._scalar(
                f"release {kind} lock {database}",
                f"video {video_id}",
                f"select captionacc.release_{kind}_lock(%s, %s, %s)",
                (video_id, database, holder),
            )
        )

    def clear_stale_locks(self) -> list[StaleLock]:
        rows = self._all("clear_stale_locks", "all videos", "select * from captionacc.clear_stale_locks()")
        return [stale_lock_from_row(r) for r in rows]

    # ---- caption OCR requests ------------------------------------------------------------------

    def request_caption_ocr(self, video_id: str, caption_id: int) -> str:
        """What the web app does after a person edited a caption's extents."""
        video_id = validate_uuid(video_id, "video id")
        request_id = self._scalar(
            "request_caption_ocr",
            f"video {video_id}",
            "select captionacc.request_caption_ocr(%s, %s)",
            (video_id, int(caption_id)),
        )
        return str(request_id)

    def claim_ocr_requests(self, limit: int = 100) -> list[OcrRequest]:
        rows = self._all(
            "claim_ocr_requests",
            "caption OCR requests",
            "select id, video_id, caption_id, status from captionacc.claim_caption_ocr_requests(%s) "
            "order by video_id, caption_id",
            (int(limit),),
        )
        return [ocr_request_from_row(r) for r in rows]

    def finish_ocr_request(self, request_id: str, error: str | None = None) -> None:
        request_id = validate_uuid(request_id, "ocr request id")
        self._scalar(
            "finish_ocr_request",
            f"ocr request {request_id}",
            "select captionacc.finish_caption_ocr_request(%s, %s)",
            (request_id, error),
        )

    # ---- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresCatalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
