"""Partition keys that are not video ids are removed at the next tick and logged once; a run
submitted for one fails at submission with one line."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest

from caption_assets.app.platform import DAGSTER_PG_URL_ENV
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.run_coordinator import refusal
from caption_assets.defs.sensors.partitions import invalid_partition_keys
from caption_assets_tests.fixtures.daemon import daemon_setup

pytestmark = pytest.mark.integration


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = invalid_partition_keys(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:  # what the daemon does with them
        assert isinstance(request, dg.DeleteDynamicPartitionsRequest)
        for key in request.partition_keys:
            instance.delete_dynamic_partition(VIDEOS_PARTITION_NAME, key)
    return result


def _removed(result: dg.SensorResult) -> list[str]:
    return [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]


def test_non_uuid_keys_are_removed_once(pg_server, catalog_dsn, tmp_path, monkeypatch) -> None:
    # the platform's instance storage (Postgres: partition ids are never reused after a delete)
    setup = daemon_setup(pg_server, catalog_dsn, tmp_path)
    monkeypatch.setenv(DAGSTER_PG_URL_ENV, setup.dagster_url)
    video = str(uuid.uuid4())
    with dg.DagsterInstance.from_config(str(setup.home)) as instance:
        instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, [video, "hello", video.upper()])
        first = _tick(instance, None)
        assert sorted(_removed(first)) == sorted(["hello", video.upper()])
        assert instance.get_dynamic_partitions(VIDEOS_PARTITION_NAME) == [video]
        # the next tick reads only keys added since: nothing is removed (or logged) twice
        second = _tick(instance, first.cursor)
        assert _removed(second) == []
        instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, ["typed by hand"])
        assert _removed(_tick(instance, second.cursor)) == ["typed by hand"]


def test_run_of_a_non_uuid_partition_is_refused_in_one_line() -> None:
    assert refusal({"dagster/partition": str(uuid.uuid4())}) is None
    assert refusal({}) is None
    reason = refusal({"dagster/partition": "hello"})
    assert reason is not None and "\n" not in reason and "'hello'" in reason
