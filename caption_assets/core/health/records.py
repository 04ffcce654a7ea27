"""The facts the operations tables are computed from, one row per run, step, captions result,
video and upload-webhook delivery, and how a run's event log becomes them.

The orchestrator's records arrive here already unwrapped into plain values (``RunInfo``,
``EventInfo``), so everything below is pure and testable on hand-made histories; the Dagster layer
(defs/assets/operations_records.py) only translates its records into these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import pandas as pd

from caption_assets.core import errors
from caption_assets.core.compute import errors as compute_errors
from caption_assets.core.store.base import StoreError

Cause = Literal["input", "compute", "store", "catalog", "lock", "crash"]
CAUSES: tuple[Cause, ...] = ("input", "compute", "store", "catalog", "lock", "crash")
Outcome = Literal["success", "failure", "canceled"]

# the steps whose duration scales with the video (per 60 s of it); the asset names
VIDEO_STEPS: tuple[str, ...] = ("full_frames", "layout_db", "cropped_frames", "captions_db")
CAPTIONS_STEP = "captions_db"
# a run that needed more retries than this did not meet the plan's "after 1-2 retries"
RETRIES_COUNTED = 2
# defs/assets/runtime.py's error for a lock taken away while the step ran (defined there, beside
# the locks, so it is matched by name when that module is not imported)
LOCK_LOST_ERROR = "LockLostError"
# the materialization metadata the facts read (defs/assets: layout.py, captions.py, metadata.py)
LOCK_WAIT_METADATA = "lock_wait_seconds"
CONFIDENCE_METADATA = "ocr_confidence_counts"
# OCR confidence bins of the quality table: [0, 0.5), [0.5, 0.7), [0.7, 0.9), [0.9, 1]
CONFIDENCE_EDGES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.9)
CONFIDENCE_BINS: tuple[str, ...] = ("conf_lt_0.5", "conf_0.5_0.7", "conf_0.7_0.9", "conf_ge_0.9")


@dataclass(frozen=True)
class EventInfo:
    """One event of a run's log, as much of it as the facts need."""

    kind: str  # Dagster's event type value: STEP_START, STEP_SUCCESS, STEP_UP_FOR_RETRY, ...
    timestamp: float
    step: str | None = None
    # the exception classes of a failure or retry, outermost first, causes and contexts after
    error_classes: tuple[str, ...] = ()
    # materializations: the asset; check evaluations: the check's asset
    asset: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # check evaluations
    check_passed: bool | None = None
    check_severity: str | None = None  # "WARN" or "ERROR"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    job: str
    outcome: Outcome
    video_id: str
    tags: Mapping[str, str]
    created_at: float
    started_at: float | None
    ended_at: float | None
    updated_at: float


@dataclass(frozen=True)
class RunFact:
    run_id: str
    job: str
    outcome: Outcome
    video_id: str
    tenant_id: str | None
    tier: str | None
    created_at: float
    queue_seconds: float | None  # created -> started: waiting for a run slot and the launch
    retries: int  # step retries of the run, all steps together
    max_step_retries: int  # the most retries one step needed
    cause: Cause | None  # why a failed run failed; None when it did not fail
    # steps that waited for a lock someone else held: those that got it after a while (their
    # materialization's lock_wait_seconds) and attempts that gave up (a LockHeldError)
    lock_waits: int
    lock_wait_seconds: float  # waited by the steps that then got their lock
    updated_at: float


@dataclass(frozen=True)
class StepFact:
    run_id: str
    step: str
    video_id: str
    created_at: float  # the run's: the day it counts on
    seconds: float  # the attempt that succeeded, start to success


@dataclass(frozen=True)
class CaptionsFact:
    """One captions_db materialization: what the video's captions came out as."""

    run_id: str
    video_id: str
    at: float
    captions: int
    ocr_errors: int
    reocr_requests: int
    warn_checks: int  # checks of the video that failed with WARN in this run
    confidences: tuple[int, ...] = (0, 0, 0, 0)  # counts per CONFIDENCE_BINS


@dataclass(frozen=True)
class VideoFact:
    video_id: str
    tenant_id: str
    tenant: str
    tier: str
    uploaded_at: float
    duration_seconds: float | None
    error: bool  # a status column is 'error' now


