"""The upload webhook over HTTP: uvicorn on 127.0.0.1, the embedded Postgres catalog, and a real
Dagster instance whose runs queue (no daemon, so submitted runs stay QUEUED and cost nothing; the
instance's database is dropped with them)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from caption_assets.app.webhook import (
    PATH,
    RateLimit,
    RunSubmitter,
    WebhookConfig,
    WebhookConfigError,
    create_app,
)
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.policy.priority import (
    BASE_TAG,
    PRIORITY_TAG,
    TENANT_TAG,
    TIER_TAG,
    VIDEO_TAG,
    PriorityPolicy,
    priority_for,
)
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.resources.catalog import CatalogResource, close_catalogs
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.runs import RUN_KEY_TAG, layout_run_key
from caption_assets.defs.sensors.uploads import new_uploads
from caption_assets_tests.fixtures.webhook import (
    closed_port,
    insert_payload,
    new_upload,
    queued_instance,
    served,
)

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-" + uuid.uuid4().hex
OLD_SECRET = "old-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def module_catalog(pg_server) -> Iterator[tuple[str, PostgresCatalog]]:
    name = pg_server.create_database()
    dsn = pg_server.url(name)
    cat = PostgresCatalog(dsn, min_size=1, max_size=20)
    try:
        yield dsn, cat
    finally:
        cat.close()
        close_catalogs()
        pg_server.drop_database(name)


@pytest.fixture(scope="module")
def instance(pg_server) -> Iterator[dg.DagsterInstance]:
    with queued_instance(pg_server) as inst:
        yield inst


@pytest.fixture(scope="module")
def submitter(instance) -> RunSubmitter:
    s = RunSubmitter(lambda: instance)
    assert s.warm()
    return s


def _config(**kw: Any) -> WebhookConfig:
    return WebhookConfig(secrets=(SECRET, OLD_SECRET), **kw)


@pytest.fixture(scope="module")
def base_url(module_catalog, submitter) -> Iterator[str]:
    app = create_app(_config(), module_catalog[1], submitter)
    try:
        with served(app) as url:
            yield url
    finally:
        app.state.deliveries.close()  # its writer thread, after the module's last delivery


def _post(url: str, body: Any, secret: str | None = SECRET, **headers: str) -> httpx.Response:
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers.setdefault("Content-Type", "application/json")
    return httpx.post(url + PATH, content=content, headers=headers, timeout=30)


def _runs_of(instance: dg.DagsterInstance, video_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={VIDEO_TAG: video_id})))


# ---- authentication -------------------------------------------------------------------------


def test_missing_secret_is_401_and_starts_nothing(base_url, module_catalog, instance) -> None:
    video_id, _ = new_upload(module_catalog[1], "auth-missing")
    r = _post(base_url, insert_payload(video_id), secret=None)
    assert r.status_code == 401
    assert _runs_of(instance, video_id) == []
    assert module_catalog[1].claim_pending_uploads(limit=1, video_ids=[video_id]), "row left unclaimed"


@pytest.mark.parametrize("header", ["Bearer wrong", f"Bearer {SECRET}x", f"Basic {SECRET}", "Bearer", SECRET])
def test_wrong_secret_is_401(base_url, module_catalog, instance, header) -> None:
    video_id, _ = new_upload(module_catalog[1], "auth-wrong")
    r = httpx.post(base_url + PATH, json=insert_payload(video_id), headers={"Authorization": header})
    assert r.status_code == 401
    assert SECRET not in r.text and "wrong" not in r.text
    assert _runs_of(instance, video_id) == []


def test_valid_secret_and_the_rotated_one_are_accepted(base_url, module_catalog, instance) -> None:
    for secret in (SECRET, OLD_SECRET):
        video_id, _ = new_upload(module_catalog[1], "auth-ok")
        r = _post(base_url, insert_payload(video_id), secret=secret)
        assert r.status_code == 202, r.text
        assert [run.run_id for run in _runs_of(instance, video_id)] == [r.json()["run_id"]]


def test_the_service_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(WebhookConfigError):
        WebhookConfig.from_env({})
    with pytest.raises(WebhookConfigError):
        WebhookConfig.from_env({"CAPTION_ASSETS_WEBHOOK_SECRET": " , "})
    config = WebhookConfig.from_env({"CAPTION_ASSETS_WEBHOOK_SECRET": f"{SECRET}, {OLD_SECRET}"})
    assert config.secrets == (SECRET, OLD_SECRET)
    assert SECRET not in repr(config) and SECRET not in str(config)


# ---- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        ({"table": "videos", "schema": "captionacc", "record": {}}, "type"),
        ({"type": "INSERT", "schema": "captionacc", "record": {}}, "table"),
        ({"type": "INSERT", "table": "videos", "schema": "captionacc"}, "record"),
        ({"type": "INSERT", "table": "videos", "schema": "captionacc", "record": {}}, "record.id"),
        (
            {"type": "INSERT", "table": "videos", "schema": "captionacc", "record": {"id": "x' or 1=1"}},
            "record.id",
        ),
        ({"type": "INSERT", "table": "videos", "schema": "captionacc", "record": {"id": 42}}, "record.id"),
    ],
)
def test_invalid_payload_is_422_naming_the_field(base_url, body, field) -> None:
    r = _post(base_url, body)
    assert r.status_code == 422
    assert r.json()["field"] == field


@pytest.mark.parametrize(
    "change",
    [{"type": "UPDATE"}, {"type": "DELETE", "record": None}, {"table": "tenants"}, {"schema": "public"}],
)
def test_other_events_are_ignored(base_url, module_catalog, instance, change) -> None:
    video_id, _ = new_upload(module_catalog[1], "ignored")
    r = _post(base_url, {**insert_payload(video_id), **change})
    assert r.status_code == 200
    assert "ignored" in r.json()
    assert _runs_of(instance, video_id) == []


def test_unknown_deleted_and_inactive_are_ignored(base_url, module_catalog, instance) -> None:
    catalog = module_catalog[1]
    r = _post(base_url, insert_payload(str(uuid.uuid4())))
    assert (r.status_code, r.json()) == (200, {"ignored": "unknown video"})
    deleted, _ = new_upload(catalog, "refused-deleted")
    catalog.mark_deleted(deleted)
    assert _post(base_url, insert_payload(deleted)).json() == {"ignored": "video deleted"}
    inactive, tenant_id = new_upload(catalog, "refused-inactive")
    catalog.set_tenant_active(tenant_id, False)
    assert _post(base_url, insert_payload(inactive)).json() == {"ignored": "tenant inactive"}
    assert _runs_of(instance, deleted) == [] and _runs_of(instance, inactive) == []


def test_body_over_the_limit_is_413(module_catalog, submitter) -> None:
    app = create_app(_config(max_body_bytes=512), module_catalog[1], submitter)
    with served(app) as url:
        big = insert_payload(str(uuid.uuid4()), padding="x" * 2000)
        assert _post(url, big).status_code == 413
        # chunked, without a Content-Length: the stream is cut at the limit as well
        chunks = iter([json.dumps(big).encode()[i : i + 100] for i in range(0, 2100, 100)])
        r = httpx.post(url + PATH, content=chunks, headers={"Authorization": f"Bearer {SECRET}"})
        assert r.status_code == 413


# ---- the trigger ----------------------------------------------------------------------------


@pytest.mark.parametrize("tier", ["free", "premium", "enterprise"])
def test_insert_submits_one_run_with_the_sensors_tags_and_the_tiers_priority(
    base_url, module_catalog, instance, tier
) -> None:
    video_id, tenant_id = new_upload(module_catalog[1], f"trigger-{tier}", tier=tier)
    r = _post(base_url, insert_payload(video_id))
    assert r.status_code == 202, r.text
    run = instance.get_run_by_id(r.json()["run_id"])
    assert run is not None and run.job_name == "layout_job"
    assert run.status == dg.DagsterRunStatus.QUEUED
    assert run.remote_job_origin is not None and run.remote_job_origin.location_name == "caption_assets"
    expected = priority_for(tier, datetime.now(UTC), datetime.now(UTC), PriorityPolicy())
    assert run.tags[TENANT_TAG] == tenant_id
    assert run.tags[TIER_TAG] == tier
    assert run.tags[BASE_TAG] == str(expected.base)
    assert run.tags[PRIORITY_TAG] == str(expected.value)
    assert run.tags["dagster/partition"] == video_id
    assert run.tags[RUN_KEY_TAG] == layout_run_key(video_id, 0)
    assert instance.has_dynamic_partition(VIDEOS_PARTITION_NAME, video_id)


def test_forged_tenant_and_tier_in_the_payload_are_ignored(base_url, module_catalog, instance) -> None:
    catalog = module_catalog[1]
    victim = catalog.ensure_tenant("forge-victim", tier="enterprise")
    video_id, tenant_id = new_upload(catalog, "forge-free", tier="free")
    forged = insert_payload(video_id, tenant_id=victim.id, tier="enterprise", layout_status="wait")
    r = _post(base_url, forged)
    assert r.status_code == 202
    run = instance.get_run_by_id(r.json()["run_id"])
    assert run is not None
    assert (run.tags[TENANT_TAG], run.tags[TIER_TAG]) == (tenant_id, "free")
    assert run.tags[BASE_TAG] == "50"


def test_replayed_payload_starts_no_second_run(base_url, module_catalog, instance) -> None:
    video_id, _ = new_upload(module_catalog[1], "replay")
    first = _post(base_url, insert_payload(video_id))
    assert first.status_code == 202
    for _ in range(3):
        again = _post(base_url, insert_payload(video_id))
        assert again.status_code == 200
        assert again.json()["run_id"] == first.json()["run_id"]
    assert len(_runs_of(instance, video_id)) == 1


def test_rate_limits_answer_429_with_retry_after(module_catalog, submitter, instance) -> None:
    catalog = module_catalog[1]
    # per address: the third request within the minute is refused before anything is read
    app = create_app(_config(address_limit=RateLimit(2, 60.0)), catalog, submitter)
    with served(app) as url:
        codes = [
            _post(url, {"type": "UPDATE", "table": "videos", "schema": "captionacc", "record": {}})
            for _ in range(3)
        ]
        assert [c.status_code for c in codes] == [200, 200, 429]
        assert int(codes[2].headers["Retry-After"]) >= 1
    # per tenant (the catalog's tenant, not the payload's): another tenant is not held up
    app = create_app(_config(tenant_limit=RateLimit(1, 3600.0)), catalog, submitter)
    with served(app) as url:
        a1, _ = new_upload(catalog, "rate-a")
        a2, _ = new_upload(catalog, "rate-a")
        b1, _ = new_upload(catalog, "rate-b")
        assert _post(url, insert_payload(a1)).status_code == 202
        limited = _post(url, insert_payload(a2))
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert _post(url, insert_payload(b1)).status_code == 202
        assert _runs_of(instance, a2) == []
        # the limited upload is still unclaimed: the sensor takes it
        assert [p.video_id for p in catalog.claim_pending_uploads(limit=1, video_ids=[a2])] == [a2]


def test_dagster_unreachable_is_503_and_the_claim_goes_back_to_the_sensor(
    module_catalog, instance, tmp_path: Path
) -> None:
    dsn, catalog = module_catalog
    port = closed_port()
    dead_url = f"postgresql+psycopg2://nobody:x@127.0.0.1:{port}/dagster"

    def unreachable() -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(
            str(_write_yaml(tmp_path, dead_url)),
        )

    _drain(catalog)
    app = create_app(_config(submit_timeout_seconds=1.0), catalog, RunSubmitter(unreachable))
    video_id, _ = new_upload(catalog, "dagster-down", tier="premium")
    with served(app) as url:
        # the service came up although the orchestrator behind it is down, and says it is alive
        assert httpx.get(url + "/healthz").json() == {"ok": True}
        r = _post(url, insert_payload(video_id))
        assert r.status_code == 503
        assert "Retry-After" in r.headers
        # the claim goes back (when Dagster's own connection retries give up): the next sensor
        # tick requests the run, without waiting for the repair's grace
        resources = _sensor_resources(dsn, tmp_path)
        deadline = time.monotonic() + 90
        requested: list[str | None] = []
        while not requested:
            assert time.monotonic() < deadline, "the claim was never released"
            result = new_uploads(dg.build_sensor_context(instance=instance, resources=resources))
            requested = [req.partition_key for req in result.run_requests or []]
            if not requested:
                time.sleep(0.2)  # polling the catalog with a deadline
        # the outage is remembered: the next delivery is refused at once, nothing claimed
        other, _ = new_upload(catalog, "dagster-down", tier="premium")
        assert _post(url, insert_payload(other)).status_code == 503
        assert _runs_of(instance, other) == []
    assert requested == [video_id]
    assert _runs_of(instance, video_id) == []


def _drain(catalog: PostgresCatalog) -> None:
    """Claim what earlier tests of the module left waiting, so a sensor tick sees only this test's rows."""
    while catalog.claim_pending_uploads(limit=1000):
        pass


