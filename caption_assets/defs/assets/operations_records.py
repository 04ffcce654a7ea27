"""The operations tables' sources, read incrementally: the Dagster runs of video flows that ended
since the facts' high-water mark (their event logs: steps, retries, failures, materializations,
checks), the catalog rows of the videos they touched, and the upload webhook's deliveries the
catalog recorded since the deliveries' mark. Translated into core/health's facts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from caption_assets.core.catalog.base import Catalog
from caption_assets.core.catalog.deliveries import deliveries_since
from caption_assets.core.errors import BadInputError
from caption_assets.core.health.records import (
    DeliveryFact,
    EventInfo,
    Facts,
    Outcome,
    RunInfo,
    VideoFact,
    facts_of_run,
    frame,
)
from caption_assets.core.keys import validate_uuid
from caption_assets.defs.assets.runtime import ERROR_CLASS_KEY
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.runs import PARTITION_TAG

OUTCOMES: dict[dg.DagsterRunStatus, Outcome] = {
    dg.DagsterRunStatus.SUCCESS: "success",
    dg.DagsterRunStatus.FAILURE: "failure",
    dg.DagsterRunStatus.CANCELED: "canceled",
}
# runs are read from a little before the mark: a run's update time and its commit are not one
# instant (runs ending together may commit out of order); a run read twice replaces its own facts
OVERLAP = timedelta(seconds=5)
PAGE = 500
# the deliveries' cursor is the catalog's insert time, which is its transaction's start: a batch
# that took long to commit appears behind rows already read. Re-reading this much before the mark
# (deduplicated by id) covers a commit up to the catalog's 30 s statement timeout
DELIVERY_OVERLAP = timedelta(seconds=60)
DELIVERY_PAGE = 5000
EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_RESTARTED,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_UP_FOR_RETRY,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}


def _video_of(run: dg.DagsterRun) -> str | None:
    """The video a flow run worked on; None for a run that is no video flow (maintenance,
    retention, the operations assets themselves)."""
    try:
        return validate_uuid(run.tags.get(PARTITION_TAG, ""), "partition key")
    except BadInputError:
        return None


def ended_runs(instance: dg.DagsterInstance, after: float | None) -> Iterator[dg.RunRecord]:
    """The records of video flow runs that ended and were updated after ``after`` (all with
    None), oldest first, a page at a time."""
    since = None if after is None else datetime.fromtimestamp(after, UTC) - OVERLAP
    filters = dg.RunsFilter(statuses=list(OUTCOMES), updated_after=since)
    cursor = None
    while True:
        page = instance.get_run_records(filters=filters, limit=PAGE, cursor=cursor, ascending=True)
        for record in page:
            if _video_of(record.dagster_run) is not None:
                yield record
        if len(page) < PAGE:
            return
        cursor = page[-1].dagster_run.run_id


def _error_classes(error: Any) -> tuple[str, ...]:
    """A SerializableErrorInfo's classes, outermost first, then its causes and contexts."""
    names: list[str] = []
    todo = [error]
    while todo:
        current = todo.pop(0)
        if current is None:
            continue
        names.append(current.cls_name or "")
        todo += [current.cause, current.context]
    return tuple(names)


def _plain(metadata: Any) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in (metadata or {}).items()}


def event_info(entry: dg.EventLogEntry) -> EventInfo | None:
    event = entry.dagster_event
    if event is None:
        return None
    data: Any = event.event_specific_data
    kind = event.event_type_value
    details: dict[str, Any] = {}
    if kind in ("STEP_FAILURE", "STEP_UP_FOR_RETRY"):
        # a retry's data has no failure metadata
        failure = _plain(getattr(getattr(data, "user_failure_data", None), "metadata", None))
        stood_for = (str(failure[ERROR_CLASS_KEY]),) if ERROR_CLASS_KEY in failure else ()
        details["error_classes"] = _error_classes(data.error) + stood_for
    elif kind == "ASSET_MATERIALIZATION":
        details["asset"] = data.materialization.asset_key.to_user_string()
        details["metadata"] = _plain(data.materialization.metadata)
    elif kind == "ASSET_CHECK_EVALUATION":
        details["asset"] = data.asset_key.to_user_string()
        details["check_passed"] = bool(data.passed)
        details["check_severity"] = data.severity.value if data.severity is not None else None
    return EventInfo(kind=kind, timestamp=entry.timestamp, step=event.step_key, **details)


