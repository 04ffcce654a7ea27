"""Artifact-store throughput: upload/download MB/s against a local SeaweedFS and the local
directory store.

    python -m benchmarks.store_throughput [--size-mb 64] [--repeat 3] [--small 300] [--small-kb 100]

Starts its own SeaweedFS (``weed mini`` on 127.0.0.1, same setup as the test fixture) and stops it
at the end. Figures, not a test: they depend on the machine's disk and CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from caption_assets.core.keys import VideoKeys
from caption_assets.core.store.base import ArtifactStore
from caption_assets.core.store.local import LocalStore
from caption_assets.core.store.s3 import MiB, S3Store
from caption_assets_tests.fixtures.seaweed import running_seaweed


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _measure(
    name: str, store: ArtifactStore, work: Path, size_mb: int, repeat: int, small: int, small_kb: int
) -> list[tuple[str, str, float, str]]:
    keys = VideoKeys(str(uuid.uuid4()), str(uuid.uuid4()))
    big = work / "big.bin"
    if not big.exists():
        with big.open("wb") as fh:
            for _ in range(size_mb):
                fh.write(os.urandom(MiB))
    size = big.stat().st_size
    up = [_timed(lambda: store.put_file(keys.video(), big)) for _ in range(repeat)]
    down = [_timed(lambda: store.get_file(keys.video(), work / "down.bin")) for _ in range(repeat)]
    payload = os.urandom(small_kb * 1024)
    small_up = _timed(lambda: [store.put_bytes(keys.full_frame(i * 100), payload) for i in range(small)])
    small_down = _timed(lambda: [store.get_bytes(keys.full_frame(i * 100)) for i in range(small)])
    store.delete_prefix(keys.client_prefix())
    mb = size / 1e6
    small_mb = small * len(payload) / 1e6
    return [
        (name, f"upload {size_mb} MiB file", mb / statistics.median(up), f"median of {repeat}"),
        (name, f"download {size_mb} MiB file", mb / statistics.median(down), f"median of {repeat}"),
        (name, f"upload {small} x {small_kb} KiB", small_mb / small_up, f"{small / small_up:.0f} objects/s"),
        (
            name,
            f"download {small} x {small_kb} KiB",
            small_mb / small_down,
            f"{small / small_down:.0f} objects/s",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small", type=int, default=300, help="number of small objects (frames)")
    parser.add_argument("--small-kb", type=int, default=100)
    args = parser.parse_args(argv)

    rows: list[tuple[str, str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        work = Path(tmp)
        rows += _measure(
            "local dir",
            LocalStore(work / "artifacts"),
            work,
            args.size_mb,
            args.repeat,
            args.small,
            args.small_kb,
        )
        with running_seaweed(bucket="store-bench") as server:
            store = S3Store(server.client(), server.bucket)
            rows += _measure(
                "seaweedfs s3", store, work, args.size_mb, args.repeat, args.small, args.small_kb
            )

    print(f"{'store':<14} {'operation':<28} {'MB/s':>9}  note")
    for name, operation, rate, note in rows:
        print(f"{name:<14} {operation:<28} {rate:>9.1f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
