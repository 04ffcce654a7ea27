"""What every run-requesting sensor answers (``runs.requested_runs``, ``runs.video_run_request``):
the runs with the partitions they lack, or the sensor's skip reason when there is nothing to run."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from caption_assets.core.policy.priority import TIER_TAG, VIDEO_TAG, PriorityPolicy
from caption_assets.defs import runs
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME

pytestmark = pytest.mark.unit

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
OLD, NEW = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def _request(video_id: str) -> dg.RunRequest:
    return runs.video_run_request(video_id, "t", "free", SINCE, PriorityPolicy(), run_key=f"k:{video_id}")


def test_nothing_to_run_is_the_skip_reason_when_the_sensor_gives_one() -> None:
    with dg.instance_for_test() as instance:
        skipped = runs.requested_runs(instance, [], skip_reason="no uploads waiting")
        assert skipped.skip_reason is not None and skipped.skip_reason.skip_message == "no uploads waiting"
        empty = runs.requested_runs(instance, [])
        assert empty.skip_reason is None and empty.run_requests == []


def test_runs_come_with_only_the_partitions_they_lack() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, [OLD])
        result = runs.requested_runs(instance, [_request(OLD), _request(NEW)], skip_reason="unused")
        assert [r.partition_key for r in result.run_requests or []] == [OLD, NEW]
        (add,) = result.dynamic_partitions_requests or []
        assert list(add.partition_keys) == [NEW]
        request = (result.run_requests or [])[1]
        assert (request.run_key, request.tags[VIDEO_TAG], request.tags[TIER_TAG]) == (f"k:{NEW}", NEW, "free")
