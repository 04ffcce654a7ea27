"""captions_job's assets: the caption band (10 Hz WebM chunks, and the caption states read from the
same decode), then captions.db + SRT/VTT."""

import tempfile
from functools import partial
from pathlib import Path

import dagster as dg

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import Catalog
from caption_assets.core.compute.watch import stopped_when
from caption_assets.core.config import PIPELINE_VERSION
from caption_assets.core.errors import PermanentError
from caption_assets.core.keys import VideoKeys
from caption_assets.core.policy import quality
from caption_assets.core.policy.admission import enforcing
from caption_assets.core.processing.captions_db import Caption, read_captions
from caption_assets.core.store.base import ArtifactStore
from caption_assets.defs.assets.layout import OWNERS, layout_db
from caption_assets.defs.assets.metadata import captions_metadata, cropped_metadata
from caption_assets.defs.assets.runtime import (
    COMPUTE_RETRY_POLICY,
    VideoContext,
    compute_metadata,
    load_video,
    status_guard,
    tag_run,
    video_locks,
)
from caption_assets.defs.checks import to_check_result
from caption_assets.defs.partitions import videos_partitions
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.compute import ComputeResource
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.resources.store import StoreResource
from caption_assets.defs.runs import CaptionsConfig

CAPTIONS_CHECKS = [
    dg.AssetCheckSpec(
        "captions_db_valid",
        asset="captions_db",
        blocking=True,
        description="captions.db has the expected schema, ordered non-overlapping cues, and every "
        "cue has text or an explicit OCR error.",
    ),
    dg.AssetCheckSpec(
        "captions_rate_plausible",
        asset="captions_db",
        description="WARN when there are suspiciously many or few captions per minute.",
    ),
]


def _approved(cat: Catalog, video_id: str) -> VideoContext:
    vc = load_video(cat, video_id)
    if vc.video.layout_approved_at is None or vc.video.layout_status != "done":
        raise PermanentError(
            f"video {video_id}: layout is not approved (layout_status={vc.video.layout_status}); "
            "approve it in the web app or re-run layout_job"
        )
    return vc


@dg.asset(
    partitions_def=videos_partitions,
    deps=[layout_db],
    retry_policy=COMPUTE_RETRY_POLICY,
    group_name="captions",
    kinds={"python", "video"},
    # the processing pipeline's version: partitions made by an older pipeline show as outdated
    code_version=PIPELINE_VERSION,
    owners=OWNERS,
    description="The caption band at 10 Hz as VP9/WebM chunks of 32 frames in modulo levels 16/4/1, "
    "and from the same decode the caption states with their OCR text (server-side raw-ocr.db).",
)
def cropped_frames(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    compute: ComputeResource,
    settings: PlatformSettings,
) -> dg.MaterializeResult:
    cat = catalog.get()
    video_id = context.partition_key
    failed = partial(lifecycle.captions_failed, cat, video_id, columns=["boundaries_status"])
    with status_guard(context, "cropped_frames", failed):
        vc = _approved(cat, video_id)
        tag_run(context, vc)
        # captions_db of this run takes over the locks (same holder) and releases them
        with video_locks(cat, vc.video.id, holder=context.run.run_id, release=False) as locks:
            lifecycle.captions_started(cat, vc.video.id, "boundaries_status")
            version = vc.video.current_cropped_frames_version + 1
            artifacts = store.get(tenant_exists=cat.tenant_exists)
            backend = compute.get(artifacts)
            # a lock lost while the scan runs stops it then, not after the whole call
            # the whole decode held to the tier's limits, whatever the container told full_frames
            with stopped_when(backend, locks.check), enforcing(vc.tenant.tier, settings.limits()):
                result = backend.cropped_frames(vc.job, version)
            locks.check()
            # bumped only now: every chunk of the new version is stored
            cat.set_cropped_frames_version(vc.video.id, version)
    keys = VideoKeys(vc.tenant.id, vc.video.id)
    return dg.MaterializeResult(
        metadata={
            **compute_metadata(backend),
            **vc.metadata(),
            **cropped_metadata(context, artifacts, keys, result),
            "prefix": dg.MetadataValue.path(keys.cropped_frames_prefix(version)),
            "raw_ocr_key": dg.MetadataValue.path(keys.raw_ocr_db()),
        }
    )


