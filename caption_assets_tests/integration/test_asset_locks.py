"""The locks the captions assets hold, watched from a person's side while a real materialization
runs: compute stops mid-step at the test's gate (the real in-process steps otherwise), the
catalog is the embedded Postgres, and the person asks for the web app's client lock.

- while ``cropped_frames`` and while ``captions_db`` compute, the person is refused both locks
  (layout and captions), told the run holds them;
- after the run succeeds or fails in either step the person gets both locks; terminated in
  either step, they are free the moment the interrupted step lets go, and the run ends canceled
  (the step is not retried);
- a run that finds the person's lock waits for it, without touching the video's status, and
  goes on once the person lets go."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import dagster as dg
import pytest

from caption_assets.core.catalog.base import LockResult
from caption_assets.core.errors import BadVideoError
from caption_assets.defs.assets.captions import captions_db, cropped_frames
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.sensors.run_status import run_cancellations_to_catalog
from caption_assets_tests.fixtures.faults import (  # noqa: F401 - fixtures
    DEADLINE_SECONDS,
    Background,
    ScriptedCatalog,
    gate,
    materialize,
    no_retry_delay,
    scripted_catalog,
)

pytestmark = pytest.mark.integration

DATABASES = ("layout", "captions")
PERSON = "editor@web"
# the compute step of each captions asset
STEPS = {"cropped_frames": "cropped_frames", "captions_db": "captions"}


def _captions_run(platform: Any, video_id: str, **resources: Any) -> Any:
    return materialize(platform, [cropped_frames, captions_db], video_id, **resources)


def _approved_video(platform: Any, rendered: Any) -> str:
    """A video whose layout is done and approved (the tenant auto-approves)."""
    video_id = platform.upload(rendered("short_bottom").path)
    assert materialize(platform, [full_frames, layout_db], video_id).success
    return video_id


def _person_tries(platform: Any, video_id: str) -> dict[str, LockResult]:
    """The web app's annotation session asking for each lock; one it got is given back."""
    tried = {}
    for database in DATABASES:
        tried[database] = result = platform.catalog.acquire_client_lock(video_id, database, PERSON, 60)
        if result.acquired:
            platform.catalog.release_client_lock(video_id, database, PERSON)
    return tried


def _assert_person_gets_both(platform: Any, video_id: str) -> None:
    for database in DATABASES:
        got = platform.catalog.acquire_client_lock(video_id, database, PERSON, 60)
        assert got.acquired, f"{database} lock still held by {got.holder}"


def test_a_person_is_refused_both_locks_during_both_steps_and_gets_them_after(
    platform, rendered, gate
) -> None:
    g, compute = gate
    video_id = _approved_video(platform, rendered)
    g.hold("cropped_frames", "captions")
    seen: dict[str, dict[str, LockResult]] = {}

    def person() -> None:
        for step in ("cropped_frames", "captions"):
            g.wait_entered(step)
            seen[step] = _person_tries(platform, video_id)
            g.release(step)

    with Background(person, cleanup=g.release_all):
        result = _captions_run(platform, video_id, compute=compute)

    assert result.success
    for step in ("cropped_frames", "captions"):
        for database in DATABASES:
            refused = seen[step][database]
            assert not refused.acquired, f"{database} lock given to a person during {step}"
            assert refused.holder == result.run_id and refused.kind == "server"
    _assert_person_gets_both(platform, video_id)
    row = platform.catalog.get_video(video_id)
    assert (row.boundaries_status, row.text_status) == ("done", "done")


@pytest.mark.parametrize("asset", ["cropped_frames", "captions_db"])
def test_both_locks_are_free_after_a_step_fails(platform, rendered, gate, asset: str) -> None:
    g, compute = gate
    video_id = _approved_video(platform, rendered)
    step = STEPS[asset]
    g.hold(step)
    during: dict[str, LockResult] = {}

    def person() -> None:
        g.wait_entered(step)
        during.update(_person_tries(platform, video_id))
        g.release(step, BadVideoError("decoder gave up at frame 12"))

    with Background(person, cleanup=g.release_all):
        result = _captions_run(platform, video_id, compute=compute)

    assert not result.success
    assert not any(r.acquired for r in during.values())
    _assert_person_gets_both(platform, video_id)
    row = platform.catalog.get_video(video_id)
    failed = ("boundaries_status",) if asset == "cropped_frames" else ("boundaries_status", "text_status")
    for column in failed:
        assert getattr(row, column) == "error"
    assert "decoder gave up at frame 12" in row.boundaries_error_details["message"]


