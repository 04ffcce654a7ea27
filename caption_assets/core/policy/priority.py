"""Run priority from tenant tier and age. Pure functions, no Dagster.

Dagster's queued run coordinator dequeues the highest ``dagster/priority`` first and, among equal
priorities, the oldest submission first; the queue-aging sensor re-tags queued runs with
``priority_for`` so that waiting really raises a run's place in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# one entry per tier of ``Tier`` (core/catalog/base.py, where the tiers are written)
TIER_BASE: dict[str, int] = {"free": 50, "premium": 70, "enterprise": 90}
MIN_PRIORITY = 0
MAX_PRIORITY = 100

PRIORITY_TAG = "dagster/priority"
TENANT_TAG = "caption_assets/tenant"
TIER_TAG = "caption_assets/tier"
AGE_BOOST_TAG = "caption_assets/age_boost"
BASE_TAG = "caption_assets/base_priority"
STARVED_TAG = "caption_assets/starvation_guard"
VIDEO_TAG = "caption_assets/video"
# ISO 8601 age origin a run was created with, so the queue-aging sensor can recompute its priority
SINCE_TAG = "caption_assets/since"


@dataclass(frozen=True)
class PriorityPolicy:
    """How priority grows with age. Defaults: +1 per hour, capped at +20, and a
    run queued longer than ``max_wait_hours`` jumps to the maximum (the starvation guard)."""

    enabled: bool = True
    boost_per_hour: float = 1.0
    max_boost: int = 20
    max_wait_hours: float | None = 6.0
    base_override: int | None = None

    def __post_init__(self) -> None:
        if self.boost_per_hour < 0:
            raise ValueError("boost_per_hour must be >= 0")
        if self.max_boost < 0:
            raise ValueError("max_boost must be >= 0")
        if self.max_wait_hours is not None and self.max_wait_hours <= 0:
            raise ValueError("max_wait_hours must be > 0 or None")


@dataclass(frozen=True)
class Priority:
    value: int
    base: int
    age_boost: int
    starved: bool


def clamp(value: float) -> int:
    return int(max(MIN_PRIORITY, min(MAX_PRIORITY, round(value))))


def base_priority(tier: str, policy: PriorityPolicy = PriorityPolicy()) -> int:
    if policy.base_override is not None:
        return clamp(policy.base_override)
    try:
        return TIER_BASE[tier]
    except KeyError:
        raise ValueError(f"unknown tier {tier!r}; expected one of {sorted(TIER_BASE)}") from None


def age_boost(age: timedelta, policy: PriorityPolicy = PriorityPolicy()) -> int:
    if not policy.enabled or age <= timedelta(0):
        return 0
    hours = age.total_seconds() / 3600.0
    # floor, so a run gains its next point only after a full period has passed
    return int(min(policy.max_boost, int(hours * policy.boost_per_hour)))


def priority_for(
    tier: str,
    since: datetime,
    now: datetime,
    policy: PriorityPolicy = PriorityPolicy(),
) -> Priority:
    """Priority of work of ``tier`` waiting since ``since``."""
    base = base_priority(tier, policy)
    age = now - since
    if policy.enabled and policy.max_wait_hours is not None and age >= timedelta(hours=policy.max_wait_hours):
        return Priority(MAX_PRIORITY, base, MAX_PRIORITY - base, True)
    boost = age_boost(age, policy)
    return Priority(clamp(base + boost), base, boost, False)


def priority_tags(tenant_id: str, tier: str, priority: Priority) -> dict[str, str]:
    """Run tags: ``dagster/priority`` for the coordinator plus readable ones for people."""
    return {
        PRIORITY_TAG: str(priority.value),
        TENANT_TAG: tenant_id,
        TIER_TAG: tier,
        BASE_TAG: str(priority.base),
        AGE_BOOST_TAG: str(priority.age_boost),
        STARVED_TAG: "true" if priority.starved else "false",
    }