def _write_yaml(tmp_path: Path, url: str) -> Path:
    home = tmp_path / "dead_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_url: " + url + "\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
    )
    return home


def _sensor_resources(dsn: str, tmp_path: Path, batch: int = 100) -> dict[str, Any]:
    return {
        "catalog": CatalogResource(database_url=dsn, data_dir=str(tmp_path)),
        "settings": PlatformSettings(sensor_batch_size=batch),
    }


def test_the_secret_never_appears_in_logs_or_answers(module_catalog, submitter, caplog, capfd) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    app = create_app(_config(), module_catalog[1], submitter)
    with served(app) as url:
        video_id, _ = new_upload(module_catalog[1], "no-leak")
        answers = [
            _post(url, insert_payload(video_id), secret=SECRET + "nope"),
            _post(url, insert_payload(video_id), secret=SECRET),
            _post(url, b"{bad", secret=OLD_SECRET),
            _post(url, insert_payload(video_id), secret=None, **{"X-Debug": "1"}),
        ]
        metrics = httpx.get(url + "/metrics").text
    assert [a.status_code for a in answers] == [401, 202, 422, 401]
    out, errors = capfd.readouterr()
    assert caplog.records, "the service logs its requests"
    for text in [
        caplog.text,
        out,
        errors,
        metrics,
        *(a.text for a in answers),
        *(str(a.headers) for a in answers),
    ]:
        assert SECRET not in text and OLD_SECRET not in text
    assert 'caption_assets_webhook_rejections_total{reason="unauthorized"} 2' in metrics


