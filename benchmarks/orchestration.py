"""Orchestration figures through a real ``dagster-daemon``: time from an upload row to its run's
start, and runs finished per minute sustained.

    python -m benchmarks.orchestration [--uploads 20]

A throwaway embedded Postgres holds the catalog and the Dagster instance; the daemon runs the
repository's workspace and dagster.yaml (queued coordinator, 3 concurrent runs, 2 per tenant).
The uploads are files that are not videos, so every run is real (run worker process, sensors,
coordinator, status write-back) but its compute stops at the first step: the figures are the
orchestration's, not the video processing's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg
import psycopg
from psycopg import sql

from caption_assets.app.platform import DAGSTER_PG_URL_ENV, upload_video
from caption_assets.core.catalog.embedded import ensure_embedded, stop_embedded
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.store.local import LocalStore
from caption_assets_tests.fixtures.daemon import daemon_setup, running_daemon

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]


def new_catalog(server: _Server, name: str) -> tuple[str, PostgresCatalog]:
    """A fresh catalog database ``name`` made from the migrated template; its URL and catalog."""
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template caption_assets").format(sql.Identifier(name)))
    url = server.url(name)
    return url, PostgresCatalog(url)


class _Server:
    """The shape ``daemon_setup`` expects of the tests' pg_server."""

    def __init__(self, catalog_url: str) -> None:
        self.catalog_url = catalog_url
        self.admin_url = self.url("postgres")

    def url(self, database: str) -> str:
        head, _, tail = self.catalog_url.partition("?")
        return f"{head.rsplit('/', 1)[0]}/{database}?{tail}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="caption-assets-orch-"))
    try:
        urls = ensure_embedded(work / "pg")
        server = _Server(urls.catalog_url)
        catalog_url, catalog = new_catalog(server, f"bench_{int(time.time())}")
        setup = daemon_setup(server, catalog_url, work)
        store = LocalStore((setup.data_dir / "artifacts").resolve(), tenant_exists=catalog.tenant_exists)
        bad = work / "upload.mp4"
        bad.write_bytes(b"not a video\n" * 100)
        with running_daemon(setup.env, work / "daemon.log"):
            time.sleep(20)  # the daemon and its code server are up before the clock starts
            uploaded: dict[str, float] = {}
            t0 = time.time()
            for i in range(args.uploads):
                vid = upload_video(catalog, store, bad, f"bench-{i % 3}", tier="free")
                uploaded[vid] = time.time()
            os.environ[DAGSTER_PG_URL_ENV] = setup.dagster_url  # read by the instance's dagster.yaml
            instance = dg.DagsterInstance.from_config(str(setup.home))
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                done = instance.get_runs_count(dg.RunsFilter(statuses=FINISHED))
                if done >= args.uploads:
                    break
                time.sleep(0.5)
            records = instance.get_run_records(dg.RunsFilter(job_name="layout_job"))
        starts = {r.dagster_run.tags["caption_assets/video"]: r.start_time for r in records if r.start_time}
        created = {
            r.dagster_run.tags["caption_assets/video"]: r.create_timestamp.timestamp() for r in records
        }
        ends = [r.end_time for r in records if r.end_time]
        to_request = [created[v] - uploaded[v] for v in uploaded if v in created]
        to_start = [starts[v] - uploaded[v] for v in uploaded if v in starts]
        span = max(ends) - t0
        print(f"{len(records)} runs for {args.uploads} uploads")
        print(
            f"upload row -> run created (sensor):  median {statistics.median(to_request):.1f} s, "
            f"max {max(to_request):.1f} s"
        )
        print(
            f"upload row -> run started:           first {min(to_start):.1f} s, "
            f"median {statistics.median(to_start):.1f} s (queue included)"
        )
        print(
            f"runs finished per minute sustained:  {len(ends) / span * 60:.1f} "
            f"({len(ends)} runs in {span:.0f} s, 3 slots)"
        )
        catalog.close()
        instance.dispose()
    finally:
        stop_embedded(work / "pg")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
