"""run_health: per day and job, how the video flows went (the test plan's reliability targets),
and how long each step took per 60 s of video."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from caption_assets.core.health.records import CAUSES, RETRIES_COUNTED
from caption_assets.core.health.stats import day_of, percentile, rate

RUN_HEALTH_COLUMNS: tuple[str, ...] = (
    "day",
    "job",
    "runs",
    "succeeded",
    "failed",
    "canceled",
    "success_rate",
    "retried_runs",
    "retries",
    "retry_success_rate",
    *(f"failed_{cause}" for cause in CAUSES),
    "lock_waits",
    "lock_blocked_share",
    "queue_p50_s",
    "queue_p95_s",
)
STEP_COLUMNS: tuple[str, ...] = ("day", "job", "step", "steps", "p50_s_per_60s", "p95_s_per_60s")


def _flags(runs: pd.DataFrame) -> pd.DataFrame:
    """The per-run booleans every rate counts."""
    out = pd.DataFrame(index=runs.index)
    out["succeeded"] = runs["outcome"] == "success"
    out["failed"] = runs["outcome"] == "failure"
    out["canceled"] = runs["outcome"] == "canceled"
    out["retried"] = runs["retries"].astype(int) > 0
    # the plan's retry target: a run that needed a retry and made it within 1-2 retries of a step
    out["retry_succeeded"] = (
        out["retried"] & out["succeeded"] & (runs["max_step_retries"].astype(int) <= RETRIES_COUNTED)
    )
    out["blocked"] = runs["lock_waits"].astype(int) > 0
    for cause in CAUSES:
        out[f"failed_{cause}"] = out["failed"] & (runs["cause"] == cause)
    return out


@dataclass(frozen=True)
class Rates:
    """The three reliability figures of a set of runs (None where there is nothing to measure)."""

    runs: int
    flow_success_rate: float | None  # succeeded / finished (canceled runs were stopped by a person)
    retried_runs: int
    retry_success_rate: float | None  # succeeded within 1-2 retries / runs that needed a retry
    lock_blocked_share: float | None  # runs that waited out a held lock / runs


def rates(runs: pd.DataFrame) -> Rates:
    flags = _flags(runs)
    finished = int(flags["succeeded"].sum() + flags["failed"].sum())
    retried = int(flags["retried"].sum())
    return Rates(
        runs=len(runs),
        flow_success_rate=rate(flags["succeeded"].sum(), finished),
        retried_runs=retried,
        retry_success_rate=rate(flags["retry_succeeded"].sum(), retried),
        lock_blocked_share=rate(flags["blocked"].sum(), len(runs)),
    )


def run_health(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (UTC day the run was created, job)."""
    if runs.empty:
        return pd.DataFrame(columns=list(RUN_HEALTH_COLUMNS))
    flags = _flags(runs)
    flags["day"] = day_of(runs["created_at"])
    flags["job"] = runs["job"]
    flags["retries"] = runs["retries"].astype(int)
    flags["lock_waits"] = runs["lock_waits"].astype(int)
    flags["queue_seconds"] = runs["queue_seconds"].astype(float)
    rows = []
    for (day, job), group in flags.groupby(["day", "job"], sort=True):
        r = rates(runs.loc[group.index])
        rows.append(
            {
                "day": day,
                "job": job,
                "runs": len(group),
                "succeeded": int(group["succeeded"].sum()),
                "failed": int(group["failed"].sum()),
                "canceled": int(group["canceled"].sum()),
                "success_rate": r.flow_success_rate,
                "retried_runs": r.retried_runs,
                "retries": int(group["retries"].sum()),
                "retry_success_rate": r.retry_success_rate,
                **{f"failed_{c}": int(group[f"failed_{c}"].sum()) for c in CAUSES},
                "lock_waits": int(group["lock_waits"].sum()),
                "lock_blocked_share": r.lock_blocked_share,
                "queue_p50_s": percentile(group["queue_seconds"], 0.5),
                "queue_p95_s": percentile(group["queue_seconds"], 0.95),
            }
        )
    return pd.DataFrame(rows, columns=list(RUN_HEALTH_COLUMNS))


def step_durations(runs: pd.DataFrame, steps: pd.DataFrame, videos: pd.DataFrame) -> pd.DataFrame:
    """One row per (day, job, step): p50/p95 of the successful attempt's seconds per 60 s of the
    video (steps of videos whose length is not known are left out)."""
    if steps.empty:
        return pd.DataFrame(columns=list(STEP_COLUMNS))
    joined = steps.merge(runs[["run_id", "job"]], on="run_id", how="inner").merge(
        videos[["video_id", "duration_seconds"]], on="video_id", how="inner"
    )
    duration = joined["duration_seconds"].astype(float)
    joined = joined[duration > 0]
    if joined.empty:
        return pd.DataFrame(columns=list(STEP_COLUMNS))
    joined = joined.assign(
        day=day_of(joined["created_at"]),
        per_60s=joined["seconds"].astype(float) * 60.0 / joined["duration_seconds"].astype(float),
    )
    rows = [
        {
            "day": day,
            "job": job,
            "step": step,
            "steps": len(group),
            "p50_s_per_60s": percentile(group["per_60s"], 0.5),
            "p95_s_per_60s": percentile(group["per_60s"], 0.95),
        }
        for (day, job, step), group in joined.groupby(["day", "job", "step"], sort=True)
    ]
    return pd.DataFrame(rows, columns=list(STEP_COLUMNS))
