"""The catalog status of a video in the Dagster UI: each step logs it as an observation of its
asset's partition once the step has written it (done, or the error and its message), so a person
reads there what the web app shows the tenant, beside Dagster's own partition status."""

from __future__ import annotations

import pytest

from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets_tests.fixtures.runs import observed

pytestmark = pytest.mark.integration


def test_each_layout_step_shows_the_status_it_left(platform, rendered) -> None:
    video_id = platform.upload(rendered("short_bottom").path)
    result = platform.materialize([full_frames, layout_db], video_id)
    assert result.success
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "done"
    # layout_db's step ends the layout: what the catalog says once it has
    assert observed(platform.instance, "layout_db", video_id) == {"catalog_status": row.status_line()}
    assert observed(platform.instance, "layout_db", video_id)["catalog_status"].startswith("layout done")
    # full_frames's step left the layout going
    frames = observed(platform.instance, "full_frames", video_id)
    assert frames is not None and frames["catalog_status"].startswith("layout processing")


def test_a_refused_file_shows_the_error_and_its_message(platform, not_a_video) -> None:
    video_id = platform.upload(not_a_video)
    assert not platform.materialize([full_frames], video_id).success
    row = platform.catalog.get_video(video_id)
    seen = observed(platform.instance, "full_frames", video_id)
    assert seen is not None and seen["catalog_status"].startswith("layout error")
    assert seen["layout_error"] == row.layout_error_details["message"]
    assert "not a video file" in seen["layout_error"]
