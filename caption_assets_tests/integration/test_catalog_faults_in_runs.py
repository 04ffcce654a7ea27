"""The catalog failing in the middle of a real materialization (the embedded-Postgres catalog,
in-process compute on generated videos), and what the assets and the run-failure sensor make of
it (``defs/assets/runtime.py``: ``video_step``, ``status_guard``):

- a connection the database drops during ``begin_processing`` is retried inside the catalog: the
  step never notices;
- the catalog unavailable for ``begin_processing`` (its own retries spent) is transient: the step
  is retried by its RetryPolicy, with the status kept, and completes;
- the write of the error status failing does not hide the error that failed the step, whether
  permanent (no retry) or transient (after the last retry); the run-failure sensor then settles
  the video with that original error;
- the metadata write failing: retried when transient, the video's error when permanent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg
import psycopg
import pytest

from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.errors import CatalogUnavailableError, PermanentError, StoreUnavailableError
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.sensors.run_status import run_failures_to_catalog
from caption_assets_tests.fixtures import faults
from caption_assets_tests.fixtures.faults import gate, no_retry_delay, scripted_catalog  # noqa: F401 - fixtures
from caption_assets_tests.fixtures.runs import observed

pytestmark = pytest.mark.integration

LAYOUT = [full_frames, layout_db]
# what full_frames says of the not_a_video fixture
NOT_A_VIDEO = "video.mp4: not a video file"
CATALOG_DOWN = "catalog set layout_status=error for video: connection refused (after 4 attempts)"


def _events(result: Any, kind: str) -> list[Any]:
    return [e for e in result.all_events if e.event_type_value == kind]


def _step_failure(result: Any, step: str) -> str:
    (failure,) = [e for e in _events(result, "STEP_FAILURE") if e.step_key == step]
    error = failure.event_specific_data.error
    # the whole chain: a dg.Failure's description and the exception it was raised from
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def _error_writes(catalog: faults.ScriptedCatalog) -> list[Any]:
    return [args for args, _ in catalog.called("set_status") if args[2] == "error"]


def _settle_with_the_sensor(platform: Any, run_id: str) -> None:
    """The run-failure sensor's evaluation of that run, with the catalog answering again."""
    (failure,) = platform.instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failures_to_catalog",
        dagster_instance=platform.instance,
        dagster_run=platform.instance.get_run_by_id(run_id),
        dagster_event=failure.dagster_event,
        resources={"catalog": platform.resources["catalog"]},
    ).for_run_failure()
    run_failures_to_catalog(context)


class DropsConnectionOnce(PostgresCatalog):
    """The adapter whose database drops the connection the first time ``op`` runs (what libpq
    reports when the server goes away mid-call), inside the adapter's retry policy."""

    def __init__(self, dsn: str, op: str) -> None:
        super().__init__(dsn, min_size=1, max_size=4, retry_initial_wait=0.01, retry_max_wait=0.05)
        self._op = op
        self.dropped = 0

    def _run(self, op: str, subject: str, work: Callable[[Any], Any]) -> Any:
        def dropping(session: Any) -> Any:
            if op.startswith(self._op) and not self.dropped:
                self.dropped += 1
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return work(session)

        return super()._run(op, subject, dropping)


def test_a_connection_dropped_in_begin_processing_is_retried_inside_the_catalog(
    platform, rendered, catalog_dsn, scripted_catalog
) -> None:
    video_id = platform.upload(rendered("short_bottom").path)
    flaky = DropsConnectionOnce(catalog_dsn, "begin_processing")
    try:
        result = faults.materialize(platform, LAYOUT, video_id, catalog=scripted_catalog(flaky))
    finally:
        flaky.close()

    assert result.success
    assert flaky.dropped == 1
    assert _events(result, "STEP_UP_FOR_RETRY") == []  # the step never saw it
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "done" and row.layout_error_details is None
    assert row.processing_attempt == 0  # not counted as a retry of the video


def test_begin_processing_unavailable_once_is_retried_by_the_step_and_completes(
    platform, rendered, scripted_catalog, no_retry_delay
) -> None:
    video_id = platform.upload(rendered("short_bottom").path)
    catalog = faults.ScriptedCatalog(platform.catalog)
    catalog.fail(
        "begin_processing",
        CatalogUnavailableError("catalog begin_processing layout_status failed after 4 attempts"),
    )

    result = faults.materialize(platform, LAYOUT, video_id, catalog=scripted_catalog(catalog))

    assert result.success
    assert [e.step_key for e in _events(result, "STEP_UP_FOR_RETRY")] == ["full_frames"]
    assert len(catalog.raised) == 1
    assert _error_writes(catalog) == []  # a transient failure with retries left keeps the status
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "done" and row.layout_error_details is None


