"""Lock-acquire latency of the Postgres catalog adapter (p50/p95 over 1,000 acquires).

    python -m benchmarks.catalog_locks [--database-url URL] [--n 1000]

Without a URL, a throwaway embedded Postgres is started in a temporary directory and stopped
afterwards. Each acquire is one ``acquire_server_lock`` call through ``PostgresCatalog`` (the
compare-and-set function plus the read of the current holder), alternating between a renewal by
the holder and a refused attempt by another holder, as happens while a captions run holds a lock.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from caption_assets.core.catalog.embedded import ensure_embedded, stop_embedded
from caption_assets.core.catalog.postgres import PostgresCatalog


def measure(dsn: str, n: int) -> list[float]:
    with PostgresCatalog(dsn, min_size=1, max_size=2) as catalog:
        tenant = catalog.ensure_tenant("benchmark-locks")
        video_id = str(uuid.uuid4())
        catalog.insert_video(tenant.id, video_id, f"{tenant.id}/client/videos/{video_id}/video.mp4")
        for _ in range(50):  # warm the pool and the plans
            catalog.acquire_server_lock(video_id, "layout", "holder", 60)
        samples: list[float] = []
        for i in range(n):
            holder = "holder" if i % 2 == 0 else "contender"
            start = time.perf_counter()
            catalog.acquire_server_lock(video_id, "layout", holder, 60)
            samples.append(time.perf_counter() - start)
        catalog.release_server_lock(video_id, "layout", "holder")
        catalog.mark_deleted(video_id)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="a migrated catalog; default: embedded")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()

    data_dir: Path | None = None
    dsn = args.database_url
    if dsn is None:
        data_dir = Path(tempfile.mkdtemp(prefix="caption-assets-bench-"))
        dsn = ensure_embedded(data_dir).catalog_url
    try:
        samples = measure(dsn, args.n)
    finally:
        if data_dir is not None:
            stop_embedded(data_dir)
            shutil.rmtree(data_dir, ignore_errors=True)

    ms = [s * 1000 for s in samples]
    print(f"lock acquire latency over {len(ms)} acquires ({'embedded' if data_dir else 'given'} Postgres):")
    print(
        f"  p50 {percentile(ms, 0.50):.3f} ms   p95 {percentile(ms, 0.95):.3f} ms   "
        f"p99 {percentile(ms, 0.99):.3f} ms   mean {statistics.fmean(ms):.3f} ms   max {max(ms):.3f} ms"
    )


if __name__ == "__main__":
    main()
