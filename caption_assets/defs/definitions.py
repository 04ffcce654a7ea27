"""The one code location. Adapters are chosen from environment variables (docs/architecture.md,
configuration); with none set, everything runs on embedded defaults: embedded Postgres catalog, a
local artifact directory and in-process compute."""

from __future__ import annotations

import dagster as dg

from caption_assets.core.config import Settings, get_settings
from caption_assets.defs.assets import with_code_references
from caption_assets.defs.assets.captions import captions_db, cropped_frames
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.assets.operations import OPERATIONS_ASSETS, operations_job, operations_schedule
from caption_assets.defs.jobs import captions_job, layout_job, video_job
from caption_assets.defs.maintenance import maintenance, maintenance_job
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.compute import ComputeResource
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.resources.store import StoreResource
from caption_assets.defs.retention import delete_tenant_job, retention_job, retention_schedule
from caption_assets.defs.sensors.ocr_requests import caption_ocr_requests
from caption_assets.defs.sensors.partitions import invalid_partition_keys
from caption_assets.defs.sensors.queue import queued_run_aging
from caption_assets.defs.sensors.refused import refused_work
from caption_assets.defs.sensors.run_status import (
    run_cancellations_to_catalog,
    run_failures_to_catalog,
)
from caption_assets.defs.sensors.uploads import layout_approvals, new_uploads


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    data_dir = settings.resolved_data_dir()
    catalog = CatalogResource(
        backend=settings.catalog,
        database_url=settings.database_url,
        data_dir=str(data_dir),
        supabase_url=settings.supabase_url,
        supabase_service_role_key=dg.EnvVar("SUPABASE_SERVICE_ROLE_KEY")
        if settings.catalog == "supabase"
        else None,
    )
    if settings.store == "s3":
        store = StoreResource(
            backend="s3",
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
            secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        )
    else:
        store = StoreResource(backend="local", root=str(data_dir / "artifacts"))
    compute = ComputeResource(backend=settings.compute, modal_app=settings.modal_app)
    return {
        "catalog": catalog,
        "store": store,
        "compute": compute,
        "settings": PlatformSettings.from_settings(settings),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    return dg.Definitions(
        assets=with_code_references(
            [full_frames, layout_db, cropped_frames, captions_db, *OPERATIONS_ASSETS]
        ),
        jobs=[
            layout_job,
            captions_job,
            video_job,
            maintenance_job,
            retention_job,
            delete_tenant_job,
            operations_job,
        ],
        schedules=[retention_schedule, operations_schedule],
        sensors=[
            new_uploads,
            layout_approvals,
            caption_ocr_requests,
            queued_run_aging,
            refused_work,
            run_failures_to_catalog,
            run_cancellations_to_catalog,
            maintenance,
            invalid_partition_keys,
        ],
        resources=build_resources(settings),
    )


defs = build_definitions()