def run_info(record: dg.RunRecord) -> RunInfo:
    run = record.dagster_run
    return RunInfo(
        run_id=run.run_id,
        job=run.job_name,
        outcome=OUTCOMES[run.status],
        video_id=_video_of(run) or "",
        tags=dict(run.tags),
        created_at=record.create_timestamp.timestamp(),
        started_at=record.start_time,
        ended_at=record.end_time,
        updated_at=record.update_timestamp.timestamp(),
    )


def video_facts(catalog: Catalog, video_ids: list[str]) -> list[VideoFact]:
    """The catalog's rows of these videos (those it still has)."""
    tenants: dict[str, Any] = {}
    facts = []
    for video_id in video_ids:
        video = catalog.get_video(video_id)
        if video is None:
            continue
        if video.tenant_id not in tenants:
            tenants[video.tenant_id] = catalog.get_tenant(video.tenant_id)
        tenant = tenants[video.tenant_id]
        statuses = (video.layout_status, video.boundaries_status, video.text_status)
        facts.append(
            VideoFact(
                video_id=video.id,
                tenant_id=video.tenant_id,
                tenant=tenant.name if tenant else "(deleted tenant)",
                tier=tenant.tier if tenant else "(unknown)",
                uploaded_at=video.uploaded_at.timestamp(),
                duration_seconds=video.duration_seconds,
                error="error" in statuses,
            )
        )
    return facts


def delivery_facts(catalog: Catalog, after: float | None) -> list[DeliveryFact]:
    """The webhook deliveries the catalog recorded after ``after`` (less the overlap), oldest
    first, a page at a time; every one with None."""
    cursor = None if after is None else (datetime.fromtimestamp(after, UTC) - DELIVERY_OVERLAP, 0)
    facts: list[DeliveryFact] = []
    while True:
        page = deliveries_since(catalog, cursor, limit=DELIVERY_PAGE)
        facts += [
            DeliveryFact(
                delivery_id=r.id,
                received_at=r.delivery.received_at.timestamp(),
                recorded_at=r.recorded_at.timestamp(),
                outcome=r.delivery.outcome,
                reason=r.delivery.reason,
                http_status=r.delivery.http_status,
                latency_ms=r.delivery.latency_ms,
                video_id=r.delivery.video_id,
            )
            for r in page
        ]
        if len(page) < DELIVERY_PAGE:
            return facts
        cursor = (page[-1].recorded_at, page[-1].id)


def new_facts(instance: dg.DagsterInstance, catalog: Catalog, known: Facts) -> Facts:
    """The facts since ``known``'s high-water marks: the runs that ended since, the current
    rows of their videos and of every video partition the facts do not have yet, and the webhook
    deliveries recorded since."""
    runs, steps, captions = [], [], []
    for record in ended_runs(instance, known.high_water_mark()):
        info = run_info(record)
        events = [e for e in map(event_info, instance.all_logs(info.run_id, of_type=EVENTS)) if e]
        run, run_steps, run_captions = facts_of_run(info, events)
        runs.append(run)
        steps += run_steps
        captions += run_captions
    seen = set(known.videos["video_id"])
    partitions = [k for k in instance.get_dynamic_partitions(VIDEOS_PARTITION_NAME) if k not in seen]
    touched = list(dict.fromkeys([r.video_id for r in runs] + partitions))
    return Facts(
        runs=frame("runs", runs),
        steps=frame("steps", steps),
        captions=frame("captions", captions),
        videos=frame("videos", video_facts(catalog, touched)),
        deliveries=frame("deliveries", delivery_facts(catalog, known.deliveries_mark())),
    )