def test_healthz(base_url) -> None:
    assert httpx.get(base_url + "/healthz").json() == {"ok": True}


# ---- the race with the sensor ---------------------------------------------------------------


@pytest.mark.load
def test_webhook_and_sensor_racing_for_50_uploads_start_exactly_50_runs(
    module_catalog, instance, submitter, tmp_path: Path
) -> None:
    dsn, catalog = module_catalog
    _drain(catalog)
    uploads = [new_upload(catalog, f"race-{i % 5}", tier=("free", "premium")[i % 2])[0] for i in range(50)]
    app = create_app(
        _config(address_limit=RateLimit(10000), tenant_limit=RateLimit(10000), submit_timeout_seconds=60.0),
        catalog,
        submitter,
    )
    resources = _sensor_resources(dsn, tmp_path, batch=4)
    start = threading.Barrier(2)
    webhook_done = threading.Event()
    sensor_requests: list[dg.RunRequest] = []

    def sensor_loop() -> None:
        start.wait()
        while True:
            result = new_uploads(dg.build_sensor_context(instance=instance, resources=resources))
            sensor_requests.extend(result.run_requests or [])
            if not result.run_requests and webhook_done.is_set():
                return

    with served(app) as url, httpx.Client(timeout=60, limits=httpx.Limits(max_connections=50)) as client:

        def post(video_id: str) -> httpx.Response:
            return client.post(
                url + PATH, json=insert_payload(video_id), headers={"Authorization": f"Bearer {SECRET}"}
            )

        sensor = threading.Thread(target=sensor_loop)
        sensor.start()
        try:
            with ThreadPoolExecutor(max_workers=50) as pool:
                start.wait()
                answers = list(pool.map(post, uploads))
        finally:
            webhook_done.set()
            sensor.join(timeout=120)
    assert not sensor.is_alive()
    assert {a.status_code for a in answers} <= {200, 202}, [a.text for a in answers if a.status_code >= 300]
    by_webhook = {v for v, a in zip(uploads, answers) if a.status_code == 202}
    by_sensor = [r.partition_key for r in sensor_requests]
    assert len(by_sensor) == len(set(by_sensor))
    assert by_webhook.isdisjoint(by_sensor)
    assert by_webhook | set(by_sensor) == set(uploads)
    assert len(by_webhook) + len(by_sensor) == 50
    webhook_runs = [run for v in uploads for run in _runs_of(instance, v)]
    assert len(webhook_runs) == len(by_webhook)