def _project_errors() -> dict[str, type[BaseException]]:
    """Every project error class by name: the failures' class names resolve to the hierarchy,
    so a new subclass of a transient store error counts as a store failure without a list here."""
    found: dict[str, type[BaseException]] = {}
    todo: list[type[BaseException]] = [errors.CaptionAssetsError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


def cause_of(error_classes: Sequence[str]) -> Cause:
    """The cause of a failure from its exception classes: the first project error in the chain
    decides (a ``dg.Failure`` wraps the permanent error it was raised from); an exception the
    project did not raise on purpose is the compute's."""
    known = _project_errors()
    for name in error_classes:
        # a lock lost while the step ran is permanent, but it is contention, not the input's fault
        if name == LOCK_LOST_ERROR:
            return "lock"
        cls = known.get(name)
        if cls is None:
            continue
        if issubclass(cls, errors.LockHeldError):
            return "lock"
        if issubclass(cls, errors.StoreUnavailableError | StoreError):
            return "store"
        if issubclass(cls, errors.CatalogUnavailableError):
            return "catalog"
        # the compute backend's own errors (not deployed, cancelled, a remote failure) are its,
        # whether retrying helps or not
        if cls.__module__ == compute_errors.__name__:
            return "compute"
        if issubclass(cls, errors.PermanentError):
            return "input"
        return "compute"
    return "compute"


def _metadata_float(metadata: Mapping[str, Any], key: str) -> float:
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _metadata_int(metadata: Mapping[str, Any], key: str) -> int:
    return int(_metadata_float(metadata, key))


def facts_of_run(
    run: RunInfo, events: Iterable[EventInfo]
) -> tuple[RunFact, list[StepFact], list[CaptionsFact]]:
    """The facts of one finished run from its event log."""
    ordered = sorted(events, key=lambda e: e.timestamp)
    retries_per_step: dict[str, int] = {}
    attempt_start: dict[str, float] = {}
    steps: list[StepFact] = []
    lock_waits = 0
    lock_wait_seconds = 0.0
    failure_causes: list[Cause] = []
    warn_checks = 0
    materialized: list[EventInfo] = []
    for event in ordered:
        step = event.step or ""
        if event.kind in ("STEP_START", "STEP_RESTARTED"):
            attempt_start[step] = event.timestamp
        elif event.kind == "STEP_SUCCESS" and step in attempt_start:
            steps.append(
                StepFact(
                    run.run_id, step, run.video_id, run.created_at, event.timestamp - attempt_start[step]
                )
            )
        elif event.kind == "STEP_UP_FOR_RETRY":
            retries_per_step[step] = retries_per_step.get(step, 0) + 1
            if cause_of(event.error_classes) == "lock":
                lock_waits += 1
        elif event.kind == "STEP_FAILURE":
            step_cause = cause_of(event.error_classes)
            failure_causes.append(step_cause)
            if step_cause == "lock":
                lock_waits += 1
        elif event.kind == "ASSET_CHECK_EVALUATION":
            if event.check_passed is False and event.check_severity == "WARN":
                warn_checks += 1
        elif event.kind == "ASSET_MATERIALIZATION":
            # a step that got its lock after waiting for someone else's records the wait here
            waited = _metadata_float(event.metadata, LOCK_WAIT_METADATA)
            if waited > 0:
                lock_waits += 1
                lock_wait_seconds += waited
            if event.asset == CAPTIONS_STEP:
                materialized.append(event)
    cause: Cause | None = None
    if run.outcome == "failure":
        # no step failed: the run died around its steps (a killed worker, settled by the sensor)
        cause = failure_causes[0] if failure_causes else "crash"
    fact = RunFact(
        run_id=run.run_id,
        job=run.job,
        outcome=run.outcome,
        video_id=run.video_id,
        tenant_id=run.tags.get("caption_assets/tenant"),
        tier=run.tags.get("caption_assets/tier"),
        created_at=run.created_at,
        queue_seconds=None if run.started_at is None else max(0.0, run.started_at - run.created_at),
        retries=sum(retries_per_step.values()),
        max_step_retries=max(retries_per_step.values(), default=0),
        cause=cause,
        lock_waits=lock_waits,
        lock_wait_seconds=round(lock_wait_seconds, 3),
        updated_at=run.updated_at,
    )
    captions = [
        CaptionsFact(
            run_id=run.run_id,
            video_id=run.video_id,
            at=event.timestamp,
            captions=_metadata_int(event.metadata, "captions"),
            ocr_errors=_metadata_int(event.metadata, "ocr_errors"),
            reocr_requests=len(event.metadata.get("reocr_caption_ids") or ()),
            warn_checks=warn_checks,
            confidences=_bin_counts(event.metadata.get(CONFIDENCE_METADATA)),
        )
        for event in materialized
    ]
    return fact, steps, captions


def _bin_counts(recorded: object) -> tuple[int, ...]:
    """The confidence counts a captions_db materialization recorded (zeros before it did)."""
    if not isinstance(recorded, Mapping):
        return (0,) * len(CONFIDENCE_BINS)
    return tuple(_metadata_int(recorded, b) for b in CONFIDENCE_BINS)


def confidence_counts(values: Iterable[float]) -> tuple[int, ...]:
    """How many of ``values`` fall in each of ``CONFIDENCE_BINS``."""
    counts = [0] * len(CONFIDENCE_EDGES)
    for value in values:
        index = sum(1 for edge in CONFIDENCE_EDGES[1:] if value >= edge)
        counts[index] += 1
    return tuple(counts)


# the facts as DataFrames ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFact:
    """One request to the upload webhook, as the catalog's delivery log has it."""

    delivery_id: int
    received_at: float  # the webhook's clock: the day it counts on
    recorded_at: float  # the catalog's clock: the incremental cursor
    outcome: str  # catalog.deliveries.DELIVERY_OUTCOMES
    reason: str
    http_status: int
    latency_ms: float
    video_id: str | None


TABLES: tuple[str, ...] = ("runs", "steps", "captions", "videos", "deliveries")
_ROWS: dict[str, type[Any]] = {
    "runs": RunFact,
    "steps": StepFact,
    "captions": CaptionsFact,
    "videos": VideoFact,
    "deliveries": DeliveryFact,
}
# the rows a newer fact replaces: a run's facts are replaced whole, a video's row by its newer read
_KEYS: dict[str, tuple[str, ...]] = {
    "runs": ("run_id",),
    "steps": ("run_id", "step"),
    "captions": ("run_id", "video_id"),
    "videos": ("video_id",),
    "deliveries": ("delivery_id",),
}


def _columns(table: str) -> list[str]:
    names = [f.name for f in fields(_ROWS[table])]
    if table == "captions":
        names.remove("confidences")
        names += list(CONFIDENCE_BINS)
    return names


def _row(table: str, fact: Any) -> dict[str, Any]:
    row = asdict(fact)
    if table == "captions":
        row.update(zip(CONFIDENCE_BINS, row.pop("confidences")))
    return row


def frame(table: str, facts: Iterable[Any] = ()) -> pd.DataFrame:
    """``facts`` (dataclasses of ``table``) as a DataFrame with the table's columns, also when
    there are none."""
    rows = [_row(table, f) for f in facts]
    return pd.DataFrame(rows, columns=_columns(table))


@dataclass
class Facts:
    """The fact tables; ``merged`` adds newer facts, replacing the rows they supersede."""

    runs: pd.DataFrame = field(default_factory=lambda: frame("runs"))
    steps: pd.DataFrame = field(default_factory=lambda: frame("steps"))
    captions: pd.DataFrame = field(default_factory=lambda: frame("captions"))
    videos: pd.DataFrame = field(default_factory=lambda: frame("videos"))
    deliveries: pd.DataFrame = field(default_factory=lambda: frame("deliveries"))

    def table(self, name: str) -> pd.DataFrame:
        frame_: pd.DataFrame = getattr(self, name)
        return frame_

    def merged(self, newer: Facts) -> Facts:
        out: dict[str, pd.DataFrame] = {}
        for name in TABLES:
            old, new = self.table(name), newer.table(name)
            if name in ("steps", "captions"):
                # a run's steps and captions come whole with its run: drop what it had before
                old = old[~old["run_id"].isin(newer.runs["run_id"])]
            parts = [f for f in (old, new) if len(f)]
            both = pd.concat(parts, ignore_index=True) if parts else old
            both = both.drop_duplicates(list(_KEYS[name]), keep="last")
            out[name] = both.sort_values(list(_KEYS[name]), kind="stable").reset_index(drop=True)
        return Facts(**out)

    def high_water_mark(self) -> float | None:
        """The newest run update the facts include: the next increment starts there."""
        return None if self.runs.empty else float(self.runs["updated_at"].max())

    def deliveries_mark(self) -> float | None:
        """The newest webhook delivery the facts include, in the catalog's time."""
        return None if self.deliveries.empty else float(self.deliveries["recorded_at"].max())
