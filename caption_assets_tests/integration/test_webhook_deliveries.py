"""The upload webhook's deliveries, recorded where they happen and measured by the operations
group: the webhook served by uvicorn on 127.0.0.1 over the embedded Postgres catalog and a real
Dagster instance whose runs queue; each outcome's delivery lands in ``captionacc.webhook_deliveries``
and ``webhook_availability`` counts them exactly; its check holds the share to 99.9% (WARN below,
ERROR below 99%, a pass with a note when nothing was delivered); a record that cannot be written
changes no answer."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import httpx
import pandas as pd
import psycopg
import pytest

from caption_assets.app import webhook
from caption_assets.app.webhook import PATH, DeliveryLog, RateLimit, RunSubmitter, WebhookConfig, create_app
from caption_assets.core import errors
from caption_assets.core.catalog.deliveries import DELIVERY_OUTCOMES, Delivery, record_deliveries
from caption_assets.core.health.tables import read_parquet, table_key
from caption_assets.defs.assets.operations import platform_records, webhook_availability
from caption_assets_tests.fixtures.webhook import insert_payload, new_upload, queued_instance, served

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def submitter(pg_server) -> Iterator[RunSubmitter]:
    with queued_instance(pg_server) as instance:
        s = RunSubmitter(lambda: instance)
        assert s.warm()
        yield s


def _config(**kw: Any) -> WebhookConfig:
    return WebhookConfig(secrets=(SECRET,), **kw)


def _post(url: str, body: Any, secret: str | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + PATH, content=content, headers=headers, timeout=30)


def _dagster_down() -> Any:
    raise ConnectionError("no Dagster storage")


def _catalog_down() -> Any:
    raise errors.CatalogUnavailableError("no catalog")


def _recorded(dsn: str) -> list[tuple[str, int, str, str | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select outcome, http_status, reason, video_id::text from captionacc.webhook_deliveries "
            "order by received_at, id"
        ).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _measure(platform) -> tuple[dg.ExecuteInProcessResult, pd.DataFrame]:
    result = dg.materialize(
        [platform_records, webhook_availability], instance=platform.instance, resources=platform.resources
    )
    assert result.success
    return result, read_parquet(platform.store.get_bytes(table_key("webhook_availability")))


def _check(result: dg.ExecuteInProcessResult) -> tuple[bool, str, str]:
    (evaluation,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert evaluation.check_name == "webhook_availability"
    return evaluation.passed, evaluation.severity.value, str(evaluation.description)


def _records(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    metadata = result.asset_materializations_for_node("platform_records")[0].metadata
    return {k: v.value for k, v in metadata.items()}


def test_every_outcome_is_recorded_and_counted(platform, catalog_dsn, submitter, monkeypatch) -> None:
    cat = platform.catalog
    started_video, _ = new_upload(cat, "acme")
    limited_video, _ = new_upload(cat, "acme")
    stuck_video, _ = new_upload(cat, "globex")
    unknown_video = str(uuid.uuid4())
    # two deliveries of acme's per hour: the upload and its replay; the next is rate limited
    main = create_app(_config(tenant_limit=RateLimit(2, 3600.0)), cat, submitter)
    dagster_down = create_app(_config(), cat, RunSubmitter(_dagster_down, backoff_seconds=0.0))
    catalog_down = create_app(
        _config(), _catalog_down, submitter, deliveries=DeliveryLog(lambda b: record_deliveries(cat, b))
    )
    apps = (main, dagster_down, catalog_down)
    answers: list[int] = []
    try:
        with served(main) as url:
            first = _post(url, insert_payload(started_video))
            answers.append(first.status_code)
            replay = _post(url, insert_payload(started_video))
            answers.append(replay.status_code)
            assert replay.json()["run_id"] == first.json()["run_id"]
            answers.append(_post(url, insert_payload(limited_video)).status_code)
            answers.append(_post(url, {**insert_payload(started_video), "type": "UPDATE"}).status_code)
            answers.append(_post(url, insert_payload(unknown_video)).status_code)
            answers.append(_post(url, insert_payload(started_video), secret=None).status_code)
            answers.append(_post(url, b"{not json").status_code)
            answers.append(_post(url, b"x" * (70 * 1024)).status_code)

            def defect(body: bytes) -> Any:
                raise RuntimeError("a bug in the handler")

            monkeypatch.setattr(webhook, "parse_payload", defect)
            answers.append(_post(url, insert_payload(started_video)).status_code)
            monkeypatch.undo()
        with served(dagster_down) as url:
            answers.append(_post(url, insert_payload(stuck_video)).status_code)
        with served(catalog_down) as url:
            answers.append(_post(url, insert_payload(unknown_video)).status_code)
        for app in apps:
            assert app.state.deliveries.flush(timeout=30)
    finally:
        for app in apps:
            app.state.deliveries.close()
    assert answers == [202, 200, 429, 200, 200, 401, 422, 413, 500, 503, 503]

    assert _recorded(catalog_dsn) == [
        ("started", 202, "submitted", started_video),
        ("replay", 200, "ignored", started_video),
        ("refused_rate", 429, "tenant_rate", limited_video),
        ("ignored", 200, "ignored", None),  # not an INSERT: the payload's id is not read
        ("ignored", 200, "ignored", unknown_video),
        ("refused_auth", 401, "unauthorized", None),
        ("bad_request", 422, "invalid", None),
        ("bad_request", 413, "too_large", None),
        ("unavailable", 500, "internal", None),
        ("unavailable", 503, "dagster", stuck_video),
        ("unavailable", 503, "catalog", unknown_video),
    ]

    result, table = _measure(platform)
    assert table["deliveries"].sum() == 11 and table["answered"].sum() == 8
    assert {o: int(table[o].sum()) for o in DELIVERY_OUTCOMES} == {
        "started": 1,
        "replay": 1,
        "ignored": 2,
        "refused_auth": 1,
        "refused_rate": 1,
        "bad_request": 2,
        "unavailable": 3,
    }
    if len(table) == 1:  # the deliveries did not straddle midnight UTC
        assert table["availability"].iloc[0] == round(8 / 11, 6)
    assert (table["latency_p95_ms"] >= table["latency_p50_ms"]).all() and (table["latency_p50_ms"] > 0).all()
    passed, severity, description = _check(result)
    assert (passed, severity) == (False, "ERROR")
    assert "72.73% over 11 deliveries" in description
    assert _records(result)["deliveries_added"] == 11


def _batch(dsn_catalog, n: int, status: int) -> None:
    outcome = "started" if status == 202 else "unavailable"
    now = datetime.now(UTC)
    deliveries = [Delivery(now, outcome, "r", status, 5.0, None) for _ in range(n)]
    for start in range(0, n, 500):
        record_deliveries(dsn_catalog, deliveries[start : start + 500])


def test_the_check_warns_and_errs_at_the_thresholds_reading_only_new_deliveries(platform) -> None:
    result, table = _measure(platform)
    assert table.empty
    passed, severity, description = _check(result)
    assert passed and description.endswith("nothing to measure yet (0 deliveries)")

    _batch(platform.catalog, 999, 202)
    _batch(platform.catalog, 1, 503)
    result, _ = _measure(platform)
    assert _check(result)[:2] == (True, "WARN")  # 99.9% exactly: on target
    assert _records(result)["deliveries_added"] == 1000

    _batch(platform.catalog, 1, 503)
    result, _ = _measure(platform)
    assert _check(result)[:2] == (False, "WARN")  # 999 of 1001: 99.80%
    records = _records(result)
    assert (records["deliveries_added"], records["deliveries"]) == (1, 1001)
    # the overlap read the last minute again; each delivery counts once
    assert records["deliveries_read"] == 1001

    _batch(platform.catalog, 9, 503)
    result, table = _measure(platform)
    assert _check(result)[:2] == (False, "ERROR")  # 999 of 1010: 98.91%
    assert table["deliveries"].sum() == 1010 and table["unavailable"].sum() == 11

    full = dg.materialize(
        [platform_records, webhook_availability],
        instance=platform.instance,
        resources=platform.resources,
        run_config={"ops": {"platform_records": {"config": {"full": True}}}},
    )
    assert full.success
    again = read_parquet(platform.store.get_bytes(table_key("webhook_availability")))
    pd.testing.assert_frame_equal(table, again, check_dtype=False)


class _Unrecordable(DeliveryLog):
    """A log whose every record raises (a defect in it, not in the catalog)."""

    def record(self, delivery: Delivery) -> None:
        raise RuntimeError("the record broke")


def _unwritable(batch: list[Delivery]) -> None:
    raise errors.CatalogUnavailableError("the catalog refused the batch")


def test_a_record_that_cannot_be_written_changes_no_answer(platform, catalog_dsn, submitter) -> None:
    cat = platform.catalog
    logs = {
        "written": DeliveryLog(lambda b: record_deliveries(cat, b)),
        "write fails": DeliveryLog(_unwritable, backoff_seconds=0.01, max_backoff_seconds=0.05),
        "record raises": _Unrecordable(_unwritable),
    }
    seen: dict[str, list[tuple[int, list[str]]]] = {}
    try:
        for name, log in logs.items():
            video_id, _ = new_upload(cat, f"tenant-{name.replace(' ', '-')}")
            app = create_app(_config(), cat, submitter, deliveries=log)
            with served(app) as url:
                answers = [
                    _post(url, insert_payload(video_id), secret=None),
                    _post(url, b"[]"),
                    _post(url, {**insert_payload(video_id), "type": "DELETE"}),
                    _post(url, insert_payload(video_id)),
                    _post(url, insert_payload(video_id)),
                ]
            seen[name] = [(r.status_code, sorted(r.json())) for r in answers]
        assert logs["written"].flush(timeout=30)
        assert not logs["write fails"].flush(timeout=0.5)
    finally:
        for log in logs.values():
            log.close(timeout=5)
    expected = [
        (401, ["error"]),
        (422, ["error", "field"]),
        (200, ["ignored"]),
        (202, ["run_id"]),
        (200, ["ignored", "run_id"]),
    ]
    assert seen == {name: expected for name in logs}
    assert logs["write fails"].failed_writes >= 1 and logs["write fails"].written == 0
    assert len(_recorded(catalog_dsn)) == 5  # the working log's only
