"""Readable identity in run tags: the tenant's and the file's names, bounded and safe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caption_assets.core.policy.priority import TENANT_TAG, TIER_TAG, PriorityPolicy
from caption_assets.defs.runs import (
    FILE_TAG,
    TAG_VALUE_MAX,
    TENANT_NAME_TAG,
    readable_tags,
    run_tags,
    safe_tag_value,
)

pytestmark = pytest.mark.unit

TENANT = "0b1e6a4c-1f7d-4c47-9f0e-0c6c2f1b8a11"
VIDEO = "5d9b7c1e-2a3f-4b6d-8e9f-1a2b3c4d5e6f"


def test_run_tags_carry_tenant_name_tier_and_file_name() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    tags = run_tags(
        VIDEO,
        TENANT,
        "premium",
        since,
        PriorityPolicy(),
        tenant_name="acme",
        file_name="holiday clip.mp4",
        now=since,
    )
    assert tags[TENANT_NAME_TAG] == "acme"
    assert tags[FILE_TAG] == "holiday_clip.mp4"
    assert tags[TIER_TAG] == "premium" and tags[TENANT_TAG] == TENANT


def test_run_tags_without_names_have_no_name_tags() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    tags = run_tags(VIDEO, TENANT, "free", since, PriorityPolicy(), now=since)
    assert TENANT_NAME_TAG not in tags and FILE_TAG not in tags


@pytest.mark.parametrize(
    "value",
    ["a" * 500, "Ünïcödé name — with spaces/and\\slashes", "../../etc/passwd", "\n\t", "x" * 62 + "🙂" * 10],
)
def test_tag_values_are_bounded_and_safe(value: str) -> None:
    tag = safe_tag_value(value)
    assert 1 <= len(tag) <= TAG_VALUE_MAX
    assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in tag)


def test_a_long_file_name_keeps_its_start_and_extension() -> None:
    tag = readable_tags(file_name="family_holiday_" + "x" * 100 + "_final_cut.mp4")[FILE_TAG]
    assert tag.startswith("family_holiday_") and tag.endswith("_final_cut.mp4") and "..." in tag
