"""20 uploads of 4 tenants arriving while two new_uploads evaluations race each other, one of the
uploads committing late (after later uploads were requested): every upload gets exactly one run
request. Runs are only requested, not executed: what is measured is the sensor's bookkeeping."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import dagster as dg
import psycopg
import pytest

from caption_assets.app.platform import upload_video
from caption_assets.defs.sensors.uploads import new_uploads

pytestmark = pytest.mark.load

TENANTS = ("claims-a", "claims-b", "claims-c", "claims-d")
UPLOADS_PER_TENANT = 5
DEADLINE_SECONDS = 120


def _until(condition: Callable[[], bool], stop: threading.Event, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        stop.wait(0.05)


def test_twenty_uploads_with_a_late_commit_are_each_requested_once(
    platform, catalog_dsn, not_a_video
) -> None:
    catalog = platform.catalog
    tenants = {name: catalog.ensure_tenant(name) for name in TENANTS}
    requested: list[str] = []
    requested_lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []
    cursor: list[str | None] = [None]  # carried from tick to tick, as the daemon does

    def evaluate_forever() -> None:
        try:
            while not stop.is_set():
                context = dg.build_sensor_context(
                    instance=platform.instance, resources=platform.resources, cursor=cursor[0]
                )
                result = new_uploads(context)
                with requested_lock:
                    requested.extend(r.partition_key for r in result.run_requests)
                    cursor[0] = result.cursor or cursor[0]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def upload_all(tenant: str, count: int, uploaded: list[str]) -> None:
        try:
            for _ in range(count):
                uploaded.append(upload_video(catalog, platform.store, not_a_video, tenant))
        except BaseException as exc:
            errors.append(exc)

    def requested_ids() -> set[str]:
        with requested_lock:
            return set(requested)

    late_tenant = tenants[TENANTS[0]].id
    late = str(uuid.uuid4())
    uploaded: dict[str, list[str]] = {name: [] for name in TENANTS}
    tickers = [threading.Thread(target=evaluate_forever, name=f"tick-{i}") for i in range(2)]
    try:
        with psycopg.connect(catalog_dsn) as conn:
            with conn.transaction():
                # the late upload's row is written first (the earliest layout_wait_since) ...
                conn.execute(
                    "select captionacc.insert_video(%s, %s, %s)",
                    (late_tenant, late, f"{late_tenant}/client/videos/{late}/video.mp4"),
                )
                for t in tickers:
                    t.start()
                uploaders = [
                    threading.Thread(
                        target=upload_all,
                        args=(name, UPLOADS_PER_TENANT - (name == TENANTS[0]), uploaded[name]),
                    )
                    for name in TENANTS
                ]
                for t in uploaders:
                    t.start()
                for t in uploaders:
                    t.join()
                others = {v for ids in uploaded.values() for v in ids}
                assert len(others) == 19 and not errors, errors
                # ... and commits only after every later upload was requested
                _until(lambda: others <= requested_ids() or bool(errors), stop, "19 run requests")
                assert late not in requested_ids()
            _until(lambda: late in requested_ids() or bool(errors), stop, "the late upload's request")
    finally:
        stop.set()
        for t in tickers:
            if t.ident is not None:  # started
                t.join()
    assert not errors, errors

    counts = Counter(requested)
    assert set(counts) == others | {late}
    twice = [v for v, n in counts.items() if n > 1]
    assert len(counts) == 20 and twice == [], f"requested twice: {twice}"
    assert sum(counts.values()) == 20
