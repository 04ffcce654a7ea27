"""The video lifecycle's transition table, driven only through ``caption_assets.core.catalog.lifecycle``
on a real catalog (embedded Postgres): each case starts from a fresh upload, applies events, and
checks the three status columns, the approval, locks and OCR requests that result."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import error_details
from caption_assets.core.catalog.postgres import PostgresCatalog

pytestmark = pytest.mark.unit

DETAILS = error_details("step failed: boom", "RuntimeError: boom", "run-1")
RUN = "run-1"

Event = Callable[[PostgresCatalog, str], Any]


def started(cat: PostgresCatalog, vid: str) -> None:
    lifecycle.layout_started(cat, vid)


def annotate(cat: PostgresCatalog, vid: str) -> None:
    lifecycle.layout_finished(cat, vid, blocking_failure=None, auto_approve=False)


def approved(cat: PostgresCatalog, vid: str) -> None:
    lifecycle.layout_finished(cat, vid, blocking_failure=None, auto_approve=True)


def boundaries(cat: PostgresCatalog, vid: str) -> None:
    lifecycle.captions_started(cat, vid, "boundaries_status")


def text(cat: PostgresCatalog, vid: str) -> None:
    lifecycle.captions_started(cat, vid, "text_status")


def finished(outcome: str) -> Event:
    def event(cat: PostgresCatalog, vid: str) -> None:
        lifecycle.captions_finished(cat, vid, outcome, DETAILS if outcome == "error" else None)  # type: ignore[arg-type]

    return event


def ended(columns: tuple[str, ...], attempt: int | None = None) -> Event:
    def event(cat: PostgresCatalog, vid: str) -> None:
        lifecycle.run_ended(cat, vid, RUN, columns, "failed", "boom", requested_attempt=attempt)  # type: ignore[arg-type]

    return event


CAPTIONS = ("boundaries_status", "text_status")
ALL = ("layout_status", *CAPTIONS)

# (case, events, (layout_status, boundaries_status, text_status), layout approved)
TABLE: list[tuple[str, list[Event], tuple[str | None, str | None, str | None], bool]] = [
    ("upload", [], ("wait", None, None), False),
    ("layout started", [started], ("processing", None, None), False),
    (
        "layout finished, blocking check failed",
        [started, lambda c, v: lifecycle.layout_finished(c, v, blocking_failure=DETAILS, auto_approve=True)],
        ("error", None, None),
        False,
    ),
    ("layout finished, auto-approved", [started, approved], ("done", None, None), True),
    ("layout finished, needs a person", [started, annotate], ("annotate", None, None), False),
    (
        "layout failed",
        [started, lambda c, v: lifecycle.layout_failed(c, v, DETAILS)],
        ("error", None, None),
        False,
    ),
    (
        "layout approved by a person",
        [started, annotate, lifecycle.layout_approved],
        ("done", None, None),
        True,
    ),
    (
        "retry after an error",
        [started, lambda c, v: lifecycle.layout_failed(c, v, DETAILS), started],
        ("processing", None, None),
        False,
    ),
    (
        "captions started (cropped_frames)",
        [started, approved, boundaries],
        ("done", "processing", None),
        True,
    ),
    (
        "captions started (captions_db)",
        [started, approved, boundaries, text],
        ("done", "processing", "processing"),
        True,
    ),
    (
        "captions finished",
        [started, approved, boundaries, text, finished("done")],
        ("done", "done", "done"),
        True,
    ),
    (
        "captions finished with warnings",
        [started, approved, boundaries, text, finished("review")],
        ("done", "review", "review"),
        True,
    ),
    (
        "captions finished, blocking check failed",
        [started, approved, boundaries, text, finished("error")],
        ("done", "error", "error"),
        True,
    ),
    (
        "captions failed in cropped_frames",
        [
            started,
            approved,
            boundaries,
            lambda c, v: lifecycle.captions_failed(c, v, DETAILS, columns=["boundaries_status"]),
        ],
        ("done", "error", None),
        True,
    ),
    (
        "captions failed in captions_db",
        [started, approved, boundaries, text, lambda c, v: lifecycle.captions_failed(c, v, DETAILS)],
        ("done", "error", "error"),
        True,
    ),
    ("run ended mid-layout", [started, ended(ALL)], ("error", None, None), False),
    ("run ended before its first step", [ended(("layout_status",), attempt=0)], ("error", None, None), False),
    # the attempt is the layout's: captions columns the run never reached stay unset
    ("video_job run ended before its first step", [ended(ALL, attempt=0)], ("error", None, None), False),
    ("run of an older attempt ended", [ended(("layout_status",), attempt=7)], ("wait", None, None), False),
    ("run ended after its work was recorded", [started, approved, ended(ALL)], ("done", None, None), True),
    (
        "run ended mid-captions",
        [started, approved, boundaries, ended(CAPTIONS)],
        ("done", "error", None),
        True,
    ),
    (
        "processing abandoned",
        [
            started,
            approved,
            boundaries,
            lambda c, v: lifecycle.processing_abandoned(c, v, ("boundaries_status",), RUN),
        ],
        ("done", "error", None),
        True,
    ),
]


def _upload(catalog: PostgresCatalog) -> str:
    tenant = catalog.ensure_tenant("acme")
    vid = str(uuid.uuid4())
    catalog.insert_video(tenant.id, vid, f"{tenant.id}/client/videos/{vid}/video.mp4")
    return vid


@pytest.mark.parametrize(("case", "events", "expected", "is_approved"), TABLE, ids=[t[0] for t in TABLE])
def test_transition_table(
    catalog: PostgresCatalog,
    case: str,
    events: list[Event],
    expected: tuple[str | None, str | None, str | None],
    is_approved: bool,
) -> None:
    vid = _upload(catalog)
    for event in events:
        event(catalog, vid)
    video = catalog.get_video(vid)
    assert video is not None
    assert (video.layout_status, video.boundaries_status, video.text_status) == expected, case
    assert (video.layout_approved_at is not None) == is_approved, case
    if "error" in expected:
        details = video.boundaries_error_details if expected[0] != "error" else video.layout_error_details
        assert details is not None and details["message"], case


def test_retry_counts_the_attempt(catalog: PostgresCatalog) -> None:
    vid = _upload(catalog)
    assert lifecycle.layout_started(catalog, vid) == 0
    lifecycle.layout_failed(catalog, vid, DETAILS)
    assert lifecycle.layout_started(catalog, vid) == 1


def test_claims_hand_each_piece_of_work_out_once(catalog: PostgresCatalog) -> None:
    vid = _upload(catalog)
    assert [p.video_id for p in lifecycle.upload_claimed(catalog, limit=10)] == [vid]
    assert lifecycle.upload_claimed(catalog, limit=10) == []
    # a claim whose run never came to exist is given up and handed out again
    (claim,) = catalog.unstarted_claims(claimed_before=datetime.now(UTC) + timedelta(minutes=1))
    assert lifecycle.claim_lost(catalog, claim)
    assert [p.video_id for p in lifecycle.upload_claimed(catalog, limit=10)] == [vid]

    started(catalog, vid)
    annotate(catalog, vid)
    assert lifecycle.approval_claimed(catalog, limit=10) == []
    lifecycle.layout_approved(catalog, vid)
    assert [a.video_id for a in lifecycle.approval_claimed(catalog, limit=10)] == [vid]
    assert lifecycle.approval_claimed(catalog, limit=10) == []


def test_a_run_that_goes_on_to_the_captions_claims_its_approval(catalog: PostgresCatalog) -> None:
    vid = _upload(catalog)
    started(catalog, vid)
    lifecycle.layout_finished(catalog, vid, blocking_failure=None, auto_approve=True, captions_run_id=RUN)
    assert lifecycle.approval_claimed(catalog, limit=10) == []


def _lock_free(catalog: PostgresCatalog, vid: str, database: str) -> bool:
    result = catalog.acquire_server_lock(vid, database, "someone-else", 30)  # type: ignore[arg-type]
    if result.acquired:
        catalog.release_server_lock(vid, database, "someone-else")  # type: ignore[arg-type]
    return result.acquired


@pytest.mark.parametrize(
    "event",
    [
        lambda c, v: lifecycle.release_locks(c, v, RUN),
        ended(ALL),
        lambda c, v: (boundaries(c, v), lifecycle.processing_abandoned(c, v, ("boundaries_status",), RUN)),
    ],
    ids=["released", "run ended", "processing abandoned"],
)
def test_events_that_free_the_runs_locks(catalog: PostgresCatalog, event: Event) -> None:
    vid = _upload(catalog)
    started(catalog, vid)
    approved(catalog, vid)
    for database in ("layout", "captions"):
        assert catalog.acquire_server_lock(vid, database, RUN, 600).acquired
    assert not _lock_free(catalog, vid, "layout")
    event(catalog, vid)
    assert _lock_free(catalog, vid, "layout") and _lock_free(catalog, vid, "captions")


def test_release_leaves_someone_elses_lock(catalog: PostgresCatalog) -> None:
    vid = _upload(catalog)
    assert catalog.acquire_server_lock(vid, "layout", "other-run", 600).acquired
    lifecycle.release_locks(catalog, vid, RUN)
    assert not _lock_free(catalog, vid, "layout")


def test_expired_locks_are_cleared(catalog: PostgresCatalog, catalog_dsn: str) -> None:
    vid = _upload(catalog)
    assert catalog.acquire_server_lock(vid, "layout", RUN, 600).acquired
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute(
            "update captionacc.video_database_state set acquired_at = now() - interval '2 minutes', "
            "expires_at = now() - interval '1 minute' where video_id = %s and lock_holder is not null",
            (vid,),
        )
    assert [lock.video_id for lock in lifecycle.expired_locks_cleared(catalog)] == [vid]
    assert _lock_free(catalog, vid, "layout")


def _ocr_status(dsn: str, request_id: str) -> tuple[str, str | None]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select status, error from captionacc.caption_ocr_requests where id = %s", (request_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_ocr_requests_finish_with_the_captions_or_with_the_run(
    catalog: PostgresCatalog, catalog_dsn: str
) -> None:
    vid = _upload(catalog)
    for event in (started, approved, boundaries, text):
        event(catalog, vid)
    answered, lost, refused = (catalog.request_caption_ocr(vid, n) for n in (1, 2, 3))
    catalog.claim_ocr_requests()
    lifecycle.captions_finished(catalog, vid, "done", ocr_request_ids=[answered])
    lifecycle.run_ended(catalog, vid, RUN, CAPTIONS, "failed", "boom", ocr_request_ids=[lost])  # type: ignore[arg-type]
    lifecycle.ocr_request_finished(catalog, refused, error="refused: video deleted")
    assert _ocr_status(catalog_dsn, answered) == ("completed", None)
    assert _ocr_status(catalog_dsn, lost) == ("error", "run run-1 failed: boom")
    assert _ocr_status(catalog_dsn, refused) == ("error", "refused: video deleted")
