"""The operations group: platform health and usage as assets, on a daily schedule and on demand.

``platform_records`` gathers the facts incrementally (the flow runs that ended since its last
materialization, see operations_records.py) into Parquet under the store's operations area; the
tables are computed from those facts with core/health, shown as markdown tables and plots, and
stored as Parquet beside them. run_health's checks hold the last week of runs to the test plan's
reliability targets, webhook_availability's the last week of upload-webhook deliveries (recorded by
the webhook in the catalog), so the checks page is the reliability dashboard."""

# no `from __future__ import annotations`: Dagster reads the Config annotation at runtime

import time
from collections.abc import Callable
from typing import Any

import dagster as dg
import pandas as pd

from caption_assets.core import previews
from caption_assets.core.health import plots
from caption_assets.core.health.caption_quality import caption_quality as quality_table
from caption_assets.core.health.records import Facts
from caption_assets.core.health.run_health import rates, step_durations
from caption_assets.core.health.run_health import run_health as health_table
from caption_assets.core.health.tables import load_facts, plot_key, save_facts, save_table
from caption_assets.core.health.targets import TARGETS, WEBHOOK_AVAILABILITY, WINDOW_DAYS, Target
from caption_assets.core.health.tenant_usage import tenant_usage as usage_table
from caption_assets.core.health.webhook import availability
from caption_assets.core.health.webhook import webhook_availability as availability_table
from caption_assets.core.store.base import ArtifactStore
from caption_assets.defs.assets.metadata import table
from caption_assets.defs.assets.operations_records import new_facts
from caption_assets.defs.assets.runtime import OWNERS
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.store import StoreResource

GROUP = "operations"
# rows shown in a table's metadata; the Parquet copy has them all
ROWS_SHOWN = 30


class RecordsConfig(dg.Config):
    """``full``: forget the stored facts and read every run again (the incremental reading must
    give the same tables; this is how to check it, or to rebuild after a change of the facts)."""

    full: bool = False


def _operations_asset(**kwargs: Any) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    return dg.asset(group_name=GROUP, owners=OWNERS, **kwargs)


@_operations_asset(
    kinds={"python", "parquet"},
    description="The facts of every video flow run (steps, retries, failure causes, lock waits, "
    "captions) and of the videos they touched, read incrementally since the last materialization.",
)
def platform_records(
    context: dg.AssetExecutionContext, config: RecordsConfig, catalog: CatalogResource, store: StoreResource
) -> dg.MaterializeResult:
    service = store.get()
    known = Facts() if config.full else load_facts(service)
    mark = known.high_water_mark()
    delivery_mark = known.deliveries_mark()
    newer = new_facts(context.instance, catalog.get(), known)
    facts = known.merged(newer)
    save_facts(service, facts)
    return dg.MaterializeResult(
        metadata={
            "incremental": not config.full,
            "read_after": mark if mark is not None else "the beginning",
            # the cursor the next materialization starts from (newest run update included)
            "high_water_mark": facts.high_water_mark() or 0.0,
            "runs_read": len(newer.runs),
            # read for the first time (the others: the overlap before the mark, read again)
            "runs_added": int((~newer.runs["run_id"].isin(known.runs["run_id"])).sum()),
            "videos_read": len(newer.videos),
            "runs": len(facts.runs),
            "videos": len(facts.videos),
            "deliveries_read_after": delivery_mark if delivery_mark is not None else "the beginning",
            "deliveries_read": len(newer.deliveries),
            "deliveries_added": int(
                (~newer.deliveries["delivery_id"].isin(known.deliveries["delivery_id"])).sum()
            ),
            "deliveries": len(facts.deliveries),
        }
    )


def _shown(frame: pd.DataFrame) -> dg.MetadataValue:
    """The newest rows as a markdown table (the days sort oldest first)."""
    if frame.empty:
        return dg.MetadataValue.md("no rows yet")
    return table(frame.tail(ROWS_SHOWN))


def _plot(store: ArtifactStore, name: str, png: bytes) -> dict[str, Any]:
    key = plot_key(name)
    store.put_bytes(key, png, "image/png")
    return {
        f"{name}_plot": dg.MetadataValue.md(previews.markdown_image(png, name.replace("_", " "))),
        f"{name}_plot_key": dg.MetadataValue.path(key),
    }


