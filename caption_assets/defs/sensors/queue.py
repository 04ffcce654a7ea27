"""Queue aging (docs/architecture.md, sensors): queued runs are re-tagged with the priority their age
gives them now, so a run that waits really climbs the queue, and one that waited past ``max_wait_hours`` jumps
to the top (the starvation guard).

Why re-tagging works, checked in dagster 1.13's source:
- ``DagsterInstance.add_run_tags`` overwrites the value of a tag the run already has (SQL run
  storage rewrites the run body with the merged tags and updates the existing ``run_tags`` rows);
  the run's status is read from its own column, so a rewrite racing a dequeue cannot undo a launch.
- ``QueuedRunCoordinatorDaemon`` reloads the queued runs (tags included) from storage on every
  iteration, in ascending storage id (creation) order, and sorts them with a stable sort on
  ``dagster/priority`` (highest first): equal priorities keep submission order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import dagster as dg

from caption_assets.core.policy.priority import (
    AGE_BOOST_TAG,
    BASE_TAG,
    PRIORITY_TAG,
    SINCE_TAG,
    STARVED_TAG,
    TIER_BASE,
    TIER_TAG,
    Priority,
    PriorityPolicy,
    priority_for,
)
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.sensors import running_sensor

AGING_INTERVAL_SECONDS = 30
# queued runs are read in pages so a long queue does not sit in memory at once
PAGE_SIZE = 500


def run_since(tags: Mapping[str, str], created: datetime) -> datetime:
    """The age origin a run was created with (``SINCE_TAG``), else its creation time."""
    raw = tags.get(SINCE_TAG)
    since = created
    if raw:
        try:
            since = datetime.fromisoformat(raw)
        except ValueError:
            pass  # a hand-edited tag must not stop the queue from aging: fall back
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def _current_priority(tags: Mapping[str, str]) -> int | None:
    try:
        return int(tags[PRIORITY_TAG])
    except (KeyError, ValueError):
        return None


def changed_priority_tags(tags: Mapping[str, str], priority: Priority) -> dict[str, str]:
    """The priority tags to write on a queued run, only those whose value changes.

    Priority only rises: age is monotonic, so a computed value below the current one means a
    person raised the run by hand (or aging was reconfigured), and re-tagging must not undo that.
    """
    current = _current_priority(tags)
    if current is not None and priority.value <= current:
        return {}
    wanted = {
        PRIORITY_TAG: str(priority.value),
        BASE_TAG: str(priority.base),
        AGE_BOOST_TAG: str(priority.age_boost),
        STARVED_TAG: "true" if priority.starved else "false",
    }
    return {k: v for k, v in wanted.items() if tags.get(k) != v}


def _queued_run_records(instance: dg.DagsterInstance) -> Iterator[dg.RunRecord]:
    cursor: str | None = None
    while True:
        page = instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]),
            limit=PAGE_SIZE,
            ascending=True,
            cursor=cursor,
        )
        yield from page
        if len(page) < PAGE_SIZE:
            return
        cursor = page[-1].dagster_run.run_id


def retag_queued_runs(instance: dg.DagsterInstance, now: datetime, policy: PriorityPolicy) -> int:
    """Re-tag every queued run of ours with its priority at ``now``; returns how many changed.

    Runs without a known tier tag (started by hand from the UI) are left as they are: their
    priority is whatever the person gave them.
    """
    if not policy.enabled:
        return 0
    changed = 0
    for record in _queued_run_records(instance):
        run = record.dagster_run
        tier = run.tags.get(TIER_TAG)
        if tier not in TIER_BASE:
            continue
        since = run_since(run.tags, record.create_timestamp)
        new_tags = changed_priority_tags(run.tags, priority_for(tier, since, now, policy))
        if not new_tags:
            continue
        try:
            instance.add_run_tags(run.run_id, new_tags)
        except dg.DagsterRunNotFoundError:
            continue  # deleted between the listing and the write
        changed += 1
    return changed


@running_sensor(
    "Raises the dagster/priority of queued runs as they wait (tier base + age, and 100 past "
    "max_wait_hours) so the queued run coordinator cannot starve low tiers.",
    interval_seconds=AGING_INTERVAL_SECONDS,
)
def queued_run_aging(context: dg.SensorEvaluationContext, settings: PlatformSettings) -> dg.SkipReason:
    changed = retag_queued_runs(context.instance, datetime.now(UTC), settings.priority_policy())
    # a sensor without a job only reports; the skip reason shows the work done in the UI
    return dg.SkipReason(f"re-tagged {changed} queued run(s)")
