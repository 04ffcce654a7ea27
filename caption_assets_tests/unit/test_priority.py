from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caption_assets.core.policy.priority import (
    PRIORITY_TAG,
    PriorityPolicy,
    age_boost,
    base_priority,
    clamp,
    priority_for,
    priority_tags,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("tier", "base"), [("free", 50), ("premium", 70), ("enterprise", 90)])
def test_tier_base_without_age(tier: str, base: int) -> None:
    p = priority_for(tier, T0, T0)
    assert (p.value, p.base, p.age_boost, p.starved) == (base, base, 0, False)


def test_one_point_per_full_hour_capped_at_twenty() -> None:
    assert priority_for("free", T0, T0 + timedelta(minutes=59)).value == 50
    assert priority_for("free", T0, T0 + timedelta(hours=1)).value == 51
    assert priority_for("free", T0, T0 + timedelta(hours=5, minutes=30)).value == 55
    no_guard = PriorityPolicy(max_wait_hours=None)
    assert priority_for("free", T0, T0 + timedelta(hours=40), no_guard).value == 70
    assert priority_for("enterprise", T0, T0 + timedelta(hours=40), no_guard).value == 100


def test_starvation_guard_lifts_long_waiters_to_the_top() -> None:
    policy = PriorityPolicy(max_wait_hours=6)
    just_before = priority_for("free", T0, T0 + timedelta(hours=5, minutes=59), policy)
    at_bound = priority_for("free", T0, T0 + timedelta(hours=6), policy)
    assert (just_before.value, just_before.starved) == (55, False)
    assert (at_bound.value, at_bound.starved, at_bound.age_boost) == (100, True, 50)
    # a starved free run outranks a fresh enterprise run
    assert at_bound.value > priority_for("enterprise", T0, T0, policy).value


def test_disabled_aging_keeps_the_base_and_the_guard_off() -> None:
    policy = PriorityPolicy(enabled=False)
    p = priority_for("premium", T0, T0 + timedelta(days=3), policy)
    assert (p.value, p.age_boost, p.starved) == (70, 0, False)


def test_custom_rate_cap_and_base_override_are_clamped() -> None:
    fast = PriorityPolicy(boost_per_hour=4, max_boost=10, max_wait_hours=None)
    assert priority_for("free", T0, T0 + timedelta(hours=2), fast).value == 58
    assert priority_for("free", T0, T0 + timedelta(hours=9), fast).value == 60
    assert base_priority("free", PriorityPolicy(base_override=150)) == 100
    assert base_priority("free", PriorityPolicy(base_override=-3)) == 0
    assert priority_for("enterprise", T0, T0 + timedelta(hours=30), fast).value == 100
    assert clamp(41.6) == 42 and isinstance(clamp(41.6), int)


def test_future_timestamps_and_bad_input() -> None:
    assert age_boost(timedelta(hours=-3)) == 0
    with pytest.raises(ValueError, match="unknown tier"):
        base_priority("gold")
    for bad in (
        dict(boost_per_hour=-1),
        dict(max_boost=-1),
        dict(max_wait_hours=0),
    ):
        with pytest.raises(ValueError):
            PriorityPolicy(**bad)  # type: ignore[arg-type]


def test_tags_are_strings_for_the_coordinator_and_people() -> None:
    p = priority_for("premium", T0, T0 + timedelta(hours=3))
    tags = priority_tags("tenant-1", "premium", p)
    assert tags[PRIORITY_TAG] == "73"
    assert tags["caption_assets/tier"] == "premium"
    assert tags["caption_assets/age_boost"] == "3"
    assert tags["caption_assets/starvation_guard"] == "false"
    assert all(isinstance(v, str) for v in tags.values())


@given(
    tier=st.sampled_from(["free", "premium", "enterprise"]),
    earlier=st.integers(min_value=-3600, max_value=48 * 3600),
    extra=st.integers(min_value=0, max_value=48 * 3600),
    rate=st.floats(min_value=0, max_value=100),
    cap=st.integers(min_value=0, max_value=200),
    guard=st.one_of(st.none(), st.floats(min_value=0.01, max_value=48)),
)
def test_priority_never_falls_as_a_run_waits(
    tier: str, earlier: int, extra: int, rate: float, cap: int, guard: float | None
) -> None:
    """The queue-aging sensor only ever raises a queued run's priority; that is right only if
    priority is monotonic in age for every policy, and always an integer in 0..100."""
    policy = PriorityPolicy(boost_per_hour=rate, max_boost=cap, max_wait_hours=guard)
    before = priority_for(tier, T0, T0 + timedelta(seconds=earlier), policy)
    after = priority_for(tier, T0, T0 + timedelta(seconds=earlier + extra), policy)
    assert 0 <= before.value <= after.value <= 100
    assert isinstance(after.value, int)
    assert after.starved or not before.starved
