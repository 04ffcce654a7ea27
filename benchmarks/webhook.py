"""Upload webhook latency on loopback (issue 15): 1, 10 and 100 concurrent INSERT deliveries
against the real service (uvicorn on 127.0.0.1, the embedded Postgres catalog, a Dagster instance
on its own database of that server with the QueuedRunCoordinator and no daemon, so runs stay
QUEUED; the database is dropped with them at the end).

Prints, per concurrency, p50/p95/p99 of the webhook's answer and of POST -> the run's
RUN_ENQUEUED event (the run queued), errors and duplicates, and two yardsticks measured just
before that round on the same machine: one bare ``instance.get_runs(limit=1)`` on an instance of
the same storage with Dagster's default settings (a fresh connection and a read) and one
loopback ``GET /healthz`` of the same server. The machine is shared and noisy: compare ratios
to the yardsticks, not milliseconds. No time is asserted.

``--phases`` adds where the time of a request goes (each blocking catalog and Dagster call timed
as the service makes it, under the same concurrency); ``--profile`` adds a cProfile of 20
submissions made one after another in this thread (the CPU side of one request). Run:
``.venv/bin/python -m benchmarks.webhook [--phases] [--profile]``."""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import math
import pstats
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
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

CONCURRENCY = (1, 10, 100)
# at least this many requests per concurrency (waves of n released together), so p95 of the
# single-request round is a percentile of something
MIN_SAMPLES = 20
YARDSTICK_SAMPLES = 20

# the blocking calls a request makes, by the object that makes them
CATALOG_CALLS = ("get_video", "get_tenant", "claim_pending_uploads")
INSTANCE_CALLS = (
    "has_dynamic_partition",
    "add_dynamic_partitions",
    "create_run",
    "submit_run",
    "get_run_records",
)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


class _Server:
    def __init__(self, data_dir: Path) -> None:
        self.urls = ensure_embedded(data_dir)

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        from urllib.parse import urlsplit, urlunsplit

        return urlunsplit(urlsplit(self.urls.catalog_url)._replace(path=f"/{database}"))


