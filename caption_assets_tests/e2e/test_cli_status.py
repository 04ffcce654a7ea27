"""``caption-assets status VIDEO``: the catalog status of one video in a few readable lines."""

import uuid

import pytest

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import error_details
from caption_assets_tests.e2e.test_cli import _cli, cli_env  # noqa: F401 - the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_status_shows_file_tenant_statuses_and_error(cli_env, rendered, catalog) -> None:
    path = rendered("short_bottom").path
    up = _cli(cli_env, "upload", str(path), "--tenant", "acme", "--tier", "premium")
    assert up.returncode == 0, up.stderr[-2000:]
    video_id = up.stdout.strip()

    done = _cli(cli_env, "status", video_id)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert 4 <= len(lines) <= 6, done.stdout
    assert lines[0] == f"video   {video_id}"
    assert lines[1].startswith(f"file    {path.name} (")
    assert lines[2] == "tenant  acme (premium)"
    assert lines[3] == "status  layout wait, boundaries -, text -"
    assert "error" not in done.stdout

    lifecycle.layout_started(catalog, video_id)
    message = f"full_frames failed: {path.name}: not a video file"
    lifecycle.layout_failed(
        catalog,
        video_id,
        error_details(
            message=message, error="BadVideoError", run_id="r1", step="full_frames", retryable=False
        ),
    )
    failed = _cli(cli_env, "status", video_id)
    assert failed.returncode == 0, failed.stderr[-2000:]
    assert "status  layout error," in failed.stdout
    assert f"error   layout: {message}" in failed.stdout.splitlines()


@pytest.mark.parametrize("video", ["not-a-uuid", str(uuid.uuid4())])
def test_status_of_a_bad_or_unknown_id_is_one_line(cli_env, video) -> None:
    done = _cli(cli_env, "status", video)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert ("not a UUID" if video == "not-a-uuid" else "not in the catalog") in lines[0]
    assert done.stdout == ""
