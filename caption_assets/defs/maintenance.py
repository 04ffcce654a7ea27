"""Repairs: expired locks are cleared and reported, videos left in ``processing`` by a run that is
no longer alive are marked ``error`` with details, and work claimed for a run that was never
created is released so the sensors request it again.

The ``maintenance`` sensor does them every 5 minutes inside its tick, so they fill no runs list or
timeline (a schedule started a ``maintenance_job`` run each time); what a tick repaired is logged
on the tick and summed up in its skip reason. ``maintenance_job`` does the same as a run, for an
operator who wants one now."""

import logging
from datetime import UTC, datetime, timedelta

import dagster as dg
import psutil

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import Catalog, WorkClaim
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.runs import (
    IN_FLIGHT,
    PARTITION_TAG,
    RUN_KEY_TAG,
    captions_run_key,
    layout_run_key,
)
from caption_assets.defs.sensors import running_sensor

# A run request is written before its run exists; give the queue that long before calling a
# video in 'processing' abandoned.
REPAIR_GRACE = timedelta(minutes=10)


def runs_of_video(instance: dg.DagsterInstance, video_id: str, statuses=None, limit: int = 1):
    return instance.get_run_records(
        filters=dg.RunsFilter(tags={PARTITION_TAG: video_id}, statuses=statuses),
        limit=limit,
    )


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing the run, as the run launcher recorded it."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        pid = getattr(data, "metadata", {}).get("pid") if data is not None else None
        if pid is not None:
            return int(pid.value)
    return None


