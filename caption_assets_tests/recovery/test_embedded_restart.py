"""The embedded Postgres killed (OOM killer, a person's kill -9): `dev`'s watch starts it again
and the catalog answers with its data intact."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from caption_assets.core.catalog.embedded import (
    embedded_running,
    ensure_embedded,
    keep_running,
    pgdata_dir,
    stop_embedded,
)

pytestmark = [pytest.mark.recovery, pytest.mark.slow]


@pytest.fixture
def data_dir():
    # outside pytest's basetemp (mode 0700): the server runs as another system user
    path = Path(tempfile.mkdtemp(prefix="caption-assets-restart-"))
    path.chmod(0o755)
    yield path
    stop_embedded(path)
    shutil.rmtree(path, ignore_errors=True)


def test_killed_server_is_restarted_by_the_watch(data_dir: Path) -> None:
    urls = ensure_embedded(data_dir)
    with psycopg.connect(urls.catalog_url, autocommit=True) as conn:
        conn.execute("create table kept (v int)")
        conn.execute("insert into kept values (42)")
    postmaster = int((pgdata_dir(data_dir) / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)

    stop, restarted = threading.Event(), threading.Event()
    watch = threading.Thread(
        target=keep_running,
        args=(data_dir, stop),
        kwargs={"on_restart": restarted.set, "interval_seconds": 0.5},
        daemon=True,
    )
    watch.start()
    try:
        assert restarted.wait(timeout=60), "the watch never restarted the server"
    finally:
        stop.set()
        watch.join(timeout=10)
    assert embedded_running(data_dir)
    deadline = time.monotonic() + 30
    while True:  # the restarted server may still be finishing crash recovery
        try:
            with psycopg.connect(urls.catalog_url, connect_timeout=3) as conn:
                assert conn.execute("select v from kept").fetchone() == (42,)
            break
        except psycopg.OperationalError:
            assert time.monotonic() < deadline, "the restarted server does not accept connections"
            time.sleep(0.2)
