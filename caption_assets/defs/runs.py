"""Run requests, one source for every caller (sensors, CLI, maintenance, retention): the tags a
video's run carries, its run key, its typed config, which assets each job materializes and which
run statuses count as in flight."""

# no `from __future__ import annotations`: Dagster reads the Config annotations at runtime
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from caption_assets.core.config import PIPELINE_VERSION
from caption_assets.core.policy.priority import (
    SINCE_TAG,
    VIDEO_TAG,
    PriorityPolicy,
    priority_for,
    priority_tags,
)
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME, videos_partitions

# how often the sensors that request runs tick
SENSOR_INTERVAL_SECONDS = 5

PARTITION_TAG = "dagster/partition"
RUN_KEY_TAG = "dagster/run_key"
# readable identity beside the UUIDs: the tenant's name and the uploaded file's name (the tier is
# priority_tags' TIER_TAG)
TENANT_NAME_TAG = "caption_assets/tenant_name"
FILE_TAG = "caption_assets/file"
# Dagster tag values end up in run lists, filters and (on Kubernetes) labels: at most 63 characters
# of [A-Za-z0-9_.-], starting and ending with a letter or digit
TAG_VALUE_MAX = 63
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")

# the catalog's processing_attempt a layout run was requested for: the failure sensor only settles
# the video when no retry has started a newer attempt since
ATTEMPT_TAG = "caption_assets/attempt"

LAYOUT_ASSETS: frozenset[str] = frozenset({"full_frames", "layout_db"})
CAPTIONS_ASSETS: frozenset[str] = frozenset({"cropped_frames", "captions_db"})
# jobs.py selects exactly these, so the map cannot drift from the jobs
JOB_ASSETS: dict[str, frozenset[str]] = {
    "layout_job": LAYOUT_ASSETS,
    "captions_job": CAPTIONS_ASSETS,
    "video_job": LAYOUT_ASSETS | CAPTIONS_ASSETS,
}

IN_FLIGHT: list[dg.DagsterRunStatus] = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def safe_tag_value(value: str) -> str:
    """``value`` as a tag value: unsafe runs of characters become ``_``, at most ``TAG_VALUE_MAX``
    characters (a long name keeps its start and its end: ``holiday_..._final.mp4``)."""
    text = _UNSAFE.sub("_", value).strip("_.-")
    if len(text) > TAG_VALUE_MAX:
        keep = (TAG_VALUE_MAX - 3) // 2
        text = f"{text[:keep].rstrip('_.-')}...{text[-keep:].lstrip('_.-')}"
    return text or "_"


def readable_tags(tenant_name: str | None = None, file_name: str | None = None) -> dict[str, str]:
    """The tenant's and the file's names as run tags (only those known)."""
    tags = {}
    if tenant_name:
        tags[TENANT_NAME_TAG] = safe_tag_value(tenant_name)
    if file_name:
        tags[FILE_TAG] = safe_tag_value(file_name)
    return tags


def run_tags(
    video_id: str,
    tenant_id: str,
    tier: str,
    since: datetime,
    policy: PriorityPolicy,
    attempt: int | None = None,
    now: datetime | None = None,
    tenant_name: str | None = None,
    file_name: str | None = None,
) -> dict[str, str]:
    """Tenant, tier and priority (aged from ``since``), the video, the age origin for the
    queue-aging sensor, the catalog attempt of a layout run, and the tenant's and file's names
    when the caller knows them (every asset adds them to its run too: ``readable_tags``)."""
    priority = priority_for(tier, since, now or datetime.now(UTC), policy)
    tags = {
        **priority_tags(tenant_id, tier, priority),
        VIDEO_TAG: video_id,
        SINCE_TAG: since.isoformat(),
    }
    if attempt is not None:
        tags[ATTEMPT_TAG] = str(attempt)
    tags.update(readable_tags(tenant_name, file_name))
    return tags


