"""``build_definitions(settings)`` is the one configuration path: settings handed to it, not the
environment, decide what the sensors and assets of those Definitions do."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg
import pytest

from caption_assets.core.config import Settings
from caption_assets.core.policy.admission import TierLimits
from caption_assets.defs.definitions import build_definitions

pytestmark = pytest.mark.integration


def _settings(catalog_dsn: str, tmp_path: Path, **policy: object) -> Settings:
    # the platform fixture's catalog database and artifact directory (tmp_path/artifacts)
    return Settings(database_url=catalog_dsn, data_dir=tmp_path, **policy)  # type: ignore[arg-type]


def test_sensor_batch_size_comes_from_the_settings_given(
    platform, catalog_dsn: str, tmp_path: Path, not_a_video: Path
) -> None:
    for _ in range(3):
        platform.upload(not_a_video)
    defs = build_definitions(_settings(catalog_dsn, tmp_path, sensor_batch_size=2))
    sensor = defs.resolve_sensor_def("new_uploads")
    result = sensor(dg.build_sensor_context(instance=platform.instance, resources=defs.resources))
    assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 2


def test_priority_policy_comes_from_the_settings_given(
    platform, catalog_dsn: str, tmp_path: Path, not_a_video: Path
) -> None:
    platform.upload(not_a_video, tier="free")
    defs = build_definitions(_settings(catalog_dsn, tmp_path, priority_aging=False))
    # an upload older than the starvation guard: with aging off it keeps its tier's base
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute("update captionacc.videos set uploaded_at = now() - interval '7 hours'")
    sensor = defs.resolve_sensor_def("new_uploads")
    result = sensor(dg.build_sensor_context(instance=platform.instance, resources=defs.resources))
    (request,) = result.run_requests
    assert request.tags["dagster/priority"] == "50"


def test_tier_limits_come_from_the_settings_given(
    platform, catalog_dsn: str, tmp_path: Path, not_a_video: Path
) -> None:
    video_id = platform.upload(not_a_video, tier="free")
    tiny = TierLimits(max_duration_seconds=1, max_size_bytes=1, max_width=8, max_height=8)
    defs = build_definitions(_settings(catalog_dsn, tmp_path, tier_limits={"free": tiny}))
    result = defs.resolve_job_def("layout_job").execute_in_process(
        instance=platform.instance, partition_key=video_id, raise_on_error=False
    )
    assert not result.success
    message = platform.catalog.get_video(video_id).layout_error_details["message"]
    assert "file size" in message and "exceeds the free limit" in message
