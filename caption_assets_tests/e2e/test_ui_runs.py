"""Runs launched the way the UI launches them (GraphQL ``launchPipelineExecution`` for
"Materialize", ``launchPartitionBackfill`` for a backfill) against a real ``dagster dev``
(webserver and daemon) get their video's tenant, tier and priority tags before the daemon dequeues
them, and a run that failed at full_frames leaves the captions columns alone."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from caption_assets.app.devserver import ProcessFamily, dagster_dev_command, stop_group
from caption_assets.app.platform import DAGSTER_PG_URL_ENV, upload_video
from caption_assets.core.policy.priority import PRIORITY_TAG, TENANT_TAG, TIER_BASE, TIER_TAG
from caption_assets.core.store.local import LocalStore
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets_tests.fixtures.daemon import daemon_setup

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LAUNCH_RUN = """
mutation($p: ExecutionParams!) {
  launchPipelineExecution(executionParams: $p) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def _graphql(port: int, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


def _wait(what: str, check, deadline_seconds: float, proc: subprocess.Popen[bytes], log: Path):
    deadline = time.monotonic() + deadline_seconds
    while True:
        value = check()
        if value:
            return value
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"{what}: not within {deadline_seconds} s"
        time.sleep(0.5)


@pytest.mark.timeout(600)
def test_ui_materialize_and_backfill_runs_get_tenant_tier_priority(
    pg_server, catalog_dsn, catalog, not_a_video, tmp_path, monkeypatch
) -> None:
    setup = daemon_setup(pg_server, catalog_dsn, tmp_path)
    monkeypatch.setenv(DAGSTER_PG_URL_ENV, setup.dagster_url)
    store = LocalStore((setup.data_dir / "artifacts").resolve(), tenant_exists=catalog.tenant_exists)
    # 'processing', not 'wait': the new_uploads sensor must not start runs of its own
    materialized, backfilled = (
        upload_video(catalog, store, not_a_video, "globex", tier="premium", layout_status="processing")
        for _ in range(2)
    )
    tenant = catalog.get_tenant_by_name("globex")
    instance = dg.DagsterInstance.from_config(str(setup.home))
    instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, [materialized, backfilled])

    port = _free_port()
    log_path = tmp_path / "dev.log"
    sampling = threading.Event()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            dagster_dev_command(port),
            env=setup.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    family = ProcessFamily(proc.pid)
    threading.Thread(target=family.watch, args=(sampling,), daemon=True).start()
    try:
        _wait("webserver", lambda: _get(f"http://127.0.0.1:{port}/server_info"), 240, proc, log_path)
        selector = {
            "repositoryLocationName": "caption_assets",
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": ["full_frames"]}],
            "assetCheckSelection": [],
        }
        tags = [
            {"key": "dagster/partition", "value": materialized},
            {"key": "dagster/from_ui", "value": "true"},
        ]
        launched = _graphql(
            port,
            LAUNCH_RUN,
            {"p": {"selector": selector, "executionMetadata": {"tags": tags}, "runConfigData": "{}"}},
        )["launchPipelineExecution"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        backfill = _graphql(
            port,
            LAUNCH_BACKFILL,
            {
                "p": {
                    "assetSelection": [{"path": ["full_frames"]}],
                    "partitionNames": [backfilled],
                    "fromFailure": False,
                    "tags": [{"key": "dagster/from_ui", "value": "true"}],
                }
            },
        )["launchPartitionBackfill"]
        assert backfill["__typename"] == "LaunchBackfillSuccess", backfill

        def backfill_run() -> dg.DagsterRun | None:
            runs = instance.get_runs(
                filters=dg.RunsFilter(tags={"dagster/backfill": backfill["backfillId"]}), limit=1
            )
            return runs[0] if runs else None

        backfill_run_id = _wait("backfill run", backfill_run, 240, proc, log_path).run_id

        def ended(rid: str) -> dg.DagsterRun | None:
            run = instance.get_run_by_id(rid)
            return run if run is not None and run.is_finished else None

        # dequeued by the daemon, launched, failed at full_frames (not a video), settled by the sensor
        def settled(video_id: str) -> bool:
            row = catalog.get_video(video_id)
            return row is not None and row.layout_status == "error"

        for rid, video_id in ((run_id, materialized), (backfill_run_id, backfilled)):
            run = _wait(f"run {rid}", lambda rid=rid: ended(rid), 300, proc, log_path)
            assert run.status == dg.DagsterRunStatus.FAILURE
            assert run.tags[TENANT_TAG] == tenant.id
            assert run.tags[TIER_TAG] == "premium"
            assert run.tags[PRIORITY_TAG] == str(TIER_BASE["premium"])
            assert "caption_assets/attempt" not in run.tags
            _wait(f"video {video_id} settled", lambda v=video_id: settled(v), 120, proc, log_path)
            row = catalog.get_video(video_id)
            assert (row.boundaries_status, row.text_status) == (None, None)
    finally:
        sampling.set()
        stop_group(proc, family=family)
        instance.dispose()
