"""new_uploads over 10,000 pending uploads: the sensor's evaluation time, and separately the time
the daemon's side takes to turn the 100 run requests of one tick into queued runs.

    python -m benchmarks.sensor_tick [--rows 10000] [--ticks 5]

A throwaway embedded Postgres (catalog and Dagster instance storage) is started in a temporary
directory and stopped afterwards. The pending rows are inserted with one SQL statement.

- tick: ``new_uploads`` evaluated in-process against the real catalog and instance (catalog query,
  priority tags, the partition lookups), cold first tick and the median of the next ones.
- submission: what the sensor daemon does per run request after the evaluation, in-process instead
  of through the code server's gRPC: add the new partitions in one call, build the run's execution
  plan, ``create_run`` with the request's tags, ``submit_run`` through the queued run coordinator
  (the repository's dagster.yaml coordinator: runs end QUEUED).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import yaml

# one statement for all rows: the columns captionacc.insert_video writes, plus the timestamps, so
# the oldest-first order is known (the wait_since default would give every row the same time)
INSERT_PENDING = """
insert into captionacc.videos
    (id, tenant_id, storage_key, original_filename, size_bytes, layout_status,
     uploaded_at, layout_wait_since, deleted_at)
select v.id, v.tenant_id, v.tenant_id::text || '/client/videos/' || v.id::text || '/video.mp4',
       'load-' || v.g || '.mp4', 1048576, 'wait', v.at, v.at,
       case when %(deleted_every)s > 0 and v.g %% %(deleted_every)s = 0 then v.at end
  from (select gen_random_uuid() as id, g,
               (%(tenants)s::uuid[])[1 + g %% cardinality(%(tenants)s::uuid[])] as tenant_id,
               %(start)s::timestamptz + g * interval '1 second' as at
          from generate_series(1, %(n)s) g) v
"""


def insert_pending_uploads(
    dsn: str,
    tenant_ids: Sequence[str],
    n: int,
    start: datetime,
    deleted_every: int = 0,
) -> None:
    """``n`` rows in ``wait``, one second apart from ``start``, round-robin over ``tenant_ids``;
    every ``deleted_every``-th row is already deleted (0: none)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            INSERT_PENDING,
            {
                "tenants": list(tenant_ids),
                "n": n,
                "start": start,
                "deleted_every": deleted_every,
            },
        )


def _coordinator() -> dict[str, Any]:
    from caption_assets.core.config import repo_root

    return yaml.safe_load((repo_root() / "dagster.yaml").read_text())["run_coordinator"]


def measure(catalog_url: str, dagster_url: str, rows: int, ticks: int) -> dict[str, float]:
    from dagster._core.test_utils import in_process_test_workspace
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from caption_assets.app.platform import dagster_storage_url
    from caption_assets.core.catalog.postgres import PostgresCatalog
    from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
    from caption_assets.defs.resources.catalog import CatalogResource, close_catalogs
    from caption_assets.defs.resources.settings import PlatformSettings
    from caption_assets.defs.sensors.uploads import new_uploads

    with PostgresCatalog(catalog_url, min_size=1, max_size=2) as catalog:
        tenants = [
            catalog.ensure_tenant(f"bench-{tier}", tier=tier).id  # type: ignore[arg-type]
            for tier in ("free", "premium", "enterprise")
        ]
    insert_pending_uploads(catalog_url, tenants, rows, datetime.now(UTC) - timedelta(days=1))

    overrides = {
        "storage": {"postgres": {"postgres_url": dagster_storage_url(dagster_url)}},
        "run_coordinator": _coordinator(),
    }
    resources = {"catalog": CatalogResource(database_url=catalog_url), "settings": PlatformSettings()}
    figures: dict[str, float] = {}
    with dg.instance_for_test(overrides=overrides) as instance:
        try:
            samples: list[float] = []
            result = None
            for _ in range(ticks + 1):
                context = dg.build_sensor_context(instance=instance, resources=resources)
                start = time.perf_counter()
                result = new_uploads(context)
                samples.append(time.perf_counter() - start)
            assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 100
            figures["tick_cold_s"] = samples[0]
            figures["tick_median_s"] = statistics.median(samples[1:])
            figures["tick_max_s"] = max(samples[1:])

            origin = LoadableTargetOrigin(module_name="caption_assets.defs.definitions")
            with in_process_test_workspace(instance, origin) as workspace:
                location = next(iter(workspace.code_locations))
                repo = next(iter(location.get_repositories().values()))
                remote_job = repo.get_full_job("layout_job")
                start = time.perf_counter()
                for request in result.dynamic_partitions_requests:
                    instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, list(request.partition_keys))
                for request in result.run_requests:
                    tags = {**request.tags, "dagster/partition": request.partition_key or ""}
                    if request.run_key:
                        tags["dagster/run_key"] = request.run_key
                    plan = location.get_execution_plan(
                        remote_job, {}, step_keys_to_execute=None, known_state=None, instance=instance
                    )
                    run = instance.create_run(
                        job_name="layout_job",
                        run_id=None,
                        run_config={},
                        resolved_op_selection=None,
                        step_keys_to_execute=None,
                        status=dg.DagsterRunStatus.NOT_STARTED,
                        op_selection=None,
                        root_run_id=None,
                        parent_run_id=None,
                        tags=tags,
                        job_snapshot=remote_job.job_snapshot,
                        execution_plan_snapshot=plan.execution_plan_snapshot,
                        parent_job_snapshot=remote_job.parent_job_snapshot,
                        remote_job_origin=remote_job.get_remote_origin(),
                        job_code_origin=remote_job.get_python_origin(),
                        asset_selection=None,
                        asset_check_selection=None,
                        asset_graph=repo.asset_graph,
                    )
                    instance.submit_run(run.run_id, workspace)
                figures["submit_100_s"] = time.perf_counter() - start
            queued = instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
            assert queued == 100, queued
        finally:
            close_catalogs()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=5)
    args = parser.parse_args()

    from caption_assets.core.catalog.embedded import ensure_embedded, stop_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="caption-assets-bench-"))
    try:
        urls = ensure_embedded(data_dir)
        assert urls.catalog_url is not None
        figures = measure(urls.catalog_url, urls.dagster_url, args.rows, args.ticks)
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"new_uploads tick over {args.rows} pending rows (100 run requests):")
    print(f"  first (cold)      {figures['tick_cold_s'] * 1000:8.1f} ms")
    print(f"  median of {args.ticks:<2}     {figures['tick_median_s'] * 1000:8.1f} ms")
    print(f"  max of {args.ticks:<2}        {figures['tick_max_s'] * 1000:8.1f} ms")
    print("daemon-like submission of those 100 runs (partitions + create_run + submit_run, queued):")
    print(f"  total             {figures['submit_100_s'] * 1000:8.1f} ms")
    print(f"  per run           {figures['submit_100_s'] * 10:8.1f} ms")


if __name__ == "__main__":
    main()
