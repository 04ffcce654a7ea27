"""The whole platform locally: catalog rows in, the Dagster daemon's sensors start the runs
(queued run coordinator, run workers in their own processes), artifacts land in the store and the
statuses come back to the catalog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from caption_assets.catalog.postgres import PostgresCatalog
from caption_assets.config import repo_root
from caption_assets.keys import VideoKeys
from caption_assets.platform import DAGSTER_PG_URL_ENV, dagster_storage_url, seed_dagster_home, upload_video
from caption_assets.processing.captions_db import read_captions
from caption_assets.store.local import LocalStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETTLED = {"done", "review", "error"}


def _empty_database(pg_server, name: str) -> str:
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return pg_server.url(name)


def _settled(catalog: PostgresCatalog, video_id: str) -> bool:
    v = catalog.get_video(video_id)
    return v.layout_status == "error" or (v.text_status in SETTLED and v.boundaries_status in SETTLED)


def test_uploads_flow_through_sensors_to_captions(
    pg_server, catalog_dsn, catalog, rendered, not_a_video, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    home = tmp_path / "dagster_home"
    seed_dagster_home(home)
    dagster_db = _empty_database(pg_server, f"dagster_{os.getpid()}_{int(time.time())}")
    env = {
        **os.environ,
        "CAPTION_ASSETS_DATABASE_URL": catalog_dsn,
        "CAPTION_ASSETS_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(home),
        DAGSTER_PG_URL_ENV: dagster_storage_url(dagster_db),
    }
    store = LocalStore((data_dir / "artifacts").resolve(), tenant_exists=catalog.tenant_exists)
    captioned = rendered("short_bottom")
    uploads = {
        "captioned": upload_video(catalog, store, captioned.path, "acme", tier="premium"),
        "no_text": upload_video(catalog, store, rendered("no_text").path, "globex", tier="free"),
        "broken": upload_video(catalog, store, not_a_video, "initech", tier="enterprise"),
    }

    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(repo_root() / "workspace.yaml")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 280
        while time.monotonic() < deadline and not all(
            _settled(catalog, v) for v in uploads.values()
        ):
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(2)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()
    states = {
        name: (v.layout_status, v.boundaries_status, v.text_status)
        for name, v in ((n, catalog.get_video(i)) for n, i in uploads.items())
    }
    assert states["captioned"] == ("done", "done", "done"), states
    assert states["broken"][0] == "error", states
    assert states["no_text"][0] == "done" and states["no_text"][2] in ("done", "review"), states

    broken = catalog.get_video(uploads["broken"])
    assert broken.layout_error_details["run_id"]
    assert "video" in broken.layout_error_details["message"].lower()

    for name, truth in (("captioned", captioned.truth), ("no_text", None)):
        v = catalog.get_video(uploads[name])
        keys = VideoKeys(v.tenant_id, v.id)
        db = store.get_gunzip_file(keys.captions_db(), tmp_path / name / "captions.db")
        got = read_captions(db)
        expected = [] if truth is None else truth.captions
        assert [c.text for c in got] == [c.text for c in expected]
        for cue, want in zip(got, expected):
            assert abs(cue.start_native_frame - want.first_frame) <= 1
            assert abs(cue.end_native_frame - want.last_frame) <= 1
        srt = store.get_bytes(keys.captions_srt()).decode()
        for want in expected:
            assert want.text in srt
