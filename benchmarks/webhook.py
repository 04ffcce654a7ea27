"""Upload webhook latency on loopback (issue 15): 10 and 100 concurrent INSERT deliveries against
the real service (uvicorn on 127.0.0.1, the embedded Postgres catalog, a Dagster instance on its
own database of that server with the QueuedRunCoordinator and no daemon, so runs stay QUEUED).

Prints p50/p95/p99 of the webhook's answer and of POST -> the run's RUN_ENQUEUED event (the run
queued), with errors and duplicates; no time is asserted. Run:
``.venv/bin/python -m benchmarks.webhook``."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import psycopg
from psycopg import sql

from caption_assets.app.webhook import PATH, RateLimit, RunSubmitter, WebhookConfig, create_app
from caption_assets.core.catalog.embedded import ensure_embedded, stop_embedded
from caption_assets.core.catalog.migrate import apply_migrations
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.policy.priority import VIDEO_TAG
from caption_assets_tests.fixtures.webhook import insert_payload, new_upload, queued_instance, served


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class _Server:
    def __init__(self, data_dir: Path) -> None:
        self.urls = ensure_embedded(data_dir)

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        from urllib.parse import urlsplit, urlunsplit

        return urlunsplit(urlsplit(self.urls.catalog_url)._replace(path=f"/{database}"))


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="caption-assets-bench-webhook-"))
    try:
        server = _Server(data_dir)
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        apply_migrations(server.url(name), local_bootstrap=True)
        catalog = PostgresCatalog(server.url(name), min_size=2, max_size=20)
        secret = uuid.uuid4().hex
        with queued_instance(server) as instance:
            submitter = RunSubmitter(lambda: instance)
            submitter.warm()
            config = WebhookConfig(
                secrets=(secret,),
                address_limit=RateLimit(100000),
                tenant_limit=RateLimit(100000),
                submit_timeout_seconds=30.0,
            )
            with served(create_app(config, catalog, submitter)) as url:
                print(
                    "| concurrent | answer p50 | p95 | p99 | POST->queued p50 | p95 | p99 | errors | duplicates |"
                )
                print("|---|---|---|---|---|---|---|---|---|")
                for n in (10, 100):
                    _round(n, url, secret, catalog, instance)
        catalog.close()
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def _round(n: int, url: str, secret: str, catalog: Any, instance: dg.DagsterInstance) -> None:
    videos = [
        new_upload(catalog, f"bench-{i % 10}", tier=("free", "premium", "enterprise")[i % 3])[0]
        for i in range(n)
    ]
    sent: dict[str, float] = {}
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=n)) as client:

        def post(video_id: str) -> tuple[str, float, int]:
            headers = {"Authorization": f"Bearer {secret}"}
            sent[video_id] = time.time()
            t0 = time.perf_counter()
            r = client.post(url + PATH, json=insert_payload(video_id), headers=headers)
            return video_id, time.perf_counter() - t0, r.status_code

        with ThreadPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(post, videos))
    answers = [s for _, s, _ in results]
    errors = sum(1 for _, _, code in results if code != 202)
    queued: list[float] = []
    duplicates = 0
    for video_id in videos:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={VIDEO_TAG: video_id}))
        duplicates += max(0, len(runs) - 1)
        for run in runs[:1]:
            events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
            if events:
                queued.append(events[0].timestamp - sent[video_id])
    ms = [a * 1000 for a in answers]
    qms = [q * 1000 for q in queued] or [float("nan")]
    print(
        f"| {n} | {statistics.median(ms):.0f} ms | {_pct(ms, 95):.0f} ms | {_pct(ms, 99):.0f} ms "
        f"| {statistics.median(qms):.0f} ms | {_pct(qms, 95):.0f} ms | {_pct(qms, 99):.0f} ms "
        f"| {errors} | {duplicates} |"
    )


if __name__ == "__main__":
    main()
