"""What happens to a video, one function per event. Every catalog status write and every server-lock
release of the orchestrator goes through here, so the whole state machine reads in one file; the SQL
functions behind the adapters still refuse transitions that are not allowed.

| event                    | layout_status                      | boundaries_status / text_status     |
|--------------------------|------------------------------------|-------------------------------------|
| upload claimed           | wait (claimed for its attempt)     |                                     |
| layout started           | -> processing (retry: attempt + 1) |                                     |
| layout finished          | -> error / done (auto) / annotate  |                                     |
| layout failed            | -> error                           |                                     |
| layout approved          | annotate -> done, approved_at set  |                                     |
| approval claimed         | (claimed for that approval)        |                                     |
| captions started         |                                    | -> processing (the step's column)   |
| captions finished        |                                    | -> done / review / error (both)     |
| captions failed          |                                    | -> error (the step's columns)       |
| run ended, not recorded  | processing, or wait of its attempt -> error, for the run's columns;  |
|                          | the run's locks released, its OCR requests failed                    |
| processing abandoned     | every column in processing -> error; the last run's locks released   |
| OCR request finished     | (request row only)                                                   |
| locks released / expired | (lock rows only: the holder's, or every expired one)                 |

No Dagster here: assets, sensors, maintenance and the CLI translate their context into these calls.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Literal

from caption_assets.core.catalog.base import (
    ApprovedLayout,
    Catalog,
    LockDatabase,
    PendingUpload,
    StaleLock,
    Status,
    StatusColumn,
    WorkClaim,
    error_details,
)

ALL_LOCKS: tuple[LockDatabase, ...] = ("layout", "captions")
CAPTIONS_COLUMNS: tuple[StatusColumn, ...] = ("boundaries_status", "text_status")
CaptionsOutcome = Literal["done", "review", "error"]


def _set_error(
    catalog: Catalog, video_id: str, columns: Sequence[StatusColumn], details: dict[str, Any]
) -> None:
    """Every column gets its error even when one write fails; the first failure is raised after."""
    first: Exception | None = None
    for column in columns:
        try:
            catalog.set_status(video_id, column, "error", details)
        except Exception as exc:  # the remaining columns must still be tried
            first = first or exc
    if first is not None:
        raise first


def release_locks(
    catalog: Catalog, video_id: str, holder: str, databases: Iterable[LockDatabase] = ALL_LOCKS
) -> None:
    """Free the locks ``holder`` holds; a lock someone else took over stays theirs."""
    for database in databases:
        catalog.release_server_lock(video_id, database, holder)


def expired_locks_cleared(catalog: Catalog) -> list[StaleLock]:
    """Locks past their expiry (a holder that died without releasing) are removed."""
    return catalog.clear_stale_locks()


# ---- claims ---------------------------------------------------------------------------------


def upload_claimed(catalog: Catalog, limit: int, video_ids: list[str] | None = None) -> list[PendingUpload]:
    """Claim the layout runs of waiting uploads, each (video, attempt) for exactly one caller
    (only those of ``video_ids`` when given: the upload webhook claims the row it was told about)."""
    return catalog.claim_pending_uploads(limit=limit, video_ids=video_ids)


def approval_claimed(catalog: Catalog, limit: int) -> list[ApprovedLayout]:
    """Claim the captions runs of approved layouts, each (video, approval) for exactly one caller."""
    return catalog.claim_approved_layouts(limit=limit)


def claim_lost(catalog: Catalog, claim: WorkClaim) -> bool:
    """The claimed run never came to exist: give the claim up so the next tick requests it again."""
    return catalog.release_claim(claim)


# ---- layout ---------------------------------------------------------------------------------


def layout_started(catalog: Catalog, video_id: str) -> int:
    """A layout step begins; returns the processing attempt (a retry increments it)."""
    return catalog.begin_processing(video_id, "layout_status")


def layout_finished(
    catalog: Catalog,
    video_id: str,
    *,
    blocking_failure: dict[str, Any] | None,
    auto_approve: bool,
    captions_run_id: str | None = None,
) -> Status:
    """layout.db is stored: a failed blocking check is an error, an auto-approving tenant's layout
    is approved at once (``captions_run_id``: the run goes on to the captions itself), any other
    waits for a person. Returns the new layout_status."""
    if blocking_failure is not None:
        catalog.set_status(video_id, "layout_status", "error", blocking_failure)
        return "error"
    if auto_approve:
        layout_approved(catalog, video_id, captions_run_id=captions_run_id)
        return "done"
    catalog.set_status(video_id, "layout_status", "annotate")
    return "annotate"


def layout_failed(catalog: Catalog, video_id: str, details: dict[str, Any]) -> None:
    catalog.set_status(video_id, "layout_status", "error", details)


def layout_approved(catalog: Catalog, video_id: str, captions_run_id: str | None = None) -> None:
    """A person (or auto-approval) accepts the layout; an approved layout keeps its approval."""
    catalog.approve_layout(video_id, captions_run_id=captions_run_id)


# ---- captions -------------------------------------------------------------------------------


def captions_started(catalog: Catalog, video_id: str, column: StatusColumn) -> int:
    """cropped_frames begins ``boundaries_status``, captions_db ``text_status``."""
    return catalog.begin_processing(video_id, column)


def captions_finished(
    catalog: Catalog,
    video_id: str,
    outcome: CaptionsOutcome,
    details: dict[str, Any] | None = None,
    ocr_request_ids: Iterable[str] = (),
) -> None:
    """captions.db is stored: both caption columns take the outcome of its checks, and the OCR
    requests the run answered are done."""
    if outcome == "error":
        if details is None:
            raise ValueError("an error outcome needs its details")
        _set_error(catalog, video_id, CAPTIONS_COLUMNS, details)
    else:
        for column in CAPTIONS_COLUMNS:
            catalog.set_status(video_id, column, outcome)
    for request_id in ocr_request_ids:
        ocr_request_finished(catalog, request_id)


def captions_failed(
    catalog: Catalog,
    video_id: str,
    details: dict[str, Any],
    columns: Sequence[StatusColumn] = CAPTIONS_COLUMNS,
) -> None:
    _set_error(catalog, video_id, columns, details)


# ---- runs that ended without recording their outcome ----------------------------------------


def run_ended(
    catalog: Catalog,
    video_id: str,
    run_id: str,
    columns: Sequence[StatusColumn],
    outcome: str,
    reason: str,
    requested_attempt: int | None = None,
    ocr_request_ids: Iterable[str] = (),
    started: Collection[StatusColumn] | None = None,
) -> list[StatusColumn]:
    """A run ended badly (crash, termination, interruption) without its steps recording it: its
    locks are freed, its columns still ``processing`` become ``error``, and so does a layout still
    ``wait`` for the attempt it was requested for (it died before its first step; a retry that
    started a newer attempt since keeps its wait). ``started``: the columns whose step began in
    this run (None: not known, all of ``columns``); a column whose step never started is not the
    run's to settle, even in ``processing`` (another run's work, or one maintenance repairs).
    Returns the columns changed."""
    release_locks(catalog, video_id, run_id)
    video = catalog.get_video(video_id)
    if video is None:
        return []
    details = error_details(
        message=f"run {run_id} {outcome}: {reason}. Retry by re-materializing the partition "
        "or setting the status back to 'wait'.",
        error=reason,
        run_id=run_id,
    )
    changed: list[StatusColumn] = []
    for column in columns:
        status = getattr(video, column)
        # the attempt counts layout attempts: captions columns of a run that never reached them
        # are not its to settle
        never_started = (
            column == "layout_status" and status == "wait" and requested_attempt == video.processing_attempt
        )
        began = started is None or column in started
        if (status == "processing" and began) or never_started:
            catalog.set_status(video_id, column, "error", details)
            changed.append(column)
    for request_id in ocr_request_ids:
        ocr_request_finished(catalog, request_id, error=f"run {run_id} {outcome}: {reason}")
    return changed


def processing_abandoned(
    catalog: Catalog, video_id: str, columns: Sequence[StatusColumn], last_run_id: str | None
) -> None:
    """No live run owns the video's ``processing`` columns: they become ``error`` and the last
    run's locks are freed."""
    details = error_details(
        message="no live run owns this video's work: its run ended without recording the "
        "outcome. Retry by setting the status back to 'wait' or re-materializing the partition.",
        error="stuck in processing",
        run_id=last_run_id,
    )
    for column in columns:
        catalog.set_status(video_id, column, "error", details)
    if last_run_id:
        release_locks(catalog, video_id, last_run_id)


# ---- caption OCR requests -------------------------------------------------------------------


def ocr_request_finished(catalog: Catalog, request_id: str, error: str | None = None) -> None:
    catalog.finish_ocr_request(request_id, error=error)
