"""Environment variables -> settings (docs/architecture.md, configuration). Embedded defaults when
nothing is set."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from caption_assets.core.backends import CatalogBackend, ComputeBackend, StoreBackend
from caption_assets.core.policy.admission import DEFAULT_LIMITS, TierLimits

PIPELINE_VERSION = "1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAPTION_ASSETS_", extra="ignore")

    data_dir: Path = Path(".caption_assets")
    database_url: str | None = None
    catalog: CatalogBackend = "postgres"
    store: StoreBackend = "local"
    compute: ComputeBackend = "local"

    supabase_url: str | None = Field(default=None, validation_alias=AliasChoices("SUPABASE_URL"))
    supabase_service_role_key: str | None = Field(
        default=None, validation_alias=AliasChoices("SUPABASE_SERVICE_ROLE_KEY")
    )

    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"

    modal_app: str = "caption-assets"

    # scheduling: run priority aging (core/policy/priority.py)
    priority_aging: bool = True
    priority_boost_per_hour: float = 1.0
    priority_max_boost: int = 20
    max_wait_hours: float = 6.0
    sensor_batch_size: int = 100

    # admission (JSON, e.g. {"free": {"max_duration_seconds": 600, ...}}): tiers not named keep
    # the defaults
    tier_limits: dict[str, TierLimits] = Field(default_factory=dict)

    # partition retention (issue 9): a deleted video's objects and partition are removed this
    # long after its deletion (the grace lets a mistaken delete be undone); an archived video's
    # this many days after archiving, None keeps archived videos
    retention_deleted_grace_hours: float = Field(default=24.0, ge=0)
    retention_archived_days: float | None = Field(default=None, gt=0)

    def limits(self) -> dict[str, TierLimits]:
        return {**DEFAULT_LIMITS, **self.tier_limits}

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    def dagster_home(self) -> Path:
        home = os.environ.get("DAGSTER_HOME")
        if home:
            return Path(home)
        return self.resolved_data_dir() / "dagster_home"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def repo_root() -> Path:
    """The checkout this package runs from (deploy/, dagster.yaml live there)."""
    return Path(__file__).resolve().parents[2]
