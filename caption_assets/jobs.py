"""The two jobs per video (DESIGN.md section 1)."""

import dagster as dg

from caption_assets.assets.captions import captions_db, cropped_frames
from caption_assets.assets.layout import full_frames, layout_db

layout_job = dg.define_asset_job(
    "layout_job",
    selection=dg.AssetSelection.assets(full_frames, layout_db),
    description="Full frames and layout.db for one video; ends annotate (or done when auto-approved).",
)

captions_job = dg.define_asset_job(
    "captions_job",
    selection=dg.AssetSelection.assets(cropped_frames, captions_db),
    description="Cropped caption band and captions.db for one video with an approved layout.",
)

video_job = dg.define_asset_job(
    "video_job",
    selection=dg.AssetSelection.assets(full_frames, layout_db, cropped_frames, captions_db),
    description="All four assets of one video in one run, for tenants whose layouts are approved "
    "automatically (what `caption-assets process` runs): a layout that needs a person stops it "
    "before cropped_frames.",
)