def _alive(pid: int) -> bool:
    # a killed worker stays a zombie until the code server reaps it: dead all the same
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def fail_dead_local_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the started runs whose worker process is gone.

    Dagster's run monitoring detects dead workers only with launchers that can check them
    (Kubernetes, ECS, ...); with the local default launcher a killed worker leaves its run
    ``STARTED`` for ever. Its pid is recorded in the run's events, and that launcher runs workers
    on this machine, so asking the OS answers it. The run-failure sensor then settles the video."""
    if instance.run_launcher.supports_check_run_worker_health:
        return []  # run monitoring handles it
    failed: list[str] = []
    for record in instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]), limit=1000
    ):
        run = record.dagster_run
        pid = _worker_pid(instance, run.run_id)
        if pid is None or _alive(pid):
            continue
        instance.report_run_failed(run, f"the run worker (pid {pid}) is gone: it crashed or was killed")
        failed.append(run.run_id)
    return failed


def repair_stuck_videos(
    instance: dg.DagsterInstance,
    catalog: Catalog,
    now: datetime | None = None,
    grace: timedelta = REPAIR_GRACE,
) -> dict[str, list[str]]:
    """Mark ``error`` every ``processing`` column no live run owns; free that run's locks.
    Returns {video id: columns repaired}."""
    now = now or datetime.now(UTC)
    repaired: dict[str, list[str]] = {}
    for video in catalog.videos_in_processing(limit=1000):
        if now - video.updated_at < grace:
            continue
        if runs_of_video(instance, video.video_id, statuses=IN_FLIGHT):
            continue
        last = runs_of_video(instance, video.video_id)
        last_run_id = last[0].dagster_run.run_id if last else None
        lifecycle.processing_abandoned(catalog, video.video_id, video.columns, last_run_id)
        repaired[video.video_id] = list(video.columns)
    return repaired


def _claim_has_run(instance: dg.DagsterInstance, claim: WorkClaim) -> bool:
    """Whether the orchestrator has a run (in any state) for the claimed work: the run that
    claimed it for itself (video_job), or the one the sensor requested under its run key."""
    if claim.claimed_by is not None:
        return instance.has_run(claim.claimed_by)
    if claim.work == "layout":
        assert claim.processing_attempt is not None
        run_key = layout_run_key(claim.video_id, claim.processing_attempt)
    else:
        assert claim.layout_approved_at is not None
        run_key = captions_run_key(claim.video_id, claim.layout_approved_at)
    return bool(instance.get_run_records(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1))


def release_lost_claims(
    instance: dg.DagsterInstance,
    catalog: Catalog,
    now: datetime | None = None,
    grace: timedelta = REPAIR_GRACE,
) -> list[WorkClaim]:
    """Release the claims older than ``grace`` whose run never came to exist, so the next sensor
    tick requests the work again (an upload left in ``wait``, an approval without a captions
    run). A claim with a run, whatever its state, stays: that run owns the work, and requesting
    it again would process the video twice. Returns the claims released."""
    now = now or datetime.now(UTC)
    released: list[WorkClaim] = []
    for claim in catalog.unstarted_claims(claimed_before=now - grace):
        if not _claim_has_run(instance, claim) and lifecycle.claim_lost(catalog, claim):
            released.append(claim)
    return released


# What each repair tells the operator, written once for the ops and the sensor (``log`` is the
# run's or the tick's logger); each returns how many it repaired.


def _clear_expired_locks(log: logging.Logger, catalog: Catalog) -> int:
    stale = lifecycle.expired_locks_cleared(catalog)
    for lock in stale:
        log.warning(
            f"expired {lock.database} lock of video {lock.video_id} held by {lock.holder} "
            f"(expired {lock.expires_at.isoformat()}) was cleared"
        )
    return len(stale)


def _fail_dead_runs(log: logging.Logger, instance: dg.DagsterInstance) -> int:
    failed = fail_dead_local_runs(instance)
    for run_id in failed:
        log.warning(f"run {run_id}: its worker process is gone; marked failed")
    return len(failed)


def _repair_stuck_videos(log: logging.Logger, instance: dg.DagsterInstance, catalog: Catalog) -> int:
    repaired = repair_stuck_videos(instance, catalog)
    for video_id, columns in repaired.items():
        log.warning(f"video {video_id}: {columns} left in processing; set to error")
    return len(repaired)


def _release_lost_claims(log: logging.Logger, instance: dg.DagsterInstance, catalog: Catalog) -> int:
    released = release_lost_claims(instance, catalog)
    for claim in released:
        log.warning(
            f"video {claim.video_id}: {claim.work} work claimed at {claim.claimed_at.isoformat()} "
            "has no run; released for the next sensor tick"
        )
    return len(released)


@dg.op(description="Remove expired video locks and report them.")
def clear_expired_locks(context: dg.OpExecutionContext, catalog: CatalogResource) -> int:
    cleared = _clear_expired_locks(context.log, catalog.get())
    context.add_output_metadata({"cleared": cleared})
    return cleared


@dg.op(description="Fail runs whose worker died; mark videos left in 'processing' as 'error'.")
def repair_stuck_work(context: dg.OpExecutionContext, catalog: CatalogResource) -> int:
    _fail_dead_runs(context.log, context.instance)
    repaired = _repair_stuck_videos(context.log, context.instance, catalog.get())
    context.add_output_metadata({"repaired": repaired})
    return repaired


@dg.op(description="Release claimed work whose run was never created, so the sensors request it again.")
def release_lost_run_requests(context: dg.OpExecutionContext, catalog: CatalogResource) -> int:
    released = _release_lost_claims(context.log, context.instance, catalog.get())
    context.add_output_metadata({"released": released})
    return released


@dg.job(
    description="Clears expired locks, repairs videos stuck in 'processing' and re-requests work "
    "whose run request was lost."
)
def maintenance_job() -> None:
    clear_expired_locks()
    repair_stuck_work()
    release_lost_run_requests()


MAINTENANCE_INTERVAL_SECONDS = 300


@running_sensor(
    "Every 5 minutes, without a run: clears expired locks, fails runs whose worker died, repairs "
    "videos stuck in 'processing' and re-requests work whose run request was lost.",
    interval_seconds=MAINTENANCE_INTERVAL_SECONDS,
)
def maintenance(context: dg.SensorEvaluationContext, catalog: CatalogResource) -> dg.SkipReason:
    cat = catalog.get()
    stale = _clear_expired_locks(context.log, cat)
    failed = _fail_dead_runs(context.log, context.instance)
    repaired = _repair_stuck_videos(context.log, context.instance, cat)
    released = _release_lost_claims(context.log, context.instance, cat)
    return dg.SkipReason(
        f"cleared {stale} expired locks, failed {failed} dead runs, repaired "
        f"{repaired} stuck videos, released {released} lost claims"
    )
