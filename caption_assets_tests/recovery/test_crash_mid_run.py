"""A run worker killed mid-run (OOM killer, a crashed node): the run is marked failed, the video
ends in ``error`` with details instead of ``processing`` for ever, and a retry completes it."""

import os
import signal
import time

import dagster as dg
import pytest

from caption_assets.app.platform import DAGSTER_PG_URL_ENV, upload_video
from caption_assets.core.store.local import LocalStore
from caption_assets.defs.maintenance import _worker_pid, fail_dead_local_runs
from caption_assets_tests.fixtures.daemon import daemon_setup, running_daemon

pytestmark = [pytest.mark.recovery, pytest.mark.slow]


def _wait(predicate, timeout: float, what: str, daemon, log_path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert daemon.poll() is None, log_path.read_text()[-3000:]
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{log_path.read_text()[-3000:]}")


@pytest.mark.timeout(600)
def test_killed_worker_is_failed_settled_and_retried(
    pg_server, catalog_dsn, catalog, rendered, tmp_path, monkeypatch
) -> None:
    setup = daemon_setup(pg_server, catalog_dsn, tmp_path)
    monkeypatch.setenv(DAGSTER_PG_URL_ENV, setup.dagster_url)
    store = LocalStore((setup.data_dir / "artifacts").resolve(), tenant_exists=catalog.tenant_exists)
    video = rendered("multi_30s")
    log_path = tmp_path / "daemon.log"
    with running_daemon(setup.env, log_path) as daemon:
        instance = dg.DagsterInstance.from_config(str(setup.home))
        video_id = upload_video(catalog, store, video.path, "acme", tier="premium")

        def started_run():
            if catalog.get_video(video_id).layout_status != "processing":
                return None
            runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            for run in runs:
                pid = _worker_pid(instance, run.run_id)
                if pid:
                    return run, pid
            return None

        run, pid = _wait(started_run, 180, "the layout run to start", daemon, log_path)
        os.kill(pid, signal.SIGKILL)

        failed = _wait(lambda: fail_dead_local_runs(instance), 30, "the dead run", daemon, log_path)
        assert failed == [run.run_id]
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE

        # the daemon's run-failure sensor writes the outcome back
        _wait(
            lambda: catalog.get_video(video_id).layout_status == "error",
            60,
            "the video to be marked error",
            daemon,
            log_path,
        )
        details = catalog.get_video(video_id).layout_error_details
        assert details["run_id"] == run.run_id
        assert f"pid {pid}" in details["message"]

        # a person retries (what the web app's retry button does): the video completes
        catalog.set_status(video_id, "layout_status", "wait")
        _wait(
            lambda: catalog.get_video(video_id).text_status in ("done", "error", "review"),
            300,
            "the retried video to finish",
            daemon,
            log_path,
        )
        row = catalog.get_video(video_id)
        assert (row.layout_status, row.text_status) == ("done", "done")
        assert row.processing_attempt == 1
        instance.dispose()
