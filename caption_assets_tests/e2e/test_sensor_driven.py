"""The whole platform locally: catalog rows in, the Dagster daemon's sensors start the runs
(queued run coordinator, run workers in their own processes), artifacts land in the store and the
statuses come back to the catalog."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from caption_assets.app.platform import upload_video
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.keys import VideoKeys
from caption_assets.core.processing.captions_db import read_captions
from caption_assets.core.store.local import LocalStore
from caption_assets_tests.fixtures.daemon import daemon_setup, running_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETTLED = {"done", "review", "error"}


def _settled(catalog: PostgresCatalog, video_id: str) -> bool:
    v = catalog.get_video(video_id)
    return v.layout_status == "error" or (v.text_status in SETTLED and v.boundaries_status in SETTLED)


def test_uploads_flow_through_sensors_to_captions(
    pg_server, catalog_dsn, catalog, rendered, not_a_video, tmp_path: Path
) -> None:
    setup = daemon_setup(pg_server, catalog_dsn, tmp_path)
    store = LocalStore((setup.data_dir / "artifacts").resolve(), tenant_exists=catalog.tenant_exists)
    captioned = rendered("short_bottom")
    uploads = {
        "captioned": upload_video(catalog, store, captioned.path, "acme", tier="premium"),
        "no_text": upload_video(catalog, store, rendered("no_text").path, "globex", tier="free"),
        "broken": upload_video(catalog, store, not_a_video, "initech", tier="enterprise"),
    }

    log_path = tmp_path / "daemon.log"
    with running_daemon(setup.env, log_path) as daemon:
        deadline = time.monotonic() + 280
        while time.monotonic() < deadline and not all(_settled(catalog, v) for v in uploads.values()):
            assert daemon.poll() is None, log_path.read_text()[-3000:]
            time.sleep(2)
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