def test_a_failed_error_write_does_not_hide_the_original_error(
    platform, not_a_video, scripted_catalog, no_retry_delay
) -> None:
    video_id = platform.upload(not_a_video)
    catalog = faults.ScriptedCatalog(platform.catalog)
    catalog.fail(
        "set_status",
        CatalogUnavailableError(CATALOG_DOWN),
        times=4,  # down for as long as the step's attempts could last
        when=lambda _v, _c, status, *_: status == "error",
    )

    result = faults.materialize(platform, LAYOUT, video_id, catalog=scripted_catalog(catalog))

    assert not result.success
    assert len(catalog.raised) == 1  # the write was tried, and failed
    failure = _step_failure(result, "full_frames")
    assert f"full_frames failed: {NOT_A_VIDEO}" in failure
    assert CATALOG_DOWN not in failure and "CatalogUnavailableError" not in failure
    # the user's mistake is one line on the run page, no traceback chain; its class is metadata
    (event,) = [e for e in _events(result, "STEP_FAILURE") if e.step_key == "full_frames"]
    assert event.event_specific_data.error.cause is None
    assert event.event_specific_data.user_failure_data.metadata["error_class"].value == "BadVideoError"
    assert _events(result, "STEP_UP_FOR_RETRY") == []  # still the bad video's: permanent
    logs = "\n".join(r.user_message for r in platform.instance.all_logs(result.run_id))
    assert f"could not record the error of video {video_id}" in logs
    assert platform.catalog.get_video(video_id).layout_status == "processing"

    _settle_with_the_sensor(platform, result.run_id)

    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    details = row.layout_error_details
    assert details["run_id"] == result.run_id
    assert NOT_A_VIDEO in details["message"] and CATALOG_DOWN not in details["message"]
    assert platform.catalog.acquire_server_lock(video_id, "layout", "next-run", 60).acquired
    # the step could not show its error in the UI; the sensor that recorded it does
    for asset in ("full_frames", "layout_db"):
        seen = observed(platform.instance, asset, video_id)
        assert seen == {"catalog_status": row.status_line(), "layout_error": details["message"]}, asset


def test_a_failed_error_write_after_the_last_retry_re_raises_the_transient_error(
    platform, rendered, gate, scripted_catalog, no_retry_delay
) -> None:
    g, compute = gate
    store_down = StoreUnavailableError("store get_file for video.mp4: endpoint not answering")
    g.fail("full_frames", store_down)
    video_id = platform.upload(rendered("short_bottom").path)
    catalog = faults.ScriptedCatalog(platform.catalog)
    catalog.fail(
        "set_status", CatalogUnavailableError(CATALOG_DOWN), when=lambda _v, _c, status, *_: status == "error"
    )

    result = faults.materialize(
        platform, [full_frames], video_id, catalog=scripted_catalog(catalog), compute=compute
    )

    assert not result.success
    assert len(_events(result, "STEP_UP_FOR_RETRY")) == 3
    assert g.ran == ["full_frames"] * 4
    assert len(catalog.raised) == 1  # the write after the last attempt
    failure = _step_failure(result, "full_frames")
    assert str(store_down) in failure and CATALOG_DOWN not in failure

    _settle_with_the_sensor(platform, result.run_id)

    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    details = row.layout_error_details
    assert details["run_id"] == result.run_id and "full_frames" in details["message"]
    # the error the retries ended on, not Dagster's "Exceeded max_retries of 3" wrapper, and
    # without the qualified class name Dagster's message starts with
    assert f"failed: full_frames: {store_down}. Retry" in details["message"], details["message"]


@pytest.mark.parametrize("kind", ["transient", "permanent"])
def test_a_failed_metadata_write(platform, rendered, scripted_catalog, no_retry_delay, kind: str) -> None:
    """Transient: full_frames is retried and the metadata recorded. Permanent: the video's error
    names the refusal and nothing retries it."""
    video = rendered("short_bottom")
    video_id = platform.upload(video.path)
    catalog = faults.ScriptedCatalog(platform.catalog)
    refusal = (
        CatalogUnavailableError("catalog record_metadata failed after 4 attempts: timeout")
        if kind == "transient"
        else PermanentError("catalog record_metadata: the catalog refused the metadata (CA009)")
    )
    catalog.fail("record_metadata", refusal)

    result = faults.materialize(platform, [full_frames], video_id, catalog=scripted_catalog(catalog))

    retried = [e.step_key for e in _events(result, "STEP_UP_FOR_RETRY")]
    row = platform.catalog.get_video(video_id)
    if kind == "transient":
        assert result.success and retried == ["full_frames"]
        assert (row.width, row.height) == (video.truth.width, video.truth.height)
        assert row.layout_status == "processing" and row.layout_error_details is None
    else:
        assert not result.success and retried == []
        assert row.layout_status == "error"
        assert str(refusal) in row.layout_error_details["message"]
        assert row.width is None
