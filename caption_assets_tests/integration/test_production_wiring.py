"""``build_definitions(settings)`` with the production adapters, in process: the catalog on
Supabase (the PostgREST stand-in of test_catalog_supabase, backed by the embedded Postgres, every
request checked against the shapes stock supabase-py sends), the store on S3 (SeaweedFS,
signatures checked), compute on Modal (the stand-in of test_modal_compute, whose bodies are the
app's real functions run with ``.local()``, reading the store from the environment as a Modal
container does). Settings come from the environment, as in a deployment.

- ``video_job`` processes an upload end to end: the artifacts are in the bucket under the video's
  keys, the catalog says done, and each step was one Modal call of the configured app;
- ``maintenance_job`` (and the maintenance sensor) repair a video a dead run left in
  ``processing``, through the same Definitions."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import modal
import psycopg
import pytest

from caption_assets.app.platform import upload_video
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.catalog.supabase import SupabaseCatalog
from caption_assets.core.config import Settings
from caption_assets.core.keys import VideoKeys
from caption_assets.core.processing.captions_db import read_captions
from caption_assets.core.store.s3 import S3Store
from caption_assets.defs.definitions import build_definitions
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.resources.catalog import close_catalogs
from caption_assets_tests.fixtures.runs import add_run
from caption_assets_tests.fixtures.seaweed import REGION
from caption_assets_tests.integration.test_catalog_supabase import (  # noqa: F401 - fixtures
    KEY,
    PostgrestStandIn,
    recorded_shapes,
    standin,
)
from caption_assets_tests.recovery.test_modal_compute import StandInModal

pytestmark = pytest.mark.integration

MODAL_APP = "caption-assets-wiring"
VIDEO_ASSETS = ("full_frames", "layout_db", "cropped_frames", "captions_db")


@dataclass
class Production:
    defs: dg.Definitions
    settings: Settings
    instance: dg.DagsterInstance
    modal: StandInModal
    supabase: SupabaseCatalog
    store: S3Store
    postgrest: PostgrestStandIn


@pytest.fixture
def production(
    standin: PostgrestStandIn,
    seaweed_s3: Any,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Production]:
    for name in list(os.environ):
        if name.startswith("CAPTION_ASSETS_") or name.startswith("SUPABASE_"):
            monkeypatch.delenv(name)
    # what a deployment sets (the Modal Secret holds the store's part for the containers)
    for name, value in {
        "CAPTION_ASSETS_CATALOG": "supabase",
        "SUPABASE_URL": standin.url,
        "SUPABASE_SERVICE_ROLE_KEY": KEY,
        "CAPTION_ASSETS_STORE": "s3",
        "CAPTION_ASSETS_S3_BUCKET": s3_bucket,
        "CAPTION_ASSETS_S3_ENDPOINT_URL": seaweed_s3.endpoint,
        "CAPTION_ASSETS_S3_REGION": REGION,
        "AWS_ACCESS_KEY_ID": seaweed_s3.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweed_s3.secret_key,
        "CAPTION_ASSETS_COMPUTE": "modal",
        "CAPTION_ASSETS_MODAL_APP": MODAL_APP,
        "CAPTION_ASSETS_DATA_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    stand_in = StandInModal()
    # the one thing not taken from the settings: Modal's handles (ModalCompute's default lookup)
    monkeypatch.setattr(
        modal.Function,
        "from_name",
        lambda app_name, function_name, environment_name=None: stand_in.lookup(app_name, function_name),
    )
    settings = Settings()
    supabase = SupabaseCatalog(standin.url, KEY)
    with dg.instance_for_test() as instance:
        try:
            yield Production(
                defs=build_definitions(settings),
                settings=settings,
                instance=instance,
                modal=stand_in,
                supabase=supabase,
                store=S3Store(seaweed_s3.client(), s3_bucket),
                postgrest=standin,
            )
        finally:
            supabase.close()
            close_catalogs()


def test_video_job_on_supabase_s3_and_modal(
    production: Production, catalog: PostgresCatalog, rendered, tmp_path
) -> None:
    assert (production.settings.catalog, production.settings.store, production.settings.compute) == (
        "supabase",
        "s3",
        "modal",
    )
    video = rendered("short_bottom")
    video_id = upload_video(production.supabase, production.store, video.path, "acme")
    production.instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, [video_id])

    result = production.defs.resolve_job_def("video_job").execute_in_process(
        instance=production.instance, partition_key=video_id
    )

    assert result.success
    # the catalog the assets wrote is the Supabase one: seen through the stand-in's database
    row = catalog.get_video(video_id)
    assert row is not None
    assert (row.layout_status, row.boundaries_status, row.text_status) == ("done", "done", "done")
    assert row.current_cropped_frames_version == 1
    assert production.postgrest.count("begin_processing") >= 4
    # every step was one call of the configured Modal app, named in its materialization
    calls = production.modal.calls
    assert {step: len(calls[step]) for step in ("full_frames", "layout", "cropped_frames", "captions")} == {
        "full_frames": 1,
        "layout": 1,
        "cropped_frames": 1,
        "captions": 1,
    }
    assert set(production.modal.apps) == {MODAL_APP}
    call_ids = {
        asset: result.asset_materializations_for_node(asset)[0].metadata["compute_call_id"].value
        for asset in VIDEO_ASSETS
    }
    assert call_ids == {
        "full_frames": calls["full_frames"][0].object_id,
        "layout_db": calls["layout"][0].object_id,
        "cropped_frames": calls["cropped_frames"][0].object_id,
        "captions_db": calls["captions"][0].object_id,
    }

    # the artifacts are in the bucket, under the video's keys and nowhere else
    keys = VideoKeys(row.tenant_id, video_id)
    store = production.store
    for key in (keys.video(), keys.layout_db(), keys.captions_db(), keys.captions_srt(), keys.captions_vtt()):
        assert store.exists(key), key
    for prefix in (keys.full_frames_prefix(), keys.thumbnails_prefix(), keys.cropped_frames_prefix(1)):
        assert list(store.list(prefix)), prefix
    everything = list(store.list(f"{row.tenant_id}/"))
    assert everything and all(f"/videos/{video_id}/" in key for key in everything)
    got = read_captions(store.get_gunzip_file(keys.captions_db(), tmp_path / "captions.db"))
    assert [c.text for c in got] == [c.text for c in video.truth.captions]


def _stuck(catalog: PostgresCatalog, catalog_dsn: str, instance: dg.DagsterInstance) -> tuple[str, str]:
    """A video in layout ``processing`` for an hour whose run died holding the layout lock."""
    tenant = catalog.ensure_tenant("acme")
    video_id = _video_row(catalog, tenant.id)
    catalog.begin_processing(video_id, "layout_status")
    dead = add_run(instance, video_id, dg.DagsterRunStatus.FAILURE)
    assert catalog.acquire_server_lock(video_id, "layout", dead.run_id, 600).acquired
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")  # the trigger would set now()
        conn.execute(
            "update captionacc.videos set updated_at = now() - interval '1 hour' where id = %s", (video_id,)
        )
    return video_id, dead.run_id


def _video_row(catalog: PostgresCatalog, tenant_id: str) -> str:
    """A catalog row waiting for its first run (the maintenance never reads the upload)."""
    video_id = str(uuid.uuid4())
    catalog.insert_video(tenant_id, video_id, VideoKeys(tenant_id, video_id).video(), "stuck.mp4", 1000)
    return video_id


@pytest.mark.parametrize("how", ["maintenance_job", "maintenance sensor"])
def test_maintenance_repairs_a_stuck_video_through_the_definitions(
    production: Production, catalog: PostgresCatalog, catalog_dsn: str, how: str
) -> None:
    video_id, dead_run = _stuck(catalog, catalog_dsn, production.instance)
    healthy = _video_row(catalog, catalog.ensure_tenant("acme").id)

    if how == "maintenance_job":
        result = production.defs.resolve_job_def("maintenance_job").execute_in_process(
            instance=production.instance
        )
        assert result.success
        assert result.output_for_node("repair_stuck_work") == 1
    else:
        sensor = production.defs.resolve_sensor_def("maintenance")
        context = dg.build_sensor_context(instance=production.instance, resources=production.defs.resources)
        skipped = sensor(context)
        assert isinstance(skipped, dg.SkipReason)
        assert "repaired 1 stuck videos" in (skipped.skip_message or "")
        assert production.instance.get_runs() == [production.instance.get_run_by_id(dead_run)]

    row = catalog.get_video(video_id)
    assert row is not None and row.layout_status == "error"
    assert row.layout_error_details["run_id"] == dead_run
    assert "no live run owns" in row.layout_error_details["message"]
    assert catalog.get_video(healthy).layout_status == "wait"  # type: ignore[union-attr]
    # the dead run's lock went with it
    assert catalog.acquire_server_lock(video_id, "layout", "next-run", 60).acquired
    assert production.postgrest.count("videos_in_processing") >= 1  # asked through Supabase