def _tables(store: ArtifactStore, **frames: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, frame in frames.items():
        out[name] = _shown(frame)
        out[f"{name}_parquet"] = dg.MetadataValue.path(save_table(store, name, frame))
        out[f"{name}_rows"] = len(frame)
    return out


def _one_table(
    store: ArtifactStore, name: str, frame: pd.DataFrame, draw: Callable[[pd.DataFrame], bytes]
) -> dg.MaterializeResult:
    """The materialization of an asset that is one table and its plot."""
    return dg.MaterializeResult(
        metadata={**_tables(store, **{name: frame}), **_plot(store, name, draw(frame))}
    )


def _check(target: Target, value: float | None, runs: int) -> dg.AssetCheckResult:
    """``runs``: how many of the target's unit the value is of; no value passes with a note."""
    verdict = target.verdict(value)
    return dg.AssetCheckResult(
        check_name=target.name,
        passed=verdict == "ok",
        severity=dg.AssetCheckSeverity.ERROR if verdict == "error" else dg.AssetCheckSeverity.WARN,
        description=target.describe(value, runs),
        metadata={"value": value if value is not None else "n/a", "target": target.target, "far": target.far},
    )


HEALTH_CHECKS = [
    dg.AssetCheckSpec(t.name, asset="run_health", description=f"{t.what} over the last {WINDOW_DAYS} days")
    for t in TARGETS
]


@_operations_asset(
    kinds={"python", "pandas"},
    deps=[platform_records],
    check_specs=HEALTH_CHECKS,
    description="Per day and job: runs, success rate, retries and the share that succeeded after "
    "1-2 retries, failures by cause, lock waits and the share of runs blocked by a held lock, "
    "p50/p95 queue wait; and each step's p50/p95 seconds per 60 s of video.",
)
def run_health(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    service = store.get()
    facts = load_facts(service)
    health = health_table(facts.runs)
    steps = step_durations(facts.runs, facts.steps, facts.videos)
    recent = facts.runs[facts.runs["created_at"].astype(float) >= time.time() - WINDOW_DAYS * 86400]
    week = rates(recent)
    values = {
        "flow_success_rate": week.flow_success_rate,
        "retry_success_rate": week.retry_success_rate,
        "lock_contention": week.lock_blocked_share,
    }
    return dg.MaterializeResult(
        metadata={
            **_tables(service, run_health=health, step_durations=steps),
            **_plot(service, "success_rate", plots.success_rate_plot(health)),
            **{f"week_{k}": v if v is not None else "n/a" for k, v in values.items()},
        },
        check_results=[_check(t, values[t.name], week.runs) for t in TARGETS],
    )


@_operations_asset(
    kinds={"python", "pandas"},
    deps=[platform_records],
    description="Per tenant and upload day, by tier: uploads, minutes of video processed, "
    "captions produced, errors and p50/p95 minutes from upload to captions done.",
)
def tenant_usage(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    service = store.get()
    facts = load_facts(service)
    return _one_table(service, "tenant_usage", usage_table(facts.videos, facts.captions), plots.minutes_plot)


@_operations_asset(
    kinds={"python", "pandas"},
    deps=[platform_records],
    description="Per day: captions per minute of video, the OCR confidence distribution, the "
    "share of videos with WARN checks and re-OCR requests per 100 captions.",
)
def caption_quality(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    service = store.get()
    facts = load_facts(service)
    return _one_table(
        service, "caption_quality", quality_table(facts.captions, facts.videos), plots.confidence_plot
    )


@_operations_asset(
    kinds={"python", "pandas"},
    deps=[platform_records],
    check_specs=[
        dg.AssetCheckSpec(
            WEBHOOK_AVAILABILITY.name,
            asset="webhook_availability",
            description=f"{WEBHOOK_AVAILABILITY.what} over the last {WINDOW_DAYS} days",
        )
    ],
    description="Per day: the upload webhook's deliveries, the share answered without a 5xx "
    "(the plan's 99.9% availability), p50/p95 answer latency in ms and the deliveries by outcome.",
)
def webhook_availability(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    service = store.get()
    deliveries = load_facts(service).deliveries
    table_ = availability_table(deliveries)
    recent = deliveries[deliveries["received_at"].astype(float) >= time.time() - WINDOW_DAYS * 86400]
    week = availability(recent)
    result = _one_table(service, "webhook_availability", table_, plots.availability_plot)
    return dg.MaterializeResult(
        metadata={
            **(result.metadata or {}),
            "week_deliveries": week.deliveries,
            "week_unavailable": week.unavailable,
            "week_availability": week.share if week.share is not None else "n/a",
        },
        check_results=[_check(WEBHOOK_AVAILABILITY, week.share, week.deliveries)],
    )


OPERATIONS_ASSETS = [platform_records, run_health, tenant_usage, caption_quality, webhook_availability]
operations_job = dg.define_asset_job(
    "operations_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Reads the runs since the last time and refreshes the health and usage tables.",
)
operations_schedule = dg.ScheduleDefinition(
    job=operations_job,
    cron_schedule="7 1 * * *",  # daily, after midnight UTC: yesterday's rows are complete
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The operations tables once a day (materialize the group for a fresher view).",
)
