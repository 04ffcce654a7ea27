"""captions_job's assets: the caption band (10 Hz WebM chunks, and the caption states read from the
same decode), then captions.db + SRT/VTT."""

import tempfile
from functools import partial
from pathlib import Path

import dagster as dg

from caption_assets.core.catalog import lifecycle
from caption_assets.core.compute.watch import stopped_when
from caption_assets.core.keys import VideoKeys
from caption_assets.core.policy import quality
from caption_assets.core.policy.admission import enforcing
from caption_assets.core.processing.captions_db import Caption, read_captions
from caption_assets.core.store.base import ArtifactStore
from caption_assets.defs.assets.layout import layout_db, log_progress
from caption_assets.defs.assets.metadata import captions_metadata, cropped_metadata
from caption_assets.defs.assets.runtime import load_approved, video_asset, video_locks, video_step
from caption_assets.defs.checks import to_check_result
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


@video_asset(
    group="captions",
    kinds={"python", "video"},
    deps=[layout_db],
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
    failed = partial(lifecycle.captions_failed, columns=["boundaries_status"])
    with video_step(context, "cropped_frames", catalog, store, compute, failed, load=load_approved) as step:
        # captions_db of this run takes over the locks (same holder) and releases them
        with video_locks(step.catalog, step.video.id, holder=context.run.run_id, release=False) as locks:
            lifecycle.captions_started(step.catalog, step.video.id, "boundaries_status")
            version = step.video.current_cropped_frames_version + 1
            backend = step.backend
            # a lock lost while the scan runs stops it then, not after the whole call
            # the whole decode held to the tier's limits, whatever the container told full_frames
            with (
                stopped_when(backend, locks.check),
                enforcing(step.tenant.tier, settings.limits()),
                backend.reporting(log_progress(context, "cropped_frames")),
            ):
                result = backend.cropped_frames(step.job, version)
            locks.check()
            # bumped only now: every chunk of the new version is stored
            step.catalog.set_cropped_frames_version(step.video.id, version)
    return dg.MaterializeResult(
        metadata={
            **step.metadata(),
            **cropped_metadata(context, step.store, step.keys, result),
            "lock_wait_seconds": round(locks.waited_seconds, 3),
            "prefix": dg.MetadataValue.path(step.keys.cropped_frames_prefix(version)),
            "raw_ocr_key": dg.MetadataValue.path(step.keys.raw_ocr_db()),
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


@video_asset(
    group="captions",
    kinds={"python", "sqlite"},
    deps=[cropped_frames],
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
    reocr = list(config.reocr_caption_ids) or None
    with video_step(
        context, "captions_db", catalog, store, compute, lifecycle.captions_failed, load=load_approved
    ) as step:
        with video_locks(step.catalog, step.video.id, holder=context.run.run_id) as locks:
            lifecycle.captions_started(step.catalog, step.video.id, "text_status")
            backend, keys = step.backend, step.keys
            # a re-OCR decodes the video again: held to the tier's limits as well
            with (
                stopped_when(backend, locks.check),
                enforcing(step.tenant.tier, settings.limits()),
                backend.reporting(log_progress(context, "captions_db")),
            ):
                result = backend.captions(step.job, reocr_caption_ids=reocr)
            with tempfile.TemporaryDirectory(prefix="caption_assets_check_") as tmp:
                db = step.store.get_gunzip_file(keys.captions_db(), Path(tmp) / "captions.db")
                findings = quality.captions_findings(
                    db, step.video.duration_seconds, region_found=result.region_found
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
                step.catalog,
                step.video.id,
                "error" if blocking else "review" if failed else "done",
                quality.findings_details(blocking, context.run.run_id) if blocking else None,
                ocr_request_ids=config.ocr_request_ids,
            )
    current = step.video.current_cropped_frames_version
    pruned = _prune_cropped_frames(context, step.store, keys, current)
    return dg.MaterializeResult(
        metadata={
            **step.metadata(),
            "cropped_frames_version": current,
            "older_cropped_frames_objects_deleted": pruned,
            "captions": result.caption_count,
            "ocr_errors": result.ocr_error_count,
            "carried_over": result.carried_over_count,
            "lock_wait_seconds": round(locks.waited_seconds, 3),
            **(
                {}
                if cues is None
                else captions_metadata(context, step.store, keys, cues, step.video.duration_seconds)
            ),
            "reocr_caption_ids": dg.MetadataValue.json(reocr or []),
            "key": dg.MetadataValue.path(keys.captions_db()),
            "srt": dg.MetadataValue.path(keys.captions_srt()),
            "vtt": dg.MetadataValue.path(keys.captions_vtt()),
        },
        check_results=[to_check_result(f) for f in findings],
    )
