"""``SupabaseCatalog``: the catalog over Supabase's REST API (PostgREST) with supabase-py.

Every state change is ``client.schema("captionacc").rpc(fn, params)`` on the same SQL functions the
Postgres adapter calls with ``select captionacc.fn(...)`` (deploy/supabase/migrations), with the
service-role key, so row-level security does not apply and the functions granted only to
``service_role`` can be called. Reads the Postgres adapter does with a plain select are table selects.

Errors: PostgREST forwards the SQLSTATE a function raised as ``code`` (CA001..CA005, 42501, ...),
which ``error_for_sqlstate`` maps exactly as for the Postgres adapter. Errors that carry no SQLSTATE
(PostgREST's own ``PGRST*`` codes, a gateway's 502/503/504, rate limiting) are judged by their HTTP
status. Transient failures are retried with the Postgres adapter's policy (``catalog_retrying``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx
from postgrest import SyncPostgrestClient
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client

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
from caption_assets.core.catalog.postgres import (
    LOCK_DATABASES,
    STATUS_COLUMNS,
    STATUSES,
    TIERS,
    error_for_sqlstate,
    validate_choice,
    validate_uuid,
    validate_uuids,
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
    timestamp,
    video_from_row,
    work_claim_from_row,
)

T = TypeVar("T")
_log = logging.getLogger(__name__)

SCHEMA = "captionacc"
# a database error code; PostgREST's own codes are PGRSTnnn and a body-less answer's code is the status
_SQLSTATE_RE = re.compile(r"^[0-9A-Z]{5}$")


class PostgrestHTTPError(Exception):
    """A PostgREST (or API gateway) answer with HTTP status >= 400, parsed from its body.

    supabase-py's ``APIError`` drops the HTTP status, which is what tells a gateway's 503 apart from
    a refused request when the body has no SQLSTATE; this keeps it.
    """

    def __init__(
        self, status: int, code: str | None, message: str, details: Any = None, hint: Any = None
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        super().__init__(f"HTTP {status}{' ' + code if code else ''}: {message}")


def raise_for_postgrest_status(response: httpx.Response) -> None:
    """httpx response hook on the PostgREST session: turn an error answer into
    ``PostgrestHTTPError`` before supabase-py parses it into an ``APIError``."""
    if response.status_code < 400:
        return
    response.read()
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("code" in body or "message" in body):
        code = body.get("code")
        raise PostgrestHTTPError(
            response.status_code,
            None if code is None else str(code),
            str(body.get("message") or response.reason_phrase),
            body.get("details"),
            body.get("hint"),
        )
    # a proxy's HTML page or an empty body: only the status and a bounded excerpt say anything
    excerpt = response.text.strip()[:200]
    message = response.reason_phrase + (f": {excerpt}" if excerpt else "")
    raise PostgrestHTTPError(response.status_code, None, message)


def _install_status_hook(session: httpx.Client) -> None:
    hooks = session.event_hooks
    if raise_for_postgrest_status not in hooks["response"]:
        hooks["response"] = [*hooks["response"], raise_for_postgrest_status]
        session.event_hooks = hooks


def error_for_response(status: int | None, code: str | None, message: str) -> errors.CaptionAssetsError:
    """Map one PostgREST error answer to the project's taxonomy. A SQLSTATE wins: it is what the SQL
    function raised, and both adapters map it the same way. Without one the HTTP status decides:
    429 and 5xx are transient (gateway, PostgREST's PGRST000..003 while the database is away)."""
    if code and _SQLSTATE_RE.fullmatch(code):
        return error_for_sqlstate(code, message)
    if status is None and code and code.isdigit():
        status = int(code)  # supabase-py's APIError for a body-less answer carries the status as code
    if status is not None and (status == 429 or status >= 500):
        return errors.CatalogUnavailableError(message)
    if status in (401, 403):
        return errors.PermanentError(f"permission denied: {message}")
    return errors.PermanentError(message)


def _error_of(exc: BaseException, message: str) -> errors.CaptionAssetsError | None:
    """The mapped error for a failure of one request, None when it is not a catalog answer."""
    if isinstance(exc, httpx.TransportError):  # connect/read/write errors and every timeout
        return errors.CatalogUnavailableError(message)
    if isinstance(exc, PostgrestHTTPError):
        return error_for_response(exc.status, exc.code, message)
    if isinstance(exc, APIError):  # the hook was bypassed (a 2xx we could not parse, say)
        return error_for_response(None, exc.code, message)
    return None


def is_transient(exc: BaseException) -> bool:
    """Retrying can help: the network, a timeout, the server's capacity or a concurrent transaction;
    never a constraint, a permission or one of our CA* refusals."""
    return isinstance(_error_of(exc, ""), errors.CatalogUnavailableError)


def _detail(exc: BaseException) -> str:
    if isinstance(exc, PostgrestHTTPError):
        if exc.code and _SQLSTATE_RE.fullmatch(exc.code):
            return exc.message
        return f"HTTP {exc.status}{' ' + exc.code if exc.code else ''}: {exc.message}"
    if isinstance(exc, APIError):
        return exc.message or str(exc.code)
    return f"{type(exc).__name__}: {exc}"


def _isoformat(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class SupabaseCatalog(Catalog):
    """The catalog on a Supabase project whose database has the ``captionacc`` migrations and
    whose API exposes the ``captionacc`` schema (Settings -> API -> Exposed schemas).

    Thread-safe: supabase-py's PostgREST client sends each request on one shared ``httpx.Client``.
    """

    def __init__(
        self,
        url: str,
        service_role_key: str,
        *,
        client: Client | None = None,
        max_attempts: int = 4,
        timeout: float = 30.0,
        retry_initial_wait: float = 0.1,
        retry_max_wait: float = 2.0,
    ) -> None:
        """``client``: a supabase-py client to use instead of building one from ``url`` and
        ``service_role_key`` (it must use the service-role key; its PostgREST session gets the
        error hook this adapter relies on). ``timeout``: seconds per HTTP request."""
        self._max_attempts = max_attempts
        self._retry_initial_wait = retry_initial_wait
        self._retry_max_wait = retry_max_wait
        self._http: httpx.Client | None = None
        if client is None:
            if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
                raise errors.BadInputError(f"Supabase URL must be an http(s) URL, got {url!r}")
            if not isinstance(service_role_key, str) or not service_role_key.strip():
                # the key itself is never put in a message
                raise errors.BadInputError("the Supabase service-role key is empty")
            self._http = httpx.Client(timeout=timeout, follow_redirects=True)
            client = create_client(
                url,
                service_role_key,
                ClientOptions(
                    schema=SCHEMA,
                    httpx_client=self._http,
                    # a service key has no session to refresh or keep
                    auto_refresh_token=False,
                    persist_session=False,
                    # tenacity below is the one retry policy
                    postgrest_client_retry=False,
                ),
            )
        self._client = client
        self._rest: SyncPostgrestClient = client.schema(SCHEMA)
        _install_status_hook(self._rest.session)

    # ---- plumbing ------------------------------------------------------------------------------

    def _run(self, op: str, subject: str, fn: Callable[[SyncPostgrestClient], T]) -> T:
        retrying = catalog_retrying(
            op,
            subject,
            is_transient=is_transient,
            logger=_log,
            max_attempts=self._max_attempts,
            initial_wait=self._retry_initial_wait,
            max_wait=self._retry_max_wait,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return fn(self._rest)
        except (httpx.TransportError, PostgrestHTTPError, APIError) as exc:
            detail = _detail(exc)
            if is_transient(exc):
                raise errors.CatalogUnavailableError(
                    f"catalog {op} for {subject} failed after {self._max_attempts} attempts: {detail}"
                ) from exc
            error = _error_of(exc, f"catalog {op} for {subject}: {detail}")
            assert error is not None
            raise error from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _rpc(self, op: str, subject: str, fn: str, params: Mapping[str, Any]) -> Any:
        # .retry(False): supabase-py would retry GETs itself, on top of tenacity
        return self._run(op, subject, lambda rest: rest.rpc(fn, dict(params)).retry(False).execute().data)

    def _select(
        self, op: str, subject: str, table: str, columns: tuple[str, ...], **eq: str
    ) -> list[dict[str, Any]]:
        def call(rest: SyncPostgrestClient) -> list[dict[str, Any]]:
            query = rest.table(table).select(",".join(columns))
            for column, value in eq.items():
                query = query.eq(column, value)
            return _rows(op, subject, query.retry(False).execute().data)

        return self._run(op, subject, call)

    # ---- tenants -------------------------------------------------------------------------------

    def ensure_tenant(self, name: str, tier: Tier = "free", auto_approve: bool = True) -> Tenant:
        if not isinstance(name, str) or not name.strip():
            raise errors.BadInputError(f"tenant name must be a non-empty string, got {name!r}")
        validate_choice(tier, TIERS, f"tier of tenant {name!r}")
        op, subject = "ensure_tenant", f"tenant {name!r}"
        row = self._rpc(
            op,
            subject,
            "ensure_tenant",
            {"p_name": name, "p_tier": tier, "p_auto_approve": bool(auto_approve)},
        )
        return tenant_from_row(_row(op, subject, row))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        tenant_id = validate_uuid(tenant_id, "tenant id")
        rows = self._select("get_tenant", f"tenant {tenant_id}", "tenants", TENANT_FIELDS, id=tenant_id)
        return tenant_from_row(rows[0]) if rows else None

    def get_tenant_by_name(self, name: str) -> Tenant | None:
        rows = self._select("get_tenant_by_name", f"tenant {name!r}", "tenants", TENANT_FIELDS, name=name)
        return tenant_from_row(rows[0]) if rows else None

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
        op, subject = "insert_video", f"video {video_id}"
        row = self._rpc(
            op,
            subject,
            "insert_video",
            {
                "p_tenant_id": tenant_id,
                "p_video_id": video_id,
                "p_storage_key": storage_key,
                "p_original_filename": original_filename,
                "p_size_bytes": size_bytes,
                "p_layout_status": layout_status,
            },
        )
        return video_from_row(_row(op, subject, row))

    def get_video(self, video_id: str) -> Video | None:
        video_id = validate_uuid(video_id, "video id")
        rows = self._select("get_video", f"video {video_id}", "videos", VIDEO_FIELDS, id=video_id)
        return video_from_row(rows[0]) if rows else None

    def pending_uploads(
        self, limit: int = 100, after: tuple[datetime, str] | None = None
    ) -> list[PendingUpload]:
        after_at, after_id = (None, None)
        if after is not None:
            after_at, after_id = after[0], validate_uuid(after[1], "pending_uploads cursor video id")
        op, subject = "pending_uploads", "pending uploads"
        rows = self._rpc(
            op,
            subject,
            "pending_uploads",
            {"p_limit": int(limit), "p_after_wait_since": _isoformat(after_at), "p_after_video_id": after_id},
        )
        return [pending_upload_from_row(r) for r in _rows(op, subject, rows)]

    def approved_layouts(self, since: datetime | None, limit: int = 100) -> list[ApprovedLayout]:
        op, subject = "approved_layouts", "approved layouts"
        rows = self._rpc(
            op, subject, "approved_layouts", {"p_since": _isoformat(since), "p_limit": int(limit)}
        )
        return [approved_layout_from_row(r) for r in _rows(op, subject, rows)]

    def claim_pending_uploads(
        self, limit: int = 100, video_ids: list[str] | None = None
    ) -> list[PendingUpload]:
        ids = validate_uuids(video_ids, "video id")
        op, subject = "claim_pending_uploads", "pending uploads"
        rows = self._rpc(op, subject, "claim_pending_uploads", {"p_limit": int(limit), "p_video_ids": ids})
        return [pending_upload_from_row(r) for r in _rows(op, subject, rows)]

    def claim_approved_layouts(
        self, limit: int = 100, video_ids: list[str] | None = None
    ) -> list[ApprovedLayout]:
        ids = validate_uuids(video_ids, "video id")
        op, subject = "claim_approved_layouts", "approved layouts"
        rows = self._rpc(op, subject, "claim_approved_layouts", {"p_limit": int(limit), "p_video_ids": ids})
        return [approved_layout_from_row(r) for r in _rows(op, subject, rows)]

    def unstarted_claims(self, claimed_before: datetime, limit: int = 1000) -> list[WorkClaim]:
        op, subject = "unstarted_claims", "run claims"
        rows = self._rpc(
            op,
            subject,
            "unstarted_claims",
            {"p_claimed_before": _isoformat(claimed_before), "p_limit": int(limit)},
        )
        return [work_claim_from_row(r) for r in _rows(op, subject, rows)]

    def release_claim(self, claim: WorkClaim) -> bool:
        video_id = validate_uuid(claim.video_id, "video id")
        op, subject = f"release {claim.work} claim", f"video {video_id}"
        released = self._rpc(
            op,
            subject,
            "release_claim",
            {"p_video_id": video_id, "p_work": claim.work, "p_claimed_at": _isoformat(claim.claimed_at)},
        )
        if not isinstance(released, bool):
            raise _unexpected(op, subject, released)
        return released

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
        self._rpc(
            f"set {column}={status}",
            f"video {video_id}",
            "set_video_status",
            {
                "p_video_id": video_id,
                "p_column": column,
                "p_status": status,
                "p_error_details": error_details,
            },
        )

    def begin_processing(self, video_id: str, column: StatusColumn) -> int:
        video_id = validate_uuid(video_id, "video id")
        validate_choice(column, STATUS_COLUMNS, f"status column of video {video_id}")
        op, subject = f"begin_processing {column}", f"video {video_id}"
        attempt = self._rpc(op, subject, "begin_processing", {"p_video_id": video_id, "p_column": column})
        if isinstance(attempt, bool) or not isinstance(attempt, int):
            raise _unexpected(op, subject, attempt)
        return attempt

    def record_metadata(self, video_id: str, metadata: VideoMetadata) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._rpc(
            "record_metadata",
            f"video {video_id}",
            "record_video_metadata",
            {
                "p_video_id": video_id,
                "p_duration_seconds": metadata.duration_seconds,
                "p_width": metadata.width,
                "p_height": metadata.height,
                "p_fps": metadata.fps,
                "p_total_frames": metadata.total_frames,
            },
        )

    def approve_layout(self, video_id: str, captions_run_id: str | None = None) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._rpc(
            "approve_layout",
            f"video {video_id}",
            "approve_layout",
            {"p_video_id": video_id, "p_captions_run_id": captions_run_id},
        )

    def set_cropped_frames_version(self, video_id: str, version: int) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._rpc(
            "set_cropped_frames_version",
            f"video {video_id}",
            "set_cropped_frames_version",
            {"p_video_id": video_id, "p_version": int(version)},
        )

    def mark_deleted(self, video_id: str) -> None:
        video_id = validate_uuid(video_id, "video id")
        self._rpc("mark_deleted", f"video {video_id}", "mark_video_deleted", {"p_video_id": video_id})

    def set_tenant_active(self, tenant_id: str, active: bool) -> None:
        tenant_id = validate_uuid(tenant_id, "tenant id")
        self._rpc(
            "set_tenant_active",
            f"tenant {tenant_id}",
            "set_tenant_active",
            {"p_tenant_id": tenant_id, "p_active": bool(active)},
        )

    def videos_in_processing(self, limit: int = 1000) -> list[ProcessingVideo]:
        op, subject = "videos_in_processing", "videos in processing"
        rows = self._rpc(op, subject, "videos_in_processing", {"p_limit": int(limit)})
        return [processing_video_from_row(r) for r in _rows(op, subject, rows)]

    def refused_videos(self, video_ids: list[str]) -> dict[str, str]:
        ids = [validate_uuid(v, "video id") for v in video_ids]
        if not ids:
            return {}
        op, subject = "refused_videos", f"{len(ids)} videos"
        rows = self._rpc(op, subject, "refused_videos", {"p_video_ids": ids})
        return refused_from_rows(_rows(op, subject, rows))

    # ---- retention -----------------------------------------------------------------------------

    def set_video_archived(self, video_id: str, archived: bool = True) -> datetime | None:
        video_id = validate_uuid(video_id, "video id")
        op, subject = "set_video_archived", f"video {video_id}"
        at = self._rpc(
            op, subject, "set_video_archived", {"p_video_id": video_id, "p_archived": bool(archived)}
        )
        if at is not None and not isinstance(at, str):
            raise _unexpected(op, subject, at)
        return timestamp(at)

    def videos_to_purge(
        self,
        deleted_before: datetime | None,
        archived_before: datetime | None = None,
        limit: int = 500,
        after: str | None = None,
    ) -> list[PurgeCandidate]:
        after_id = None if after is None else validate_uuid(after, "videos_to_purge cursor video id")
        op, subject = "videos_to_purge", "videos to purge"
        rows = self._rpc(
            op,
            subject,
            "videos_to_purge",
            {
                "p_deleted_before": _isoformat(deleted_before),
                "p_archived_before": _isoformat(archived_before),
                "p_limit": int(limit),
                "p_after_video_id": after_id,
            },
        )
        return [purge_candidate_from_row(r) for r in _rows(op, subject, rows)]

    def mark_videos_purged(self, video_ids: list[str]) -> list[str]:
        ids = [validate_uuid(v, "video id") for v in video_ids]
        if not ids:
            return []
        op, subject = "mark_videos_purged", f"{len(ids)} videos"
        rows = self._rpc(op, subject, "mark_videos_purged", {"p_video_ids": ids})
        return sorted_ids(_scalars(op, subject, rows))

    def delete_tenant(self, tenant_id: str) -> list[str]:
        tenant_id = validate_uuid(tenant_id, "tenant id")
        op, subject = "delete_tenant", f"tenant {tenant_id}"
        rows = self._rpc(op, subject, "delete_tenant", {"p_tenant_id": tenant_id})
        return sorted_ids(_scalars(op, subject, rows))

    # ---- locks ---------------------------------------------------------------------------------

    def _acquire(self, kind: str, video_id: str, database: str, holder: str, ttl_seconds: int) -> LockResult:
        video_id = validate_uuid(video_id, "video id")
        validate_choice(database, LOCK_DATABASES, f"lock database of video {video_id}")
        op, subject = f"acquire {kind} lock {database}", f"video {video_id}"

        params: dict[str, Any] = {
            "p_video_id": video_id,
            "p_database": database,
            "p_holder": holder,
            "p_ttl_seconds": int(ttl_seconds),
        }

        def call(rest: SyncPostgrestClient) -> LockResult:
            acquired = rest.rpc(f"acquire_{kind}_lock", params).retry(False).execute().data
            if not isinstance(acquired, bool):
                raise _unexpected(op, subject, acquired)
            # a loser reports who holds it; read right after, so it may already be free again
            state = _rows(
                op,
                subject,
                rest.table("video_database_state")
                .select(",".join(LOCK_STATE_FIELDS))
                .eq("video_id", video_id)
                .eq("database", database)
                .retry(False)
                .execute()
                .data,
            )
            return lock_result_from_state(acquired, state[0] if state else None)

        return self._run(op, subject, call)

    def _release(self, kind: str, video_id: str, database: str, holder: str) -> bool:
        video_id = validate_uuid(video_id, "video id")
        validate_choice(database, LOCK_DATABASES, f"lock database of video {video_id}")
        op, subject = f"release {kind} lock {database}", f"video {video_id}"
        released = self._rpc(
            op,
            subject,
            f"release_{kind}_lock",
            {"p_video_id": video_id, "p_database": database, "p_holder": holder},
        )
        if not isinstance(released, bool):
            raise _unexpected(op, subject, released)
        return released

    def clear_stale_locks(self) -> list[StaleLock]:
        op, subject = "clear_stale_locks", "all videos"
        rows = self._rpc(op, subject, "clear_stale_locks", {})
        return [stale_lock_from_row(r) for r in _rows(op, subject, rows)]

    # ---- caption OCR requests ------------------------------------------------------------------

    def request_caption_ocr(self, video_id: str, caption_id: int) -> str:
        """What the web app does after a person edited a caption's extents."""
        video_id = validate_uuid(video_id, "video id")
        op, subject = "request_caption_ocr", f"video {video_id}"
        request_id = self._rpc(
            op, subject, "request_caption_ocr", {"p_video_id": video_id, "p_caption_id": int(caption_id)}
        )
        if not isinstance(request_id, str):
            raise _unexpected(op, subject, request_id)
        return request_id

    def claim_ocr_requests(self, limit: int = 100) -> list[OcrRequest]:
        op, subject = "claim_ocr_requests", "caption OCR requests"
        rows = self._rpc(op, subject, "claim_caption_ocr_requests", {"p_limit": int(limit)})
        claimed = [ocr_request_from_row(r) for r in _rows(op, subject, rows)]
        # the Postgres adapter's order; lower-case UUID text sorts like the uuid type
        return sorted(claimed, key=lambda r: (r.video_id, r.caption_id))

    def finish_ocr_request(self, request_id: str, error: str | None = None) -> None:
        request_id = validate_uuid(request_id, "ocr request id")
        self._rpc(
            "finish_ocr_request",
            f"ocr request {request_id}",
            "finish_caption_ocr_request",
            {"p_request_id": request_id, "p_error": error},
        )

    # ---- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the HTTP connections this adapter opened (an injected client stays open)."""
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> SupabaseCatalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never the key
        return f"SupabaseCatalog({str(self._client.supabase_url)!r})"


def _unexpected(op: str, subject: str, data: Any) -> errors.PermanentError:
    return errors.PermanentError(f"catalog {op} for {subject}: unexpected answer {data!r:.200}")


def _row(op: str, subject: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _unexpected(op, subject, data)
    return data


def _scalars(op: str, subject: str, data: Any) -> list[str]:
    """A ``returns setof <scalar>`` function's answer: PostgREST sends a JSON array of values."""
    if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
        raise _unexpected(op, subject, data)
    return data


def _rows(op: str, subject: str, data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise _unexpected(op, subject, data)
    return data
