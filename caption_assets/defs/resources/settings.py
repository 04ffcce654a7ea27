"""The platform's policy settings as one Dagster resource: what ``build_definitions(settings)``
was given reaches every asset and sensor (and shows in the UI's resource page), instead of each
reading the environment on its own."""

# no `from __future__ import annotations`: Dagster reads the field annotations at runtime

import dagster as dg

from caption_assets.core.config import Settings
from caption_assets.core.policy.admission import DEFAULT_LIMITS, TierLimits
from caption_assets.core.policy.priority import PriorityPolicy

# the defaults of the environment-driven Settings, without reading the environment
_DEFAULTS = Settings.model_construct()


class TierLimitsConfig(dg.Config):
    max_duration_seconds: float
    max_size_bytes: int
    max_width: int
    max_height: int


class PlatformSettings(dg.ConfigurableResource):
    """Admission limits, priority aging, sensor batch size and retention."""

    sensor_batch_size: int = _DEFAULTS.sensor_batch_size
    priority_aging: bool = _DEFAULTS.priority_aging
    priority_boost_per_hour: float = _DEFAULTS.priority_boost_per_hour
    priority_max_boost: int = _DEFAULTS.priority_max_boost
    max_wait_hours: float = _DEFAULTS.max_wait_hours
    # tiers not named keep DEFAULT_LIMITS
    tier_limits: dict[str, TierLimitsConfig] = {}
    retention_deleted_grace_hours: float = _DEFAULTS.retention_deleted_grace_hours
    retention_archived_days: float | None = _DEFAULTS.retention_archived_days

    @classmethod
    def from_settings(cls, settings: Settings) -> "PlatformSettings":
        # every field carries the Settings field of its name; only the tier limits change type
        carried = {name: getattr(settings, name) for name in cls.model_fields if name != "tier_limits"}
        return cls(
            **carried,
            tier_limits={
                tier: TierLimitsConfig(**vars(limits)) for tier, limits in settings.tier_limits.items()
            },
        )

    def limits(self) -> dict[str, TierLimits]:
        return {
            **DEFAULT_LIMITS,
            **{tier: TierLimits(**limits.model_dump()) for tier, limits in self.tier_limits.items()},
        }

    def priority_policy(self) -> PriorityPolicy:
        return PriorityPolicy(
            enabled=self.priority_aging,
            boost_per_hour=self.priority_boost_per_hour,
            max_boost=self.priority_max_boost,
            max_wait_hours=self.max_wait_hours,
        )
