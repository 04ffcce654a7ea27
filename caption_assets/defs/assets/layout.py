"""layout_job's assets: full frames at 0.1 Hz, then OCR boxes and the caption region.

Every per-video asset (these and captions.py's) logs its compute call's progress reports to the
run's log as ``{step}: {done}/{total} {what}`` (``processing.progress.progress_line``; in-process
compute only, at most one every two seconds), which the UI's run logs and ``caption-assets process``
show."""

import tempfile
from pathlib import Path

import dagster as dg

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import VideoMetadata
from caption_assets.core.compute.watch import stopped_when
from caption_assets.core.policy import quality
from caption_assets.core.policy.admission import admit, enforcing
from caption_assets.core.processing.progress import Progress, progress_line
from caption_assets.defs.assets.metadata import full_frames_metadata, layout_metadata
from caption_assets.defs.assets.runtime import video_asset, video_locks, video_step
from caption_assets.defs.checks import to_check_result
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.compute import ComputeResource
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.resources.store import StoreResource

# captions.py's asset (which imports this module): a run materializing it after layout_db claims
# the captions work of its own approval
CROPPED_FRAMES_KEY = dg.AssetKey("cropped_frames")


def continues_to_captions(context: dg.AssetExecutionContext) -> bool:
    """Whether this run goes on to the captions after the layout (video_job does)."""
    selection = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
    return CROPPED_FRAMES_KEY in selection


def log_progress(context: dg.AssetExecutionContext, step: str) -> Progress:
    """The compute call's progress reports as info lines of the run's log."""

    def report(what: str, done: int, total: int) -> None:
        context.log.info(progress_line(step, what, done, total))

    return report


LAYOUT_CHECKS = [
    dg.AssetCheckSpec(
        "layout_has_caption_region",
        asset="layout_db",
        blocking=True,
        description="A caption region was found, or the video has no text at all.",
    ),
    dg.AssetCheckSpec(
        "layout_region_confidence",
        asset="layout_db",
        description="WARN when the caption region was found with low confidence.",
    ),
]


@video_asset(
    group="layout",
    kinds={"python", "video"},
    description="Full-resolution frames every 10 s (at least 20 for short videos) and 320 px thumbnails.",
)
def full_frames(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    compute: ComputeResource,
    settings: PlatformSettings,
) -> dg.MaterializeResult:
    with video_step(context, "full_frames", catalog, store, compute, lifecycle.layout_failed) as step:
        attempt = lifecycle.layout_started(step.catalog, step.video.id)
        tier, limits = step.tenant.tier, settings.limits()
        # the size of what was stored, not what the uploader declared in the catalog row
        stored = step.store.size(step.keys.video())
        admit(tier, limits, size_bytes=stored)
        backend = step.backend
        with enforcing(tier, limits), backend.reporting(log_progress(context, "full_frames")):
            result = backend.full_frames(step.job)
        step.catalog.record_metadata(
            step.video.id,
            VideoMetadata(
                duration_seconds=result.duration_seconds,
                width=result.width,
                height=result.height,
                fps=result.fps,
                total_frames=result.total_frames,
            ),
        )
        # duration and resolution are known once the video was opened: checked before the
        # expensive OCR of layout_db and everything after it
        admit(
            tier,
            limits,
            duration_seconds=result.duration_seconds,
            width=result.width,
            height=result.height,
        )
    return dg.MaterializeResult(
        metadata={
            **step.metadata(),
            "processing_attempt": attempt,
            **full_frames_metadata(context, step.store, step.keys, result, stored),
        }
    )


@video_asset(
    group="layout",
    kinds={"python", "sqlite"},
    deps=[full_frames],
    check_specs=LAYOUT_CHECKS,
    description="OCR boxes of the full frames and the caption region, as layout.db.",
)
def layout_db(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    with video_step(context, "layout_db", catalog, store, compute, lifecycle.layout_failed) as step:
        lifecycle.layout_started(step.catalog, step.video.id)
        backend = step.backend
        # layout.db is what a person edits in the web app under their client lock; a lock lost
        # meanwhile fails the step at the end of the block, before anything is recorded
        with video_locks(
            step.catalog, step.video.id, holder=context.run.run_id, databases=("layout",)
        ) as locks:
            with stopped_when(backend, locks.check), backend.reporting(log_progress(context, "layout_db")):
                result = backend.layout(step.job)
        findings = quality.layout_findings(result)
        blocking_failed = [f for f in findings if f.blocking and not f.passed]
        lifecycle.layout_finished(
            step.catalog,
            step.video.id,
            blocking_failure=quality.findings_details(blocking_failed, context.run.run_id)
            if blocking_failed
            else None,
            auto_approve=step.tenant.auto_approve,
            # otherwise the approvals sensor would start a second captions run beside this one
            captions_run_id=context.run.run_id if continues_to_captions(context) else None,
        )
    with tempfile.TemporaryDirectory(prefix="caption_assets_layout_") as tmp:
        try:
            db: Path | None = step.store.get_gunzip_file(step.keys.layout_db(), Path(tmp) / "layout.db")
        except Exception as exc:  # recorded already: the metadata goes without the zones and boxes
            context.log.warning(f"layout.db not read back for the metadata: {exc}")
            db = None
        shown = layout_metadata(context, step.store, step.keys, result, db)
    return dg.MaterializeResult(
        metadata={
            **step.metadata(),
            **shown,
            "auto_approved": bool(step.tenant.auto_approve and not blocking_failed),
            "lock_wait_seconds": round(locks.waited_seconds, 3),
            "key": dg.MetadataValue.path(step.keys.layout_db()),
        },
        check_results=[to_check_result(f) for f in findings],
    )
