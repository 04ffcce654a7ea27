"""Hosted-tier limits hold for uploaded tenant videos and not for a person's own file processed
on their own machine (`caption-assets process`)."""

from __future__ import annotations

import dagster as dg
import pytest

from caption_assets.core.policy.admission import on_own_machine
from caption_assets.defs.assets.layout import full_frames

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# far below the generated video (tiny limits keep the test short, the rule is the same as 4K/free)
TINY_FREE = {"free": {"max_duration_seconds": 1, "max_size_bytes": 1024, "max_width": 64, "max_height": 64}}


def _full_frames(platform, video_id, tier_limits):
    return dg.materialize(
        [full_frames],
        partition_key=video_id,
        instance=platform.instance,
        resources=platform.with_settings(tier_limits=tier_limits),
        raise_on_error=False,
    )


def test_uploaded_video_is_refused_but_own_machine_is_not(platform, rendered) -> None:
    video = rendered("short_bottom")
    uploaded = platform.upload(video.path, tenant="acme", tier="free")
    assert not _full_frames(platform, uploaded, TINY_FREE).success
    row = platform.catalog.get_video(uploaded)
    assert row.layout_status == "error"
    assert "exceeds the free limit" in row.layout_error_details["message"]

    local = platform.upload(video.path, tenant="local", tier="free")
    with on_own_machine():
        assert _full_frames(platform, local, TINY_FREE).success
    assert platform.catalog.get_video(local).layout_status == "processing"  # layout_db comes next


def test_size_limit_holds_on_the_stored_file_not_the_declared_size(platform, rendered, catalog_dsn) -> None:
    """The uploader declares 1 byte; the stored object is what counts."""
    import psycopg

    video = rendered("short_bottom")
    roomy = {
        "free": {"max_duration_seconds": 3600, "max_size_bytes": 1024, "max_width": 4096, "max_height": 4096}
    }
    uploaded = platform.upload(video.path, tenant="acme", tier="free")
    with psycopg.connect(catalog_dsn, autocommit=True) as db:
        db.execute("update captionacc.videos set size_bytes = 1 where id = %s", (uploaded,))
    assert not _full_frames(platform, uploaded, roomy).success
    message = platform.catalog.get_video(uploaded).layout_error_details["message"]
    assert "file size" in message and "exceeds the free limit of 1 KiB" in message
