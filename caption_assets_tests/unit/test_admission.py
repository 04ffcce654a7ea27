import pytest

from caption_assets.core.errors import AdmissionError, PermanentError
from caption_assets.core.policy.admission import (
    DEFAULT_LIMITS,
    TierLimits,
    admit,
    format_size,
    on_own_machine,
    violations,
)

pytestmark = pytest.mark.unit

LIMITS = {"free": TierLimits(600, 100 * 1024**2, 1920, 1080)}


def test_within_limits_and_unknown_measures_pass() -> None:
    assert violations("free", LIMITS, size_bytes=1024, duration_seconds=60, width=1280, height=720) == []
    assert violations("free", LIMITS) == []  # nothing known yet: checked again later
    admit("free", LIMITS, size_bytes=10)


def test_each_limit_is_named_with_the_tier() -> None:
    found = violations(
        "free", LIMITS, size_bytes=200 * 1024**2, duration_seconds=900, width=3840, height=2160
    )
    assert len(found) == 3
    assert "file size 200 MiB exceeds the free limit of 100 MiB" in found[0]
    assert "duration 15.0 min exceeds the free limit of 10 min" in found[1]
    assert "resolution 3840x2160 exceeds the free limit of 1920x1080" in found[2]


def test_vertical_video_is_judged_like_its_landscape_twin() -> None:
    assert violations("free", LIMITS, width=1080, height=1920) == []
    assert violations("free", LIMITS, width=1200, height=1920) != []


def test_admit_raises_a_permanent_error_and_unknown_tiers_are_refused() -> None:
    with pytest.raises(AdmissionError, match="Upgrade the tier") as err:
        admit("free", LIMITS, duration_seconds=601)
    assert isinstance(err.value, PermanentError)
    assert violations("gold", LIMITS) == ["tier 'gold' has no limits configured"]


def test_defaults_grow_with_the_tier() -> None:
    free, premium, enterprise = (DEFAULT_LIMITS[t] for t in ("free", "premium", "enterprise"))
    assert free.max_duration_seconds < premium.max_duration_seconds < enterprise.max_duration_seconds
    assert free.max_size_bytes < premium.max_size_bytes < enterprise.max_size_bytes


def test_own_machine_has_no_tier_limits_and_only_inside_the_block() -> None:
    uhd = {"duration_seconds": 20 * 60, "width": 3840, "height": 2160, "size_bytes": 5 * 1024**3}
    with on_own_machine():
        assert violations("free", LIMITS, **uhd) == []
        admit("free", LIMITS, **uhd)
    assert len(violations("free", LIMITS, **uhd)) == 3


def test_sizes_are_printed_in_a_unit_that_fits() -> None:
    small = {"free": TierLimits(600, 100 * 1024, 1920, 1080)}
    (found,) = violations("free", small, size_bytes=715 * 1024)
    assert found == "file size 715 KiB exceeds the free limit of 100 KiB"
    assert format_size(1) == "1 bytes" and format_size(1536) == "1.5 KiB"
    assert format_size(2 * 1024**3) == "2 GiB"


def test_durations_are_printed_in_a_unit_that_fits() -> None:
    from caption_assets.core.policy.admission import format_duration

    assert format_duration(2) == "2 s" and format_duration(600) == "10 min"
    assert (
        format_duration(900, measured=True) == "15.0 min" and format_duration(4.04, measured=True) == "4.0 s"
    )
