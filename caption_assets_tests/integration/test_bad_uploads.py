"""Bad uploads through the real assets: what the tenant reads in the error details names their
file and carries no worker path; an image is not a video; tenant names have one spelling."""

from __future__ import annotations

import dagster as dg
import pytest
from PIL import Image

from caption_assets.app.platform import upload_video
from caption_assets.core.errors import BadInputError
from caption_assets.defs.assets.layout import full_frames

pytestmark = pytest.mark.integration


def _full_frames(platform, video_id):
    return dg.materialize(
        [full_frames],
        partition_key=video_id,
        instance=platform.instance,
        resources=platform.resources,
        raise_on_error=False,
    )


def test_not_a_video_error_details_carry_no_worker_path(platform, not_a_video) -> None:
    video_id = platform.upload(not_a_video)
    assert not _full_frames(platform, video_id).success
    details = platform.catalog.get_video(video_id).layout_error_details
    assert "not a video file" in details["message"]
    for field in ("message", "error"):
        assert "/" not in details[field].replace("video.mp4", ""), details[field]


def test_an_image_renamed_mp4_is_refused(platform, tmp_path) -> None:
    path = tmp_path / "photo.mp4"
    Image.new("RGB", (640, 360), (30, 30, 30)).save(path, format="PNG")
    video_id = platform.upload(path)
    assert not _full_frames(platform, video_id).success
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert "an image (PNG), not a video" in row.layout_error_details["message"]


def test_tenant_names_are_one_tenant_and_bad_names_bad_input(platform, not_a_video) -> None:
    ids = [platform.upload(not_a_video, tenant=name) for name in ("local", "local ", "LOCAL")]
    tenants = {platform.catalog.get_video(v).tenant_id for v in ids}
    assert len(tenants) == 1
    assert platform.catalog.get_tenant(tenants.pop()).name == "local"
    for name in ("acme\x00corp", "y" * 10_240):
        with pytest.raises(BadInputError) as err:
            upload_video(platform.catalog, platform.store, not_a_video, name)
        assert len(str(err.value)) < 200
    assert platform.catalog.get_tenant_by_name("acme\x00corp".replace("\x00", "")) is None
