"""Queue aging proves fair (issue 7): 30 free-tier runs queued before a steady stream of enterprise
runs, ONE slot, and every free run starts within the starvation guard's bound.

Everything that decides the order is Dagster's own: a real ``DagsterInstance`` with the queued run
coordinator configured as in the repository's dagster.yaml (but one slot), and
``QueuedRunCoordinatorDaemon.run_iteration`` dequeuing. Only two things are stand-ins: the run
launcher (Dagster's ``MockedRunLauncher``, which records launches; the test marks a launched run
started and, one simulated minute later, finished) and the clock (``now`` is passed explicitly to
``retag_queued_runs`` and the daemon, so hours of queueing take seconds).

The bound. A run queued at ``q`` is re-tagged 100 at most one aging interval after ``q + max_wait``;
from then on only runs at 100 submitted before it can go first (equal priorities keep submission
order), plus the run that holds the slot. So free run ``i`` (0-based, in submission order) starts by

    q + max_wait + aging interval + daemon interval + (i + 1) * run time.

Without the guard a free run's wait has no bound at all: it lasts as long as the enterprise stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import psycopg
import pytest
import yaml
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.test_utils import create_run_for_test, create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import EmptyWorkspaceTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from psycopg import sql

from caption_assets.app.platform import dagster_storage_url
from caption_assets.core.config import repo_root
from caption_assets.core.policy.priority import (
    PRIORITY_TAG,
    SINCE_TAG,
    STARVED_TAG,
    TIER_TAG,
    PriorityPolicy,
    priority_for,
    priority_tags,
)
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.sensors.queue import (
    changed_priority_tags,
    queued_run_aging,
    retag_queued_runs,
    run_since,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEP = timedelta(seconds=30)  # the aging sensor's interval; the daemon iterates as often
RUN_TIME = timedelta(minutes=1)
ENTERPRISE_EVERY = timedelta(minutes=1)  # arrivals as fast as the slot serves: enough to starve
STREAM = timedelta(minutes=90)
HORIZON = timedelta(hours=4)
FREE_RUNS = 30
MAX_WAIT = timedelta(minutes=10)
# the production policy (+1/h, guard at 6 h) with the clock sped up 36x: +1 per 100 s, guard at 10 min
FAST_POLICY = PriorityPolicy(boost_per_hour=36, max_boost=20, max_wait_hours=MAX_WAIT / timedelta(hours=1))


# queued runs must name the job they came from; the stand-in launcher never loads it
LAYOUT_JOB_ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("caption_assets"), "__repository__"),
    "layout_job",
)


def free_run_bound(position: int) -> timedelta:
    return MAX_WAIT + STEP + STEP + (position + 1) * RUN_TIME


def _coordinator_config(max_concurrent_runs: int) -> dict[str, Any]:
    """The repository's run coordinator, per-tenant limits included, with another slot count."""
    coordinator = yaml.safe_load((repo_root() / "dagster.yaml").read_text())["run_coordinator"]
    coordinator["config"]["max_concurrent_runs"] = max_concurrent_runs
    return coordinator


@pytest.fixture
def queue_instance(pg_server) -> Iterator[tuple[dg.DagsterInstance, WorkspaceProcessContext]]:
    """A Dagster instance on the embedded Postgres, as the platform runs it locally (SQLite's
    per-run event databases would make the simulation ten times slower)."""
    database = f"dagster_queue_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    overrides = {
        "storage": {"postgres": {"postgres_url": dagster_storage_url(pg_server.url(database))}},
        "run_coordinator": _coordinator_config(1),
        "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"},
    }
    try:
        with dg.instance_for_test(overrides=overrides) as instance:
            with create_test_daemon_workspace_context(EmptyWorkspaceTarget(), instance) as ctx:
                yield instance, ctx
    finally:
        pg_server.drop_database(database)


def _report(instance: dg.DagsterInstance, run: dg.DagsterRun, event: DagsterEventType) -> None:
    instance.report_dagster_event(
        DagsterEvent(event_type_value=event.value, job_name=run.job_name), run_id=run.run_id
    )