def video_run_request(
    video_id: str,
    tenant_id: str,
    tier: str,
    since: datetime,
    policy: PriorityPolicy,
    *,
    run_key: str,
    attempt: int | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    run_config: dg.RunConfig | None = None,
) -> dg.RunRequest:
    """A sensor's request for a run of one video: its partition, its run key, and the tags
    ``run_tags`` gives it."""
    return dg.RunRequest(
        partition_key=video_id,
        run_key=run_key,
        tags=run_tags(video_id, tenant_id, tier, since, policy, attempt=attempt),
        asset_selection=asset_selection,
        run_config=run_config,
    )


def requested_attempt(tags: Mapping[str, str]) -> int | None:
    raw = tags.get(ATTEMPT_TAG)
    return int(raw) if raw is not None and raw.isdigit() else None


def layout_run_key(video_id: str, processing_attempt: int) -> str:
    """One layout run per (video, attempt): a retry increments the attempt and runs again."""
    return f"layout:{video_id}:{processing_attempt}:{PIPELINE_VERSION}"


def captions_run_key(video_id: str, layout_approved_at: datetime) -> str:
    """One captions run per approval (approving an approved layout keeps its approval)."""
    return f"captions:{video_id}:{layout_approved_at.isoformat()}:{PIPELINE_VERSION}"


def reocr_run_key(video_id: str, request_ids: Iterable[str]) -> str:
    """One re-read per set of OCR requests."""
    return f"reocr:{video_id}:{','.join(sorted(request_ids))}:{PIPELINE_VERSION}"


def new_partition_keys(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    """The keys without a partition yet. One query for the partition list: a per-key lookup opens
    a storage connection each (about 7 ms apiece, 0.7 s for a full batch)."""
    if not keys:
        return []
    existing = set(instance.get_dynamic_partitions(VIDEOS_PARTITION_NAME))
    return [k for k in dict.fromkeys(keys) if k not in existing]


def partition_requests(
    instance: dg.DagsterInstance, video_ids: list[str]
) -> list[dg.AddDynamicPartitionsRequest]:
    """The partitions a batch of run requests needs that do not exist yet."""
    new_keys = new_partition_keys(instance, video_ids)
    return [videos_partitions.build_add_request(new_keys)] if new_keys else []


def requested_runs(
    instance: dg.DagsterInstance, requests: list[dg.RunRequest], skip_reason: str | None = None
) -> dg.SensorResult:
    """A sensor's answer: these runs, with the partitions they need added first; ``skip_reason``
    (when given) instead of an empty answer."""
    if not requests and skip_reason is not None:
        return dg.SensorResult(skip_reason=skip_reason)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests(
            instance, [r.partition_key for r in requests if r.partition_key]
        ),
    )


class CaptionsConfig(dg.Config):
    """captions_db's run config: re-read only these captions and answer these OCR requests."""

    reocr_caption_ids: list[int] = []
    ocr_request_ids: list[str] = []


CAPTIONS_OP = "captions_db"


def reocr_run_config(caption_ids: Iterable[int], request_ids: Iterable[str]) -> dg.RunConfig:
    config = CaptionsConfig(
        reocr_caption_ids=sorted(set(caption_ids)), ocr_request_ids=sorted(set(request_ids))
    )
    return dg.RunConfig(ops={CAPTIONS_OP: config})


def ocr_request_ids(run: dg.DagsterRun) -> list[str]:
    """The OCR requests a run was asked to answer (none for a run without captions config)."""
    run_config: Any = run.run_config or {}
    raw: Any = run_config.get("ops", {}).get(CAPTIONS_OP, {}).get("config")
    if not raw:
        return []
    return list(CaptionsConfig(**raw).ocr_request_ids)


def assets_of_run(run: dg.DagsterRun, instance: dg.DagsterInstance | None = None) -> set[str]:
    """The assets a run materializes: its explicit selection, else the steps of its execution
    plan (so every job is covered, not only the ones named here), else ``JOB_ASSETS``."""
    assets = {k.to_user_string() for k in (run.asset_selection or ())}
    if not assets and instance is not None and run.execution_plan_snapshot_id:
        try:
            plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        except Exception:  # a missing snapshot only means the fallback below decides
            plan = None
        if plan is not None:
            assets = set(plan.step_keys_to_execute or (s.key for s in plan.steps))
    return assets or set(JOB_ASSETS.get(run.job_name, ()))
