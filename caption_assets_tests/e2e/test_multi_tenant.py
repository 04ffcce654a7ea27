"""3 tenants of different tiers x 4 uploads each through a real daemon with the queued run
coordinator: every video ends with the right status, every run carries its tier's priority; the
operations assets over that history count what the catalog holds (the tables are printed: run
with ``-s`` to read them)."""

import time
from collections import Counter

import dagster as dg
import pytest

from caption_assets.app.platform import DAGSTER_PG_URL_ENV, upload_video
from caption_assets.core.config import Settings
from caption_assets.core.health.tables import read_parquet, table_key
from caption_assets.core.keys import VideoKeys
from caption_assets.core.policy.priority import PRIORITY_TAG, TIER_BASE, TIER_TAG, VIDEO_TAG
from caption_assets.core.processing.captions_db import read_captions
from caption_assets.core.store.local import LocalStore
from caption_assets.defs.assets.operations import OPERATIONS_ASSETS
from caption_assets.defs.definitions import build_resources
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
        # a video's status is set inside its last step: its run still has to record its end,
        # and the operations tables read ended runs only
        with dg.DagsterInstance.from_config(str(setup.home)) as watching:
            while time.monotonic() < deadline and not _flow_runs_ended(watching):
                assert daemon.poll() is None, log_path.read_text()[-3000:]
                time.sleep(1)

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
    try:
        _operations_over_the_history(instance, setup.data_dir, catalog_dsn, store, catalog, uploads)
    finally:
        instance.dispose()


def _flow_runs_ended(instance: dg.DagsterInstance) -> bool:
    runs = [r for r in instance.get_runs() if r.job_name in ("layout_job", "captions_job")]
    return bool(runs) and all(r.is_finished for r in runs)


def _operations_over_the_history(instance, data_dir, catalog_dsn, store, catalog, uploads) -> None:
    """The operations group materialized on the daemon's instance, as the daily schedule does."""
    settings = Settings(data_dir=data_dir, database_url=catalog_dsn)
    result = dg.materialize(OPERATIONS_ASSETS, instance=instance, resources=build_resources(settings))
    assert result.success
    tables = {
        name: read_parquet(store.get_bytes(table_key(name)))
        for name in ("run_health", "step_durations", "tenant_usage", "caption_quality")
    }
    for name, frame in tables.items():
        print(f"\n{name}\n{frame.to_markdown(index=False)}")

    usage = tables["tenant_usage"].set_index("tenant")
    for tenant, tier in TENANTS.items():
        ids = [v for v, (t, _) in uploads.items() if t == tenant]
        videos = [catalog.get_video(v) for v in ids]
        row = usage.loc[tenant]
        assert (row["tier"], row["uploads"]) == (tier, len(ids))
        assert row["errors"] == sum(v.layout_status == "error" for v in videos) == KINDS.count("broken")
        assert row["captions_done"] == sum(v.text_status in ("done", "review") for v in videos)
        minutes = sum(v.duration_seconds or 0 for v in videos) / 60
        assert row["minutes_processed"] == pytest.approx(minutes, abs=1e-3)
    health = tables["run_health"].groupby("job")[["runs", "failed_input"]].sum()
    # one layout run per upload, the broken file's a permanent input error; a captions run per video
    assert health.loc["layout_job"].tolist() == [len(uploads), len(TENANTS) * KINDS.count("broken")]
    assert health.loc["captions_job", "runs"] == len(TENANTS) * (len(KINDS) - KINDS.count("broken"))
