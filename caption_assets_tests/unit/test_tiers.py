"""The tenant tiers are written once (``Tier`` in core/catalog/base.py): every per-tier table has
exactly one entry per tier, so a tier added there without its limits or priority fails here."""

from __future__ import annotations

from typing import get_args

import pytest

from caption_assets.core.catalog.base import Tier
from caption_assets.core.policy.admission import DEFAULT_LIMITS
from caption_assets.core.policy.priority import TIER_BASE

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("table", [DEFAULT_LIMITS, TIER_BASE], ids=["default limits", "base priority"])
def test_every_tier_table_has_one_entry_per_tier(table: dict[str, object]) -> None:
    assert sorted(table) == sorted(get_args(Tier))
