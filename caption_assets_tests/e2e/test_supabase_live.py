"""Opt-in: the Supabase adapter against a real Supabase project.

Runs only with ``CAPTION_ASSETS_SUPABASE_E2E=1`` and ``SUPABASE_URL`` / ``SUPABASE_SERVICE_ROLE_KEY``
set, on a project that has the ``captionacc`` migrations applied and the schema exposed in its API
settings. It writes one tenant (``caption-assets-e2e``, reused) and one soft-deleted video per run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from caption_assets.core import errors
from caption_assets.core.catalog.supabase import SupabaseCatalog

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def live() -> Iterator[SupabaseCatalog]:
    url = os.environ.get("SUPABASE_URL")
    key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY")
    if os.environ.get("CAPTION_ASSETS_SUPABASE_E2E") != "1" or not url or not key:
        pytest.skip(
            "live Supabase test is opt-in: set CAPTION_ASSETS_SUPABASE_E2E=1, SUPABASE_URL and "
            "SUPABASE_SERVICE_ROLE_KEY for a project with the captionacc migrations"
        )
    catalog = SupabaseCatalog(url, key)
    try:
        yield catalog
    finally:
        catalog.close()


def test_video_lifecycle_and_locks_on_a_real_project(live: SupabaseCatalog) -> None:
    tenant = live.ensure_tenant("caption-assets-e2e", tier="free", auto_approve=True)
    assert live.get_tenant(tenant.id) == tenant
    vid = str(uuid.uuid4())
    video = live.insert_video(tenant.id, vid, f"{tenant.id}/client/videos/{vid}/video.mp4", "e2e.mp4", 1)
    try:
        assert video.layout_status == "wait" and live.get_video(vid) == video
        assert vid in {p.video_id for p in live.pending_uploads(limit=10_000)}

        assert live.begin_processing(vid, "layout_status") == 0
        with pytest.raises(errors.StatusTransitionError, match=vid):
            live.set_status(vid, "layout_status", "wait")  # processing -> wait is refused (CA001)

        won = live.acquire_server_lock(vid, "layout", "e2e-a", 60)
        lost = live.acquire_server_lock(vid, "layout", "e2e-b", 60)
        assert won.acquired and not lost.acquired and lost.holder == "e2e-a"
        with pytest.raises(errors.LockHeldError, match="held by e2e-a"):
            live.require_server_lock(vid, "layout", "e2e-b", 60)
        assert not live.release_server_lock(vid, "layout", "e2e-b")
        assert live.release_server_lock(vid, "layout", "e2e-a")

        live.set_status(vid, "layout_status", "error", {"message": "e2e", "error": "E2E", "run_id": None})
        assert live.get_video(vid).layout_error_details == {"message": "e2e", "error": "E2E", "run_id": None}  # type: ignore[union-attr]
    finally:
        live.mark_deleted(vid)
    assert live.get_video(vid).deleted_at is not None  # type: ignore[union-attr]
