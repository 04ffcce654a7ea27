"""The four assets on real parts: embedded Postgres catalog, local store, in-process compute."""

from __future__ import annotations

import dagster as dg
import pytest

from caption_assets.core.keys import VideoKeys
from caption_assets.core.processing.captions_db import read_captions
from caption_assets.defs.assets.captions import captions_db, cropped_frames
from caption_assets.defs.assets.layout import full_frames, layout_db

pytestmark = pytest.mark.integration

LAYOUT = [full_frames, layout_db]
CAPTIONS = [cropped_frames, captions_db]


def _check_results(result) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.mark.slow
def test_upload_to_captions_matches_ground_truth(platform, rendered, tmp_path) -> None:
    video = rendered("short_bottom")
    video_id = platform.upload(video.path, tenant="acme", tier="premium")

    layout = platform.materialize(LAYOUT, video_id)
    assert layout.success
    row = platform.catalog.get_video(video_id)
    # the tenant auto-approves (the CLI's default), so the layout is done and approved
    assert row.layout_status == "done" and row.layout_approved_at is not None
    assert (row.width, row.height) == (video.truth.width, video.truth.height)
    assert row.total_frames == video.truth.frame_count
    assert _check_results(layout)["layout_has_caption_region"] is True

    captions = platform.materialize(CAPTIONS, video_id)
    assert captions.success
    row = platform.catalog.get_video(video_id)
    assert (row.boundaries_status, row.text_status) == ("done", "done")
    assert row.current_cropped_frames_version == 1
    assert _check_results(captions)["captions_db_valid"] is True

    keys = VideoKeys(row.tenant_id, video_id)
    chunks = list(platform.store.list(keys.cropped_frames_prefix(1)))
    assert chunks and all(k.endswith(".webm") for k in chunks)
    db = platform.store.get_gunzip_file(keys.captions_db(), tmp_path / "captions.db")
    got = read_captions(db)
    assert [c.text for c in got] == [c.text for c in video.truth.captions]
    srt = platform.store.get_bytes(keys.captions_srt()).decode()
    assert video.truth.captions[0].text in srt
    # nothing was written outside the tenant's prefix
    assert all(
        p.relative_to(platform.artifacts).parts[0] == row.tenant_id
        for p in platform.artifacts.rglob("*")
        if p.is_file()
    )


def test_not_a_video_ends_in_error_with_details(platform, not_a_video) -> None:
    video_id = platform.upload(not_a_video)
    result = platform.materialize(LAYOUT, video_id)
    assert not result.success
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    details = row.layout_error_details
    assert details["run_id"] == result.run_id
    assert "full_frames" in details["message"]
    assert "video" in details["message"].lower()
    # permanent: the RetryPolicy must not have retried it
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries == []


def test_deleted_video_is_refused(platform, rendered) -> None:
    video_id = platform.upload(rendered("short_bottom").path)
    platform.catalog.mark_deleted(video_id)
    result = platform.materialize(LAYOUT, video_id)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "deleted" in failure.event_specific_data.error.message


def test_captions_refused_before_layout_approval(platform, rendered) -> None:
    video_id = platform.upload(rendered("short_bottom").path)
    result = platform.materialize(CAPTIONS, video_id, selection=[cropped_frames])
    assert not result.success
    row = platform.catalog.get_video(video_id)
    assert row.boundaries_status == "error"
    assert "not approved" in row.boundaries_error_details["message"]


@pytest.mark.slow
def test_second_captions_run_leaves_only_the_newest_cropped_frames(platform, rendered) -> None:
    video_id = platform.upload(rendered("short_bottom").path, tenant="acme", tier="premium")
    assert platform.materialize(LAYOUT, video_id).success
    assert platform.materialize(CAPTIONS, video_id).success
    second = platform.materialize(CAPTIONS, video_id)
    assert second.success
    row = platform.catalog.get_video(video_id)
    assert row.current_cropped_frames_version == 2
    keys = VideoKeys(row.tenant_id, video_id)
    versions = {
        k[len(keys.client_prefix()) :].split("/")[0]
        for k in platform.store.list(keys.client_prefix() + "cropped_frames_v")
    }
    assert versions == {"cropped_frames_v2"}
    assert list(platform.store.list(keys.captions_db())) == [keys.captions_db()]


@pytest.mark.slow
def test_the_band_scan_decode_is_held_to_the_tier_limits(platform, rendered) -> None:
    # full_frames admitted the video on what the container said (its seeks decode a few frames);
    # the scan decodes every frame and is held to the tier's duration as well
    video_id = platform.upload(rendered("short_bottom").path, tenant="acme", tier="free")
    assert platform.materialize(LAYOUT, video_id).success
    limits = {
        "free": {"max_duration_seconds": 2, "max_size_bytes": 10**9, "max_width": 7680, "max_height": 7680}
    }
    result = dg.materialize(
        CAPTIONS,
        partition_key=video_id,
        instance=platform.instance,
        resources=platform.with_settings(tier_limits=limits),
        raise_on_error=False,
        selection=[cropped_frames],
    )
    assert not result.success
    row = platform.catalog.get_video(video_id)
    assert row.boundaries_status == "error"
    assert "free limit" in row.boundaries_error_details["message"]
    assert row.current_cropped_frames_version == 0
