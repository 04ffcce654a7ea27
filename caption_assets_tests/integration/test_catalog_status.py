"""Status transitions, retries, error details, approval, sensors' queries and OCR requests, all
enforced by the SQL functions and run on a real Postgres."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from caption_assets.core.catalog.base import VideoMetadata, error_details
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.errors import (
    BadInputError,
    NotFoundError,
    PermanentError,
    StatusTransitionError,
    TenantNotFoundError,
)

pytestmark = pytest.mark.integration

STATUSES = ["wait", "processing", "annotate", "done", "review", "error"]
ALLOWED = {
    ("wait", "processing"),
    ("wait", "error"),
    ("processing", "annotate"),
    ("processing", "done"),
    ("processing", "review"),
    ("processing", "error"),
    ("annotate", "done"),
    ("review", "done"),
    ("error", "wait"),
    ("done", "wait"),
    ("annotate", "wait"),
    ("review", "wait"),
} | {(s, s) for s in STATUSES}


def new_video(catalog: PostgresCatalog, tenant: str = "acme", **kwargs: object) -> str:
    t = catalog.ensure_tenant(tenant)
    vid = str(uuid.uuid4())
    catalog.insert_video(t.id, vid, f"{t.id}/client/videos/{vid}/video.mp4", **kwargs)  # type: ignore[arg-type]
    return vid


def force_status(dsn: str, video_id: str, column: str, status: str) -> None:
    """Put a row into a state directly, bypassing the transition trigger (test setup only)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")  # triggers off for this session
        conn.execute(f"update captionacc.videos set {column} = %s where id = %s", (status, video_id))


@pytest.mark.parametrize("old", STATUSES)
@pytest.mark.parametrize("new", STATUSES)
def test_transition_table(catalog: PostgresCatalog, catalog_dsn: str, old: str, new: str) -> None:
    vid = new_video(catalog)
    force_status(catalog_dsn, vid, "layout_status", old)
    if (old, new) in ALLOWED:
        catalog.set_status(
            vid, "layout_status", new, error_details("m", "e", "r") if new == "error" else None
        )
        assert catalog.get_video(vid).layout_status == new  # type: ignore[union-attr]
    else:
        with pytest.raises(StatusTransitionError) as info:
            catalog.set_status(vid, "layout_status", new)
        assert vid in str(info.value) and f"from {old} to {new}" in str(info.value)
        assert catalog.get_video(vid).layout_status == old  # type: ignore[union-attr]


def test_direct_update_cannot_bypass_the_rules(catalog: PostgresCatalog, catalog_dsn: str) -> None:
    vid = new_video(catalog)
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.Error, match="cannot go from wait to done"):
            conn.execute("update captionacc.videos set layout_status = 'done' where id = %s", (vid,))