def _prune_cropped_frames(
    context: dg.AssetExecutionContext, store: ArtifactStore, keys: VideoKeys, current: int
) -> int:
    """Delete the chunks of every cropped_frames version older than ``current``, the one these
    captions were made from: nothing reads them any more. A failure only leaves them for the next
    captions run; the captions are recorded already. Returns how many objects went."""
    deleted = 0
    for version in range(1, current):
        try:
            deleted += store.delete_prefix(keys.cropped_frames_prefix(version))
        except Exception as exc:  # noqa: BLE001 - clean-up must not fail recorded captions
            context.log.warning(f"cropped_frames_v{version} not deleted, left for the next run: {exc}")
    return deleted


@dg.asset(
    partitions_def=videos_partitions,
    deps=[cropped_frames],
    retry_policy=COMPUTE_RETRY_POLICY,
    group_name="captions",
    kinds={"python", "sqlite"},
    code_version=PIPELINE_VERSION,
    owners=OWNERS,
    check_specs=CAPTIONS_CHECKS,
    description="Caption extents (exact frames) and OCR text in captions.db, plus captions.srt/.vtt.",
)
def captions_db(
    context: dg.AssetExecutionContext,
    config: CaptionsConfig,
    catalog: CatalogResource,
    store: StoreResource,
    compute: ComputeResource,
    settings: PlatformSettings,
) -> dg.MaterializeResult:
    cat = catalog.get()
    video_id = context.partition_key
    reocr = list(config.reocr_caption_ids) or None
    with status_guard(context, "captions_db", partial(lifecycle.captions_failed, cat, video_id)):
        vc = _approved(cat, video_id)
        tag_run(context, vc)
        with video_locks(cat, vc.video.id, holder=context.run.run_id) as locks:
            lifecycle.captions_started(cat, vc.video.id, "text_status")
            artifacts = store.get(tenant_exists=cat.tenant_exists)
            backend = compute.get(artifacts)
            # a re-OCR decodes the video again: held to the tier's limits as well
            with stopped_when(backend, locks.check), enforcing(vc.tenant.tier, settings.limits()):
                result = backend.captions(vc.job, reocr_caption_ids=reocr)
            keys = VideoKeys(vc.tenant.id, vc.video.id)
            with tempfile.TemporaryDirectory(prefix="caption_assets_check_") as tmp:
                db = artifacts.get_gunzip_file(keys.captions_db(), Path(tmp) / "captions.db")
                findings = quality.captions_findings(
                    db, vc.video.duration_seconds, region_found=result.region_found
                )
                cues: list[Caption] | None = None
                try:
                    cues = read_captions(db)
                except Exception as exc:  # the check above reports a broken captions.db
                    context.log.warning(f"captions.db not read for the metadata: {exc}")
            failed = [f for f in findings if not f.passed]
            locks.check()
            blocking = [f for f in failed if f.blocking]
            lifecycle.captions_finished(
                cat,
                vc.video.id,
                "error" if blocking else "review" if failed else "done",
                quality.findings_details(blocking, context.run.run_id) if blocking else None,
                ocr_request_ids=config.ocr_request_ids,
            )
    pruned = _prune_cropped_frames(context, artifacts, keys, vc.video.current_cropped_frames_version)
    return dg.MaterializeResult(
        metadata={
            **compute_metadata(backend),
            **vc.metadata(),
            "cropped_frames_version": vc.video.current_cropped_frames_version,
            "older_cropped_frames_objects_deleted": pruned,
            "captions": result.caption_count,
            "ocr_errors": result.ocr_error_count,
            "carried_over": result.carried_over_count,
            **(
                {}
                if cues is None
                else captions_metadata(context, artifacts, keys, cues, vc.video.duration_seconds)
            ),
            "reocr_caption_ids": dg.MetadataValue.json(reocr or []),
            "key": dg.MetadataValue.path(keys.captions_db()),
            "srt": dg.MetadataValue.path(keys.captions_srt()),
            "vtt": dg.MetadataValue.path(keys.captions_vtt()),
        },
        check_results=[to_check_result(f) for f in findings],
    )
