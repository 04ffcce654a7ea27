"""100 upload webhooks at once on loopback: the real ASGI app under uvicorn on 127.0.0.1, the
embedded Postgres catalog and a real Dagster instance (QueuedRunCoordinator, no daemon: the runs
stay QUEUED and nothing executes; the instance's database is dropped with them at the end).
Every delivery is a distinct upload: each is answered 202 with its own run, each video gets
exactly one run and its partition, and each video's claim is taken exactly once and kept."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import httpx
import pytest

from caption_assets.app.webhook import PATH, RateLimit, RunSubmitter, WebhookConfig, create_app
from caption_assets.core.catalog.base import PendingUpload
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.policy.priority import VIDEO_TAG
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.runs import RUN_KEY_TAG, layout_run_key
from caption_assets_tests.fixtures.webhook import insert_payload, new_upload, queued_instance, served

pytestmark = [pytest.mark.load, pytest.mark.slow]

CONCURRENT = 100
SECRET = "load-" + uuid.uuid4().hex


@pytest.fixture
def catalog(pg_server) -> Iterator[PostgresCatalog]:
    name = pg_server.create_database()
    cat = PostgresCatalog(pg_server.url(name), min_size=1, max_size=20)
    try:
        yield cat
    finally:
        cat.close()
        pg_server.drop_database(name)


@pytest.fixture
def instance(pg_server) -> Iterator[dg.DagsterInstance]:
    with queued_instance(pg_server) as inst:
        yield inst


def test_100_concurrent_uploads_start_100_runs_one_per_video(
    catalog: PostgresCatalog, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploads = [
        new_upload(catalog, f"load-{i % 10}", tier=("free", "premium", "enterprise")[i % 3])[0]
        for i in range(CONCURRENT)
    ]
    # every claim the service takes, by video (the claim itself is a compare-and-set in SQL)
    claims: Counter[str] = Counter()
    claims_lock = threading.Lock()
    claim = catalog.claim_pending_uploads

    def counted_claim(*args: Any, **kwargs: Any) -> list[PendingUpload]:
        taken = claim(*args, **kwargs)
        with claims_lock:
            claims.update(p.video_id for p in taken)
        return taken

    monkeypatch.setattr(catalog, "claim_pending_uploads", counted_claim)
    submitter = RunSubmitter(lambda: instance)
    assert submitter.warm()
    config = WebhookConfig(
        secrets=(SECRET,),
        address_limit=RateLimit(10 * CONCURRENT),
        tenant_limit=RateLimit(10 * CONCURRENT),
        # a slow machine must not turn into 503s: this test counts outcomes, not time
        submit_timeout_seconds=300.0,
    )
    go = threading.Barrier(CONCURRENT)
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    with (
        served(create_app(config, catalog, submitter)) as url,
        httpx.Client(timeout=300, limits=limits) as client,
    ):

        def post(video_id: str) -> httpx.Response:
            body = insert_payload(video_id)
            go.wait()  # all 100 leave together
            return client.post(url + PATH, json=body, headers={"Authorization": f"Bearer {SECRET}"})

        with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            answers = list(pool.map(post, uploads))

    # 0 errors: every answer is 202 with a run id, all of them distinct
    failed = [(a.status_code, a.text) for a in answers if a.status_code != 202]
    assert failed == []
    run_ids = [a.json()["run_id"] for a in answers]
    assert len(set(run_ids)) == CONCURRENT

    # 0 duplicates: exactly one run per video, the one its answer named, queued with its run key
    runs = list(instance.get_runs(filters=dg.RunsFilter(job_name="layout_job")))
    assert Counter(run.tags[VIDEO_TAG] for run in runs) == Counter(uploads)
    by_video = {run.tags[VIDEO_TAG]: run for run in runs}
    for video_id, run_id in zip(uploads, run_ids):
        run = by_video[video_id]
        assert run.run_id == run_id
        assert run.status == dg.DagsterRunStatus.QUEUED
        assert run.tags[RUN_KEY_TAG] == layout_run_key(video_id, 0)
    assert set(instance.get_dynamic_partitions(VIDEOS_PARTITION_NAME)) >= set(uploads)

    # each claim taken once and kept: none given back, nothing left for the sensor to claim
    assert claims == Counter(uploads)
    far = datetime.now(UTC) + timedelta(days=1)
    held = Counter(c.video_id for c in catalog.unstarted_claims(claimed_before=far) if c.work == "layout")
    assert held == Counter(uploads)
    assert claim(limit=CONCURRENT, video_ids=uploads) == []