def test_captions_columns_start_null_and_behave_as_wait(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    assert catalog.get_video(vid).boundaries_status is None  # type: ignore[union-attr]
    assert catalog.begin_processing(vid, "boundaries_status") == 0
    catalog.set_status(vid, "boundaries_status", "done")
    # a captions failure before text processing began: null -> error is allowed
    catalog.set_status(vid, "text_status", "error", error_details("no text", "X", "run-1"))
    with pytest.raises(StatusTransitionError):
        catalog.set_status(vid, "boundaries_status", "processing")


def test_retry_increments_attempt_and_begin_processing_is_idempotent(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    assert catalog.begin_processing(vid, "layout_status") == 0
    assert catalog.begin_processing(vid, "layout_status") == 0  # re-executed step: no-op
    catalog.set_status(
        vid, "layout_status", "error", error_details("decode failed", "BadVideoError", "run-1")
    )
    assert catalog.begin_processing(vid, "layout_status") == 1  # retry from error
    v = catalog.get_video(vid)
    assert v is not None and v.layout_status == "processing" and v.layout_error_details is None
    catalog.set_status(vid, "layout_status", "done")
    catalog.set_status(vid, "layout_status", "wait")  # reprocess from the web app
    assert catalog.get_video(vid).processing_attempt == 2  # type: ignore[union-attr]
    assert catalog.begin_processing(vid, "layout_status") == 2


def test_error_details_stored_as_json(catalog: PostgresCatalog, catalog_dsn: str) -> None:
    vid = new_video(catalog)
    catalog.begin_processing(vid, "layout_status")
    details = error_details(
        "video too long for tier free", "AdmissionError: 7200 s > 600 s", "run-42", limit="duration"
    )
    catalog.set_status(vid, "layout_status", "error", details)
    assert catalog.get_video(vid).layout_error_details == details  # type: ignore[union-attr]
    with psycopg.connect(catalog_dsn) as conn:
        row = conn.execute(
            "select jsonb_typeof(layout_error_details), layout_error_details->>'run_id' "
            "from captionacc.videos where id = %s",
            (vid,),
        ).fetchone()
    assert row == ("object", "run-42")


def test_error_without_details_gets_a_readable_default(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    catalog.set_status(vid, "layout_status", "error")
    assert catalog.get_video(vid).layout_error_details == {  # type: ignore[union-attr]
        "message": "layout_status set to error",
        "error": None,
        "run_id": None,
    }
    with pytest.raises(BadInputError, match=vid):
        catalog.set_status(vid, "layout_status", "error", {"error": "no message"})


def test_approve_layout(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    with pytest.raises(StatusTransitionError):
        catalog.approve_layout(vid)  # still wait
    catalog.begin_processing(vid, "layout_status")
    catalog.set_status(vid, "layout_status", "annotate")
    before = datetime.now(UTC) - timedelta(seconds=5)
    catalog.approve_layout(vid)
    v = catalog.get_video(vid)
    assert v is not None and v.layout_status == "done" and v.layout_approved_at is not None
    approved = catalog.approved_layouts(before)
    assert [a.video_id for a in approved] == [vid]
    assert catalog.approved_layouts(v.layout_approved_at) == []


def test_auto_approve_from_processing(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    catalog.begin_processing(vid, "layout_status")
    catalog.approve_layout(vid)
    assert catalog.get_video(vid).layout_status == "done"  # type: ignore[union-attr]


def test_pending_uploads_order_filters_and_cursor(catalog: PostgresCatalog, catalog_dsn: str) -> None:
    first, second, third = new_video(catalog), new_video(catalog, "beta"), new_video(catalog)
    deleted = new_video(catalog)
    catalog.mark_deleted(deleted)
    inactive_tenant = new_video(catalog, "dormant")
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute("update captionacc.tenants set active = false where name = 'dormant'")
    started = new_video(catalog)
    catalog.begin_processing(started, "layout_status")

    pending = catalog.pending_uploads(limit=10)
    assert [p.video_id for p in pending] == [first, second, third]
    assert pending[1].tier == "free" and pending[0].processing_attempt == 0
    page = catalog.pending_uploads(limit=2)
    rest = catalog.pending_uploads(limit=10, after=(page[-1].wait_since, page[-1].video_id))
    assert [p.video_id for p in page + rest] == [first, second, third]
    assert inactive_tenant not in {p.video_id for p in pending}

    # a retry puts an old video after the cursor again
    catalog.set_status(started, "layout_status", "error", error_details("x", "y", "r"))
    catalog.set_status(started, "layout_status", "wait")
    again = catalog.pending_uploads(limit=10, after=(pending[-1].wait_since, pending[-1].video_id))
    assert [(p.video_id, p.processing_attempt) for p in again] == [(started, 1)]


def test_deleted_video_and_inactive_tenant_get_no_new_work(
    catalog: PostgresCatalog, catalog_dsn: str
) -> None:
    vid = new_video(catalog)
    catalog.mark_deleted(vid)
    with pytest.raises(PermanentError, match=f"{vid}.*deleted"):
        catalog.begin_processing(vid, "layout_status")
    with pytest.raises(PermanentError, match="deleted"):
        catalog.approve_layout(vid)
    other = new_video(catalog, "sleepy")
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute("update captionacc.tenants set active = false where name = 'sleepy'")
    with pytest.raises(PermanentError, match="not active"):
        catalog.begin_processing(other, "layout_status")
    tenant = catalog.get_tenant_by_name("sleepy")
    assert tenant is not None and not tenant.active
    with pytest.raises(PermanentError, match="not active"):
        catalog.insert_video(tenant.id, str(uuid.uuid4()), f"{tenant.id}/client/videos/x/video.mp4")


def test_tenants(catalog: PostgresCatalog) -> None:
    a = catalog.ensure_tenant("acme", "enterprise", auto_approve=False)
    again = catalog.ensure_tenant("acme", "free")
    assert again == a and a.tier == "enterprise" and not a.auto_approve and a.active
    assert catalog.get_tenant(a.id) == a and catalog.tenant_exists(a.id)
    assert catalog.get_tenant(str(uuid.uuid4())) is None
    assert catalog.get_tenant_by_name("nobody") is None
    with pytest.raises(BadInputError):
        catalog.ensure_tenant("x", "platinum")  # type: ignore[arg-type]


def test_concurrent_ensure_tenant_returns_one_row(catalog: PostgresCatalog) -> None:
    with ThreadPoolExecutor(8) as pool:
        tenants = list(pool.map(lambda _: catalog.ensure_tenant("race"), range(8)))
    assert len({t.id for t in tenants}) == 1


def test_insert_video_is_idempotent_and_checks_its_inputs(catalog: PostgresCatalog) -> None:
    t = catalog.ensure_tenant("acme")
    vid = str(uuid.uuid4())
    key = f"{t.id}/client/videos/{vid}/video.mp4"
    v1 = catalog.insert_video(t.id, vid, key, "clip.mp4", 1234)
    assert catalog.insert_video(t.id, vid, key, "clip.mp4", 1234) == v1  # a retried insert
    with pytest.raises(BadInputError, match=vid):
        catalog.insert_video(t.id, vid, f"{t.id}/client/videos/{vid}/other.mp4")
    other = catalog.ensure_tenant("other")
    vid2 = str(uuid.uuid4())
    with pytest.raises(BadInputError, match=vid2):  # key outside the tenant's prefix
        catalog.insert_video(t.id, vid2, f"{other.id}/client/videos/{vid2}/video.mp4")
    with pytest.raises(TenantNotFoundError, match=vid2):
        catalog.insert_video(str(uuid.uuid4()), vid2, "x/video.mp4")
    processing = catalog.insert_video(t.id, str(uuid.uuid4()), f"{t.id}/k", layout_status="processing")
    assert processing.layout_status == "processing"


def test_metadata_and_cropped_frames_version(catalog: PostgresCatalog) -> None:
    vid = new_video(catalog)
    catalog.record_metadata(vid, VideoMetadata(5.0, 1280, 720, 30.0, 150))
    catalog.set_cropped_frames_version(vid, 1)
    catalog.set_cropped_frames_version(vid, 1)
    v = catalog.get_video(vid)
    assert v is not None and (v.duration_seconds, v.width, v.height, v.fps, v.total_frames) == (
        5.0,
        1280,
        720,
        30.0,
        150,
    )
    assert v.current_cropped_frames_version == 1
    with pytest.raises(BadInputError, match=vid):
        catalog.set_cropped_frames_version(vid, 0)
    with pytest.raises(BadInputError, match=vid):
        catalog.record_metadata(vid, VideoMetadata(5.0, -1, 720, 30.0, 150))
    missing = str(uuid.uuid4())
    with pytest.raises(NotFoundError, match=missing):
        catalog.record_metadata(missing, VideoMetadata(5.0, 1, 1, 1.0, 1))


def test_unknown_video(catalog: PostgresCatalog) -> None:
    missing = str(uuid.uuid4())
    assert catalog.get_video(missing) is None
    with pytest.raises(NotFoundError, match=missing):
        catalog.set_status(missing, "layout_status", "processing")
    with pytest.raises(NotFoundError, match=missing):
        catalog.begin_processing(missing, "layout_status")


def test_ocr_requests_claimed_once_under_concurrency(catalog: PostgresCatalog, catalog_dsn: str) -> None:
    vid = new_video(catalog)
    ids = {catalog.request_caption_ocr(vid, c) for c in range(40)}
    assert catalog.request_caption_ocr(vid, 0) in ids  # a queued duplicate is not added
    barrier = threading.Barrier(4)

    def claim(_: int) -> list[str]:
        barrier.wait()
        got: list[str] = []
        while batch := catalog.claim_ocr_requests(limit=3):
            got += [r.id for r in batch]
        return got

    with ThreadPoolExecutor(4) as pool:
        claimed = [i for batch in pool.map(claim, range(4)) for i in batch]
    assert sorted(claimed) == sorted(ids)  # every request exactly once

    def outcome(request_id: str) -> tuple[str, str | None, datetime | None]:
        with psycopg.connect(catalog_dsn) as conn:
            return conn.execute(
                "select status, error, completed_at from captionacc.caption_ocr_requests where id = %s",
                (request_id,),
            ).fetchone()

    first, *rest = sorted(ids)
    catalog.finish_ocr_request(first)
    catalog.finish_ocr_request(rest[0], error="run r1 failed: OCR model missing")
    done = outcome(first)
    assert done[:2] == ("completed", None) and done[2] is not None
    assert outcome(rest[0])[:2] == ("error", "run r1 failed: OCR model missing")
    catalog.finish_ocr_request(first, error="late failure report")
    assert outcome(first) == done  # finished stays finished: the late report changes nothing
    catalog.finish_ocr_request(rest[0])
    assert outcome(rest[0])[:2] == ("error", "run r1 failed: OCR model missing")
    with pytest.raises(NotFoundError):
        catalog.finish_ocr_request(str(uuid.uuid4()))


def test_ocr_requests_of_deleted_videos_are_claimed_for_refusal(catalog: PostgresCatalog) -> None:
    # claimed like any other, so the orchestrator can end them 'error' with the reason instead of
    # leaving them queued forever (the sensor refuses them: test_ocr_requests.py)
    vid = new_video(catalog)
    request_id = catalog.request_caption_ocr(vid, 1)
    catalog.mark_deleted(vid)
    assert [r.id for r in catalog.claim_ocr_requests()] == [request_id]
    assert catalog.refused_videos([vid]) == {vid: "video deleted"}
    assert catalog.claim_ocr_requests() == []