def _submit(
    instance: dg.DagsterInstance,
    ctx: WorkspaceProcessContext,
    tenant: str,
    tier: str,
    since: datetime,
) -> str:
    """What the sensor daemon does with a run request: create the run with the sensor's tags
    (priority at creation), then submit it to the queued run coordinator."""
    tags = {
        **priority_tags(tenant, tier, priority_for(tier, since, since, FAST_POLICY)),
        SINCE_TAG: since.isoformat(),
    }
    run = create_run_for_test(instance, job_name="layout_job", tags=tags, remote_job_origin=LAYOUT_JOB_ORIGIN)
    instance.run_coordinator.submit_run(SubmitRunContext(run, ctx.create_request_context()))
    return run.run_id


@dataclass
class Outcome:
    free_ids: list[str]
    started: dict[str, datetime] = field(default_factory=dict)
    launch_order: list[str] = field(default_factory=list)
    max_in_progress: int = 0
    stopped: datetime = T0

    def free_waits(self) -> list[timedelta | None]:
        """Queue time of each free run until it started; None: still queued when the clock stopped."""
        return [self.started[r] - T0 if r in self.started else None for r in self.free_ids]

    def worst_free_wait(self) -> timedelta:
        """The longest free wait; for a run still queued, at least the time the clock ran."""
        return max(w if w is not None else self.stopped - T0 for w in self.free_waits())


def simulate(
    instance: dg.DagsterInstance,
    ctx: WorkspaceProcessContext,
    policy: PriorityPolicy | None,
    until: datetime = T0 + HORIZON,
) -> Outcome:
    """Step a simulated clock until every free run started (or ``until``): finish runs, enqueue
    the enterprise stream, age the queue (``policy``; None: no aging sensor), let Dagster's
    daemon dequeue."""
    launcher = instance.run_launcher
    free_ids = [_submit(instance, ctx, f"free-{i % 3}", "free", T0) for i in range(FREE_RUNS)]
    outcome = Outcome(free_ids)
    ends: dict[str, datetime] = {}
    now = T0
    with QueuedRunCoordinatorDaemon(interval_seconds=int(STEP.total_seconds())) as daemon:
        while now <= until and not set(free_ids) <= outcome.started.keys():
            for run_id, end in list(ends.items()):
                if end <= now:
                    _report(instance, instance.get_run_by_id(run_id), DagsterEventType.RUN_SUCCESS)
                    del ends[run_id]
            if now - T0 < STREAM and (now - T0) % ENTERPRISE_EVERY == timedelta(0):
                _submit(instance, ctx, "ent-0", "enterprise", now)
            if policy is not None:
                retag_queued_runs(instance, now, policy)
            list(daemon.run_iteration(ctx, fixed_iteration_time=now.timestamp()))
            for run in launcher.queue()[len(outcome.launch_order) :]:
                _report(instance, run, DagsterEventType.RUN_START)
                outcome.started[run.run_id] = now
                outcome.launch_order.append(run.run_id)
                ends[run.run_id] = now + RUN_TIME
            outcome.max_in_progress = max(outcome.max_in_progress, len(ends))
            now += STEP
    outcome.stopped = now
    return outcome


def _summary(outcome: Outcome) -> str:
    waits = outcome.free_waits()
    queued = sum(w is None for w in waits)
    worst = outcome.worst_free_wait()
    return (
        f"worst free wait {'>= ' if queued else ''}{worst} (bound {free_run_bound(FREE_RUNS - 1)}), "
        f"free runs started {FREE_RUNS - queued}/{FREE_RUNS}"
    )


@pytest.mark.slow
def test_aging_with_guard_starts_every_free_run_within_the_bound(queue_instance) -> None:
    instance, ctx = queue_instance
    outcome = simulate(instance, ctx, FAST_POLICY)
    print("with aging:", _summary(outcome))

    assert outcome.max_in_progress == 1
    waits = outcome.free_waits()
    assert all(w is not None for w in waits), _summary(outcome)
    for position, wait in enumerate(waits):
        assert wait is not None and wait <= free_run_bound(position), (position, wait)
    # the guard, not luck: no free run got in before it was starved, and starved ones went in
    # submission order
    assert min(w for w in waits if w is not None) >= MAX_WAIT
    free_launches = [r for r in outcome.launch_order if r in set(outcome.free_ids)]
    assert free_launches == outcome.free_ids
    started_free = instance.get_run_by_id(outcome.free_ids[-1])
    assert started_free is not None and started_free.tags[STARVED_TAG] == "true"
    assert started_free.tags[PRIORITY_TAG] == "100"


