"""3 tenants of different tiers x 4 uploads each through a real daemon with the queued run
coordinator: every video ends with the right status, every run carries its tier's priority."""

import time
from collections import Counter

import dagster as dg
import pytest

from caption_assets.app.platform import DAGSTER_PG_URL_ENV, upload_video
from caption_assets.core.keys import VideoKeys
from caption_assets.core.policy.priority import PRIORITY_TAG, TIER_BASE, TIER_TAG, VIDEO_TAG
from caption_assets.core.processing.captions_db import read_captions
from caption_assets.core.store.local import LocalStore
from caption_assets_tests.fixtures.daemon import daemon_setup, running_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TENANTS = {"acme": "free", "globex": "premium", "initech": "enterprise"}
KINDS = ["short_bottom", "no_text", "short_bottom", "broken"]


@pytest.mark.timeout(900)
def test_three_tenants_four_uploads_each(
    pg_server, catalog_dsn, catalog, rendered, not_a_video, tmp_path, monkeypatch
) -> None:
    setup = daemon_setup(pg_server, catalog_dsn, tmp_path)
    monkeypatch.setenv(DAGSTER_PG_URL_ENV, setup.dagster_url)
    store = LocalStore((setup.data_dir / "artifacts").resolve(), tenant_exists=catalog.tenant_exists)
    files = {k: rendered(k).path for k in ("short_bottom", "no_text")} | {"broken": not_a_video}
    uploads = {
        upload_video(catalog, store, files[kind], tenant, tier=tier): (tenant, kind)
        for kind in KINDS
        for tenant, tier in TENANTS.items()
    }

    def settled(video_id: str) -> bool:
        v = catalog.get_video(video_id)
        return v.layout_status == "error" or v.text_status in ("done", "review", "error")

    log_path = tmp_path / "daemon.log"
    with running_daemon(setup.env, log_path) as daemon:
        deadline = time.monotonic() + 780
        while time.monotonic() < deadline and not all(settled(v) for v in uploads):
            assert daemon.poll() is None, log_path.read_text()[-3000:]
            time.sleep(2)

    truth = rendered("short_bottom").truth
    for video_id, (tenant, kind) in uploads.items():
        v = catalog.get_video(video_id)
        state = (v.layout_status, v.boundaries_status, v.text_status)
        if kind == "broken":
            assert state[0] == "error" and v.layout_error_details["run_id"], (tenant, kind, state)
            continue
        assert state[:2] == ("done", "done") and state[2] in ("done", "review"), (tenant, kind, state)
        got = read_captions(
            store.get_gunzip_file(VideoKeys(v.tenant_id, v.id).captions_db(), tmp_path / f"{v.id}.db")
        )
        expected = truth.captions if kind == "short_bottom" else []
        assert [c.text for c in got] == [c.text for c in expected], (tenant, kind)

    instance = dg.DagsterInstance.from_config(str(setup.home))
    runs = [r for r in instance.get_runs() if r.job_name in ("layout_job", "captions_job")]
    per_video_job = Counter((r.tags[VIDEO_TAG], r.job_name) for r in runs)
    for video_id, (_, kind) in uploads.items():
        assert per_video_job[(video_id, "layout_job")] == 1
        assert per_video_job[(video_id, "captions_job")] == (0 if kind == "broken" else 1)
    for run in runs:
        tier = run.tags[TIER_TAG]
        assert tier == TENANTS[uploads[run.tags[VIDEO_TAG]][0]]
        # fresh work: the tier's base priority (aging only lifts runs that wait for hours)
        assert run.tags[PRIORITY_TAG] == str(TIER_BASE[tier])
    instance.dispose()