def _canceled_event(instance: dg.DagsterInstance, run_id: str) -> Any:
    (canceled,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_CANCELED)
    return canceled.dagster_event


@pytest.mark.parametrize("asset", ["cropped_frames", "captions_db"])
def test_termination_mid_step_frees_both_locks_at_once(
    platform, rendered, gate, scripted_catalog, no_retry_delay, asset: str
) -> None:
    """Terminated as Dagster terminates a run: marked canceling, then SIGINT to the run's process,
    which Dagster raises into the running step as DagsterExecutionInterruptedError."""
    g, compute = gate
    video_id = _approved_video(platform, rendered)
    step = STEPS[asset]
    g.hold(step)
    assert threading.current_thread() is threading.main_thread()  # Dagster handles signals there
    watched = ScriptedCatalog(platform.catalog)
    interrupted = threading.Event()
    at_release: dict[str, bool] = {}

    def person_at_release(args: tuple[Any, ...], _kwargs: dict[str, Any], released: bool) -> None:
        # the moment the interrupted attempt lets go of a lock (before any retry of the step
        # started), a person asks for it
        _video, database, _holder = args
        interrupted_attempt = g.ran.count(step) == 1
        if interrupted.is_set() and interrupted_attempt and released and database not in at_release:
            got = platform.catalog.acquire_client_lock(video_id, database, PERSON, 60)
            at_release[database] = got.acquired
            if got.acquired:
                platform.catalog.release_client_lock(video_id, database, PERSON)

    watched.observe("release_server_lock", person_at_release)

    def operator() -> None:
        g.wait_entered(step)
        (run,) = platform.instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        platform.instance.report_run_canceling(run)
        interrupted.set()
        os.kill(os.getpid(), signal.SIGINT)

    with Background(operator, cleanup=g.release_all):
        result = _captions_run(platform, video_id, compute=compute, catalog=scripted_catalog(watched))

    assert at_release == {"layout": True, "captions": True}
    # the interrupted step records no outcome of its own
    assert not [call for call in watched.called("set_status") if call[0][2] == "error"]

    run = platform.instance.get_run_by_id(result.run_id)
    # Dagster turns the interrupt of a step that has a RetryPolicy into a retry; a terminated
    # run's step refuses it, so the run ends canceled instead of going on
    assert run.status == dg.DagsterRunStatus.CANCELED, run.status
    assert g.ran.count(step) == 1
    _assert_person_gets_both(platform, video_id)
    column = "boundaries_status" if asset == "cropped_frames" else "text_status"
    context = dg.build_run_status_sensor_context(
        sensor_name="run_cancellations_to_catalog",
        dagster_instance=platform.instance,
        dagster_run=run,
        dagster_event=_canceled_event(platform.instance, run.run_id),
        resources={"catalog": platform.resources["catalog"]},
    )
    run_cancellations_to_catalog(context)
    row = platform.catalog.get_video(video_id)
    assert getattr(row, column) == "error"


def test_a_run_waits_for_a_persons_lock_without_moving_the_status(
    platform, rendered, gate, scripted_catalog
) -> None:
    g, compute = gate
    video_id = _approved_video(platform, rendered)
    before = platform.catalog.get_video(video_id)
    assert platform.catalog.acquire_client_lock(video_id, "captions", PERSON, 60).acquired
    watched = ScriptedCatalog(platform.catalog)
    refused = threading.Event()
    while_waiting: list[tuple[str, str, str | None, bool]] = []

    def run_refused(args: tuple[Any, ...], _kwargs: dict[str, Any], result: LockResult) -> None:
        if not result.acquired:
            row = platform.catalog.get_video(video_id)
            while_waiting.append(
                (row.boundaries_status, row.text_status, result.holder, g.entered("cropped_frames"))
            )
            refused.set()

    watched.observe("acquire_server_lock", run_refused)

    def person() -> None:
        # the person finishes editing once the run was refused their lock, not before
        assert refused.wait(DEADLINE_SECONDS)
        assert platform.catalog.release_client_lock(video_id, "captions", PERSON)

    g.hold("cropped_frames")
    with Background(person, cleanup=g.release_all):
        result = _captions_run(platform, video_id, compute=compute, catalog=scripted_catalog(watched))

    assert result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert while_waiting, "the run was never refused the person's lock"
    unmoved = (before.boundaries_status, before.text_status, PERSON, False)
    assert all(seen == unmoved for seen in while_waiting), while_waiting
    row = platform.catalog.get_video(video_id)
    assert (row.boundaries_status, row.text_status) == ("done", "done")
