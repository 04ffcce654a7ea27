"""The Definitions load in-process for every adapter combination the settings can name, and hold
exactly the expected assets, checks, jobs, sensors and schedules. Nothing is contacted: secrets
are EnvVars read only when a resource is used, and adapters connect on first use."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import get_args

import dagster as dg
import pydantic
import pytest

from caption_assets.core.backends import CatalogBackend, ComputeBackend, StoreBackend
from caption_assets.core.config import Settings
from caption_assets.defs.definitions import build_definitions
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.compute import ComputeResource
from caption_assets.defs.resources.store import StoreResource

pytestmark = pytest.mark.unit

ASSETS = [
    "caption_quality",
    "captions_db",
    "cropped_frames",
    "full_frames",
    "layout_db",
    "platform_records",
    "run_health",
    "tenant_usage",
    "webhook_availability",
]
CHECKS = [
    ("captions_db", "captions_db_valid"),
    ("captions_db", "captions_rate_plausible"),
    ("layout_db", "layout_has_caption_region"),
    ("layout_db", "layout_region_confidence"),
    ("run_health", "flow_success_rate"),
    ("run_health", "lock_contention"),
    ("run_health", "retry_success_rate"),
    ("webhook_availability", "webhook_availability"),
]
JOBS = [
    "captions_job",
    "delete_tenant_job",
    "layout_job",
    "maintenance_job",
    "operations_job",
    "retention_job",
    "video_job",
]
SENSORS = [
    "caption_ocr_requests",
    "invalid_partition_keys",
    "layout_approvals",
    "maintenance",
    "new_uploads",
    "queued_run_aging",
    "refused_work",
    "run_cancellations_to_catalog",
    "run_failures_to_catalog",
]
SCHEDULES = [
    ("operations_job_schedule", "7 1 * * *", "operations_job"),
    ("retention_job_schedule", "17 3 * * *", "retention_job"),
]
COMBINATIONS = list(itertools.product(["postgres", "supabase"], ["local", "s3"], ["local", "modal"]))


@pytest.mark.parametrize(("catalog", "store", "compute"), COMBINATIONS)
def test_definitions_load_for_every_adapter_combination(
    tmp_path: Path, catalog: str, store: str, compute: str
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        catalog=catalog,  # type: ignore[arg-type]
        store=store,  # type: ignore[arg-type]
        compute=compute,  # type: ignore[arg-type]
        # addresses nobody listens on: loading must not reach them
        supabase_url="http://127.0.0.1:9",
        s3_bucket="captions",
        s3_endpoint_url="http://127.0.0.1:9",
        database_url="postgresql://nobody@127.0.0.1:9/none" if catalog == "postgres" else None,
    )
    defs = build_definitions(settings)
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()

    assert sorted(k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()) == ASSETS
    assert sorted((k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys) == CHECKS
    assert sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")) == JOBS
    assert sorted(s.name for s in repo.sensor_defs) == SENSORS
    assert sorted((s.name, s.cron_schedule, s.job_name) for s in repo.schedule_defs) == SCHEDULES

    resources = defs.resources or {}
    assert sorted(resources) == ["catalog", "compute", "settings", "store"]
    assert resources["catalog"].backend == catalog
    assert resources["store"].backend == store
    assert resources["compute"].backend == compute


def test_video_jobs_run_their_steps_in_one_process(tmp_path: Path) -> None:
    repo = build_definitions(Settings(data_dir=tmp_path)).get_repository_def()
    for name in ("layout_job", "captions_job", "video_job"):
        assert repo.get_job(name).executor_def.name == "in_process", name


RESOURCES = [
    (CatalogResource, "catalog", CatalogBackend),
    (StoreResource, "store", StoreBackend),
    (ComputeResource, "compute", ComputeBackend),
]


@pytest.mark.parametrize(("resource", "setting", "backends"), RESOURCES)
def test_a_resource_takes_exactly_the_backends_its_setting_names(resource, setting, backends) -> None:
    taken = get_args(resource.model_fields["backend"].annotation)
    assert taken == get_args(Settings.model_fields[setting].annotation) == get_args(backends)


@pytest.mark.parametrize(("resource", "setting", "backends"), RESOURCES)
def test_a_wrong_backend_fails_at_config_validation_naming_the_choices(resource, setting, backends) -> None:
    choices = get_args(backends)
    with pytest.raises(pydantic.ValidationError, match=" or ".join(repr(c) for c in choices)):
        resource(backend="nonsense")

    @dg.asset(required_resource_keys={"resource_under_test"})
    def uses() -> None:
        raise AssertionError("config validation must refuse the run before any step")

    with pytest.raises(
        dg.DagsterInvalidConfigError, match=rf"backend not in enum type Literal\[{choices[0]!r}"
    ):
        dg.materialize(
            [uses],
            resources={"resource_under_test": resource.configure_at_launch()},
            run_config={"resources": {"resource_under_test": {"config": {"backend": "nonsense"}}}},
        )


def test_loading_the_definitions_does_not_import_the_plotting_library() -> None:
    """Every run's process loads the definitions and a video's steps never plot: matplotlib (about
    half a second of CPU to import) waits for the first operations plot."""
    import subprocess
    import sys

    probe = "import sys, caption_assets.defs.definitions; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