@pytest.mark.slow
@pytest.mark.parametrize(
    "policy",
    [None, PriorityPolicy(boost_per_hour=36, max_boost=20, max_wait_hours=None)],
    ids=["no-aging-sensor", "aging-without-guard"],
)
def test_without_the_guard_free_runs_wait_past_the_bound(
    queue_instance, policy: PriorityPolicy | None
) -> None:
    """The same load without the aging sensor (or with aging but no guard: free peaks at 70, below
    a fresh enterprise run's 90) starves free runs for as long as the enterprise stream lasts."""
    instance, ctx = queue_instance
    # past the worst free run's bound there is nothing more to learn: stop the clock there
    outcome = simulate(instance, ctx, policy, until=T0 + free_run_bound(FREE_RUNS - 1) + STEP)
    print(f"{'no aging' if policy is None else 'aging, no guard'}:", _summary(outcome))
    waits = outcome.free_waits()
    assert all(w is None for w in waits), "a free run got a slot during the enterprise stream"
    assert outcome.worst_free_wait() > free_run_bound(FREE_RUNS - 1)


def test_sensor_retags_queued_runs_with_the_real_clock(queue_instance) -> None:
    """The sensor itself (default RUNNING, no job) ages what it finds in the queue."""
    instance, ctx = queue_instance
    now = datetime.now(UTC)
    old = _submit(instance, ctx, "free-0", "free", now - timedelta(hours=7))
    fresh = _submit(instance, ctx, "ent-0", "enterprise", now)
    manual = create_run_for_test(
        instance, job_name="layout_job", tags={PRIORITY_TAG: "5"}, remote_job_origin=LAYOUT_JOB_ORIGIN
    )
    instance.run_coordinator.submit_run(SubmitRunContext(manual, ctx.create_request_context()))

    assert queued_run_aging.default_status == dg.DefaultSensorStatus.RUNNING
    result = queued_run_aging(
        dg.build_sensor_context(instance=instance, resources={"settings": PlatformSettings()})
    )
    assert isinstance(result, dg.SkipReason) and "re-tagged 1 " in (result.skip_message or "")
    assert instance.get_run_by_id(old).tags[PRIORITY_TAG] == "100"  # 7 h > the 6 h default guard
    assert instance.get_run_by_id(fresh).tags[PRIORITY_TAG] == "90"
    assert instance.get_run_by_id(manual.run_id).tags[PRIORITY_TAG] == "5"  # not ours: untouched


def test_retag_writes_only_what_changed_and_never_lowers(queue_instance) -> None:
    instance, ctx = queue_instance
    run_id = _submit(instance, ctx, "free-0", "free", T0)
    policy = PriorityPolicy()
    assert retag_queued_runs(instance, T0 + timedelta(minutes=30), policy) == 0
    assert retag_queued_runs(instance, T0 + timedelta(hours=2), policy) == 1
    assert instance.get_run_by_id(run_id).tags[PRIORITY_TAG] == "52"
    assert retag_queued_runs(instance, T0 + timedelta(hours=2, minutes=5), policy) == 0
    # a person raised it by hand: aging does not pull it back down
    instance.add_run_tags(run_id, {PRIORITY_TAG: "95"})
    assert retag_queued_runs(instance, T0 + timedelta(hours=3), policy) == 0
    assert instance.get_run_by_id(run_id).tags[PRIORITY_TAG] == "95"
    # aging switched off: nothing is touched
    assert retag_queued_runs(instance, T0 + timedelta(hours=9), PriorityPolicy(enabled=False)) == 0
    assert retag_queued_runs(instance, T0 + timedelta(hours=9), policy) == 1
    assert instance.get_run_by_id(run_id).tags[STARVED_TAG] == "true"


def test_run_since_and_changed_tags_helpers() -> None:
    created = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert run_since({}, created) == created
    assert run_since({SINCE_TAG: "not a date"}, created) == created
    assert run_since({SINCE_TAG: "2026-01-01T10:00:00"}, created) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    p = priority_for("premium", created, created + timedelta(hours=1))
    tags = {PRIORITY_TAG: "oops", TIER_TAG: "premium", "caption_assets/base_priority": "70"}
    assert changed_priority_tags(tags, p) == {
        PRIORITY_TAG: "71",
        "caption_assets/age_boost": "1",
        STARVED_TAG: "false",
    }
