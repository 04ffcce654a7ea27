"""Run requests have one source: tags, keys, typed config and the job -> assets map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from caption_assets.core.policy.priority import (
    PRIORITY_TAG,
    SINCE_TAG,
    TENANT_TAG,
    TIER_TAG,
    VIDEO_TAG,
    PriorityPolicy,
)
from caption_assets.defs import runs
from caption_assets.defs.definitions import build_definitions

pytestmark = pytest.mark.unit


def test_run_tags_carry_tenant_tier_priority_video_since_and_attempt() -> None:
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    since = now - timedelta(hours=3)
    tags = runs.run_tags("v", "t", "premium", since, PriorityPolicy(), attempt=2, now=now)
    assert {
        k: tags[k] for k in (TENANT_TAG, TIER_TAG, VIDEO_TAG, SINCE_TAG, runs.ATTEMPT_TAG, PRIORITY_TAG)
    } == {
        TENANT_TAG: "t",
        TIER_TAG: "premium",
        VIDEO_TAG: "v",
        SINCE_TAG: since.isoformat(),
        runs.ATTEMPT_TAG: "2",
        PRIORITY_TAG: "73",
    }
    assert runs.requested_attempt(tags) == 2
    assert runs.ATTEMPT_TAG not in runs.run_tags("v", "t", "free", since, PriorityPolicy(), now=now)


def test_job_assets_map_is_what_the_jobs_select() -> None:
    defs = build_definitions()
    for job_name, assets in runs.JOB_ASSETS.items():
        selected = defs.resolve_job_def(job_name).asset_layer.selected_asset_keys
        assert {k.to_user_string() for k in selected} == assets
    assert "video_job" in runs.JOB_ASSETS


def test_reocr_config_round_trips_through_the_run() -> None:
    config = runs.reocr_run_config([5, 3, 5], ["b", "a"])
    run = dg.DagsterRun(job_name="captions_job", run_config=config.to_config_dict())
    assert runs.ocr_request_ids(run) == ["a", "b"]
    assert config.to_config_dict()["ops"]["captions_db"]["config"]["reocr_caption_ids"] == [3, 5]
    assert runs.ocr_request_ids(dg.DagsterRun(job_name="captions_job")) == []
