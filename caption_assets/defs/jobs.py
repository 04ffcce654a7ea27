"""The jobs per video (docs/architecture.md, jobs)."""

import dagster as dg

from caption_assets.defs.runs import JOB_ASSETS


def _selection(job_name: str) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*sorted(JOB_ASSETS[job_name]))


layout_job = dg.define_asset_job(
    "layout_job",
    selection=_selection("layout_job"),
    description="Full frames and layout.db for one video; ends annotate (or done when auto-approved).",
)

captions_job = dg.define_asset_job(
    "captions_job",
    selection=_selection("captions_job"),
    description="Cropped caption band and captions.db for one video with an approved layout.",
)

video_job = dg.define_asset_job(
    "video_job",
    selection=_selection("video_job"),
    description="All four assets of one video in one run, for tenants whose layouts are approved "
    "automatically (what `caption-assets process` runs): a layout that needs a person stops it "
    "before cropped_frames.",
)
