"""The instance's run coordinator: Dagster's queued run coordinator, plus the tenant, tier and
priority tags (``runs.run_tags``) on every run of a video that arrives without them: runs
materialized or backfilled from the UI carry only ``dagster/from_ui`` and the partition, and
without a tenant tag the per-tenant concurrency limit and the priority ordering do not apply.

The tags are written in ``submit_run``, before the run is enqueued, so the daemon's dequeue sees
them on its first look (a sensor re-tagging queued runs would race the dequeue). Submission runs
in the webserver (materialize) and in the daemon (backfills); both load this class from the
instance's dagster.yaml. A lookup that fails only logs: the run is still queued, untagged. A run
whose partition key is not a video id fails here with one line, before any step."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg

from caption_assets.core.catalog.base import Catalog
from caption_assets.core.config import get_settings
from caption_assets.core.errors import BadInputError, shorten
from caption_assets.core.keys import validate_uuid
from caption_assets.core.policy.priority import TENANT_TAG, PriorityPolicy
from caption_assets.defs.resources.catalog import open_catalog
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.runs import PARTITION_TAG, run_tags

_log = logging.getLogger("caption_assets.run_coordinator")


def missing_run_tags(
    tags: Mapping[str, str], catalog: Catalog, policy: PriorityPolicy, now: datetime
) -> dict[str, str]:
    """The tags a video's run lacks: none for a run that has its tenant tag (sensors, CLI) or is
    not a known video's. A UI run ages from its submission (``now``): re-materializing an old
    video is new work, not a run that waited for hours. A tag the run has (a priority set by hand
    in the launchpad) is kept; no attempt tag, the run claimed no upload."""
    if TENANT_TAG in tags or PARTITION_TAG not in tags:
        return {}
    try:
        video_id = validate_uuid(tags[PARTITION_TAG], "partition key")
    except BadInputError:
        return {}  # not a video: the run fails with one line at its first step
    video = catalog.get_video(video_id)
    tenant = catalog.get_tenant(video.tenant_id) if video is not None else None
    if video is None or tenant is None:
        return {}
    wanted = run_tags(video_id, tenant.id, tenant.tier, now, policy)
    return {k: v for k, v in wanted.items() if k not in tags}


def refusal(tags: Mapping[str, str]) -> str | None:
    """Why a run must not be queued: its partition key is not a video id (anyone can type a key
    into "Add a partition"; the ``invalid_partition_keys`` sensor removes it at its next tick)."""
    key = tags.get(PARTITION_TAG)
    if key is None:
        return None
    try:
        if validate_uuid(key, "partition key") == key:
            return None
    except BadInputError:
        pass
    return f"partition key {shorten(repr(key), 80)} is not a video id (a UUID): nothing to process"


def _catalog_and_policy() -> tuple[Catalog, PriorityPolicy]:
    settings = get_settings()
    catalog = open_catalog(
        settings.catalog,
        settings.database_url,
        str(settings.resolved_data_dir()),
        settings.supabase_url,
        os.environ.get("SUPABASE_SERVICE_ROLE_KEY"),
    )
    return catalog, PlatformSettings.from_settings(settings).priority_policy()


class VideoRunCoordinator(dg.QueuedRunCoordinator):
    """``QueuedRunCoordinator`` that tags a video's untagged runs before enqueueing them."""

    def submit_run(self, context: dg.SubmitRunContext) -> dg.DagsterRun:
        run = context.dagster_run
        refused = refusal(run.tags)
        if refused is not None and run.status == dg.DagsterRunStatus.NOT_STARTED:
            # one line on the run page instead of a step failure per asset
            self._instance.report_run_failed(run, refused)
            return self._instance.get_run_by_id(run.run_id) or run
        if TENANT_TAG not in run.tags and PARTITION_TAG in run.tags:
            try:
                catalog, policy = _catalog_and_policy()
                tags = missing_run_tags(run.tags, catalog, policy, datetime.now(UTC))
            except Exception as exc:  # a catalog outage must not refuse the run
                _log.warning(f"run {run.run_id}: no tenant tags ({type(exc).__name__}: {exc})")
                tags = {}
            if tags:
                self._instance.add_run_tags(run.run_id, tags)
                run = self._instance.get_run_by_id(run.run_id) or run
                context = dg.SubmitRunContext(run, context.workspace)
        return super().submit_run(context)
