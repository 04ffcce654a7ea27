"""20 concurrent uploads through a real ``dagster-daemon`` with the queued run coordinator: all
processed, none lost or run twice, and the per-tenant cap of dagster.yaml held throughout.

This is a load test of the orchestration, not of the video processing: every upload is a file that
is not a video (the ``not_a_video`` fixture), so each run is real (its own run worker process,
sensors, coordinator, catalog status write-back) but its compute ends at the first step with a
permanent "not a video" error. The runs are cheap, so 20 of them fit on 2 CPU cores; the queue
still holds most of them at once because only 3 may run and 2 per tenant.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from caption_assets.app.platform import DAGSTER_PG_URL_ENV, upload_video
from caption_assets.core.policy.priority import TENANT_TAG, VIDEO_TAG
from caption_assets.core.store.local import LocalStore
from caption_assets_tests.fixtures.daemon import daemon_setup, running_daemon

pytestmark = [pytest.mark.load, pytest.mark.slow]

TENANTS = {"load-a": ("free", 8), "load-b": ("premium", 6), "load-c": ("enterprise", 6)}
PER_TENANT_CAP = 2
MAX_CONCURRENT = 3
IN_FLIGHT = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


@pytest.mark.timeout(900)
def test_twenty_uploads_all_processed_once_with_the_tenant_cap_held(
    pg_server, catalog_dsn, catalog, not_a_video, tmp_path: Path, monkeypatch
) -> None:
    setup = daemon_setup(pg_server, catalog_dsn, tmp_path)
    monkeypatch.setenv(DAGSTER_PG_URL_ENV, setup.dagster_url)  # this process reads the same instance
    data_dir, home, env = setup.data_dir, setup.home, setup.env

    store = LocalStore((data_dir / "artifacts").resolve(), tenant_exists=catalog.tenant_exists)
    # interleaved, as uploads arrive from several tenants at once
    order = [name for i in range(8) for name, (_, n) in TENANTS.items() if i < n]
    videos = {upload_video(catalog, store, not_a_video, name, tier=TENANTS[name][0]): name for name in order}
    assert len(videos) == 20
    tenant_ids = {name: catalog.get_tenant_by_name(name).id for name in TENANTS}

    _drive(home, env, catalog, videos, tenant_ids, tmp_path)


def _drive(
    home: Path, env: dict[str, str], catalog, videos: dict[str, str], tenant_ids, tmp_path: Path
) -> None:
    """Run the daemon until every upload settled, sampling the runs in flight."""
    instance = dg.DagsterInstance.from_config(str(home))
    log_path = tmp_path / "daemon.log"
    peak_per_tenant: Counter[str] = Counter()
    peak_total = 0
    samples = 0
    with running_daemon(env, log_path) as daemon:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert daemon.poll() is None, log_path.read_text()[-3000:]
            running = instance.get_runs(dg.RunsFilter(statuses=IN_FLIGHT))
            per_tenant = Counter(r.tags.get(TENANT_TAG, "?") for r in running)
            samples += 1
            peak_total = max(peak_total, len(running))
            for tenant, count in per_tenant.items():
                peak_per_tenant[tenant] = max(peak_per_tenant[tenant], count)
            assert max(per_tenant.values(), default=0) <= PER_TENANT_CAP, per_tenant
            assert len(running) <= MAX_CONCURRENT, len(running)
            settled = all(catalog.get_video(v).layout_status == "error" for v in videos)
            finished = instance.get_runs_count(dg.RunsFilter(statuses=FINISHED))
            if settled and finished >= len(videos) and not running:
                break
            time.sleep(0.25)
    instance.dispose()

    # other work of the code location (the maintenance schedule) may run too: count video runs
    runs = [
        r
        for r in dg.DagsterInstance.from_config(str(home)).get_runs()
        if r.job_name in ("layout_job", "captions_job")
    ]
    print(
        f"{len(runs)} runs, {samples} samples, peak in flight {peak_total}, "
        f"peak per tenant {dict(peak_per_tenant)}"
    )
    per_video_job = Counter((r.tags.get(VIDEO_TAG), r.job_name) for r in runs)
    # none lost, none twice: exactly one layout run per upload (no captions run: layouts failed)
    assert {key: n for key, n in per_video_job.items()} == {(v, "layout_job"): 1 for v in videos}
    for run in runs:
        assert run.status == dg.DagsterRunStatus.FAILURE, (run.run_id, run.status)
        video = catalog.get_video(run.tags[VIDEO_TAG])
        assert video.layout_status == "error"
        assert video.layout_error_details["run_id"] == run.run_id
        assert run.tags[TENANT_TAG] == tenant_ids[videos[video.id]]
    assert max(peak_per_tenant.values()) <= PER_TENANT_CAP and peak_total <= MAX_CONCURRENT