class _Phases:
    """Wall time of each wrapped call, per round (the threads of the service call them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, list[float]] = defaultdict(list)

    def wrap(self, obj: Any, names: tuple[str, ...], prefix: str) -> None:
        for name in names:
            original = getattr(obj, name)
            setattr(obj, name, self._timed(f"{prefix}.{name}", original))

    def _timed(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds[label].append(time.perf_counter() - t0)

        return timed

    def take(self) -> dict[str, list[float]]:
        with self._lock:
            taken, self.seconds = dict(self.seconds), defaultdict(list)
        return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", action="store_true", help="time each blocking call of a request")
    parser.add_argument("--profile", action="store_true", help="cProfile 20 sequential submissions")
    parser.add_argument(
        "--concurrency", type=int, nargs="*", default=list(CONCURRENCY), help="the rounds (default 1 10 100)"
    )
    parser.add_argument("--workers", type=int, default=None, help="the service's submission workers")
    args = parser.parse_args()
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
            workers = {} if args.workers is None else {"workers": args.workers}
            submitter = RunSubmitter(lambda: instance, **workers)
            submitter.warm()
            phases = _Phases()
            if args.phases:
                phases.wrap(catalog, CATALOG_CALLS, "catalog")
                phases.wrap(instance, INSTANCE_CALLS, "dagster")
            config = WebhookConfig(
                secrets=(secret,),
                address_limit=RateLimit(100000),
                tenant_limit=RateLimit(100000),
                submit_timeout_seconds=60.0,
            )
            # the yardstick reads through an instance of its own, with Dagster's default storage
            # (the service changes its instance's connection pool)
            yardstick = dg.DagsterInstance.from_ref(instance.get_ref())
            # no access log: thousands of lines, and its writes would be measured with the rest
            with served(create_app(config, catalog, submitter), access_log=False) as url:
                _round(1, url, secret, catalog, instance, yardstick, header=False)  # warm-up
                phases.take()
                print(
                    "| concurrent | requests | answer p50 | p95 | p99 | POST->queued p50 | p95 | p99 "
                    "| errors | duplicates | get_runs | GET /healthz | queued p95 / get_runs |"
                )
                print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
                for n in args.concurrency:
                    _round(n, url, secret, catalog, instance, yardstick)
                    if args.phases:
                        _print_phases(n, phases.take())
            if args.profile:
                _profile(catalog, submitter)
        catalog.close()
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def _yardsticks(url: str, instance: dg.DagsterInstance) -> tuple[float, float]:
    """Median ms of one bare run-storage read and of one loopback GET, measured now."""
    reads: list[float] = []
    gets: list[float] = []
    with httpx.Client(timeout=30) as client:
        for _ in range(YARDSTICK_SAMPLES):
            t0 = time.perf_counter()
            instance.get_runs(limit=1)
            reads.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            client.get(url + "/healthz")
            gets.append((time.perf_counter() - t0) * 1000)
    return statistics.median(reads), statistics.median(gets)


def _round(
    n: int,
    url: str,
    secret: str,
    catalog: Any,
    instance: dg.DagsterInstance,
    yardstick: dg.DagsterInstance,
    header: bool = True,
) -> None:
    get_runs_ms, healthz_ms = _yardsticks(url, yardstick)
    waves = max(1, math.ceil(MIN_SAMPLES / n))
    results: list[tuple[str, float, int]] = []
    sent: dict[str, float] = {}
    videos_all: list[str] = []
    with httpx.Client(timeout=90, limits=httpx.Limits(max_connections=n)) as client:
        for _ in range(waves):
            videos = [
                new_upload(catalog, f"bench-{i % 10}", tier=("free", "premium", "enterprise")[i % 3])[0]
                for i in range(n)
            ]
            videos_all.extend(videos)
            go = threading.Barrier(n)

            def post(video_id: str, go: threading.Barrier = go) -> tuple[str, float, int]:
                headers = {"Authorization": f"Bearer {secret}"}
                body = insert_payload(video_id)
                go.wait()  # the wave's requests leave together
                sent[video_id] = time.time()
                t0 = time.perf_counter()
                r = client.post(url + PATH, json=body, headers=headers)
                return video_id, time.perf_counter() - t0, r.status_code

            with ThreadPoolExecutor(max_workers=n) as pool:
                results.extend(pool.map(post, videos))
    if not header:
        return
    answers = [s for _, s, _ in results]
    errors = sum(1 for _, _, code in results if code != 202)
    queued: list[float] = []
    duplicates = 0
    for video_id in videos_all:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={VIDEO_TAG: video_id}))
        duplicates += max(0, len(runs) - 1)
        for run in runs[:1]:
            events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
            if events:
                queued.append(events[0].timestamp - sent[video_id])
    ms = [a * 1000 for a in answers]
    qms = [q * 1000 for q in queued] or [float("nan")]
    print(
        f"| {n} | {len(results)} | {statistics.median(ms):.0f} ms | {_pct(ms, 95):.0f} ms "
        f"| {_pct(ms, 99):.0f} ms | {statistics.median(qms):.0f} ms | {_pct(qms, 95):.0f} ms "
        f"| {_pct(qms, 99):.0f} ms | {errors} | {duplicates} | {get_runs_ms:.1f} ms | {healthz_ms:.1f} ms "
        f"| {_pct(qms, 95) / get_runs_ms:.0f}x |",
        flush=True,
    )


def _print_phases(n: int, seconds: dict[str, list[float]]) -> None:
    print(f"\n  phases at {n} concurrent (calls, p50, p95, total s):")
    for label, values in sorted(seconds.items()):
        ms = [v * 1000 for v in values]
        print(
            f"    {label:34} {len(ms):4d}  {statistics.median(ms):8.1f} ms  {_pct(ms, 95):8.1f} ms"
            f"  {sum(values):7.2f} s"
        )
    print(flush=True)


def _profile(catalog: Any, submitter: RunSubmitter) -> None:
    """The CPU side of one request: claims and submissions one after another, no concurrency."""
    from caption_assets.core.catalog import lifecycle

    videos = [new_upload(catalog, "bench-profile")[0] for _ in range(20)]
    profiler = cProfile.Profile()
    profiler.enable()
    for video_id in videos:
        video = catalog.get_video(video_id)
        catalog.get_tenant(video.tenant_id)
        (pending,) = lifecycle.upload_claimed(catalog, limit=1, video_ids=[video_id])
        submitter.submit(video_id, {VIDEO_TAG: video_id, "caption_assets/bench": "profile"})
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(25)
    print("\ncProfile of 20 sequential submissions (by cumulative, then by own time):")
    print(out.getvalue())


if __name__ == "__main__":
    main()
