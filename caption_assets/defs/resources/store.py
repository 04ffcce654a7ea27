"""The artifact store as a Dagster resource: a local directory or S3/Wasabi through dagster-aws."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import get_args

import dagster as dg

from caption_assets.core.backends import StoreBackend
from caption_assets.core.store.base import ArtifactStore


class StoreResource(dg.ConfigurableResource):
    backend: StoreBackend = "local"
    root: str = ".caption_assets/artifacts"
    bucket: str | None = None
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    # attempts per S3 call before the store reports itself unavailable (then the asset's
    # RetryPolicy takes over)
    retry_attempts: int = 5

    def get(self, tenant_exists: Callable[[str], bool] | None = None) -> ArtifactStore:
        if self.backend == "local":
            from caption_assets.core.store.local import LocalStore

            return LocalStore(Path(self.root).resolve(), tenant_exists=tenant_exists)
        if self.backend == "s3":
            # imported here: dagster_aws takes seconds to import, and only the s3 backend needs it
            from dagster_aws.s3 import S3Resource

            from caption_assets.core.store.s3 import S3RetryPolicy, S3Store

            if not self.bucket:
                raise ValueError("CAPTION_ASSETS_STORE=s3 needs CAPTION_ASSETS_S3_BUCKET")
            client = S3Resource(
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                max_attempts=2,
            ).get_client()
            return S3Store(
                client,
                self.bucket,
                tenant_exists=tenant_exists,
                retry=S3RetryPolicy(attempts=self.retry_attempts),
            )
        raise ValueError(f"unknown store backend {self.backend!r} ({' or '.join(get_args(StoreBackend))})")
