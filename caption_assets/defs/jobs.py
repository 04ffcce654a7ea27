"""The jobs per video (docs/architecture.md, jobs).

All steps of a run execute in the run's one process (``in_process_executor``): the multiprocess
executor started a Python process per step (imports, the catalog pool, OCR models again each time),
dashed gaps in every Gantt chart. Measured on the 20 s demo video, ``video_job`` through
``dagster.execute_job``: in-process 31-37 s, multiprocess 118 s (2 shared cores). Isolation stays
per video: each run still has a process of its own, so a crash ends only that video's run."""

import dagster as dg

from caption_assets.defs.runs import JOB_ASSETS


def _selection(job_name: str) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*sorted(JOB_ASSETS[job_name]))


layout_job = dg.define_asset_job(
    "layout_job",
    selection=_selection("layout_job"),
    executor_def=dg.in_process_executor,
    description="Full frames and layout.db for one video; ends annotate (or done when auto-approved).",
)

captions_job = dg.define_asset_job(
    "captions_job",
    selection=_selection("captions_job"),
    executor_def=dg.in_process_executor,
    description="Cropped caption band and captions.db for one video with an approved layout.",
)

video_job = dg.define_asset_job(
    "video_job",
    selection=_selection("video_job"),
    executor_def=dg.in_process_executor,
    description="All four assets of one video in one run, for tenants whose layouts are approved "
    "automatically (what `caption-assets process` runs): a layout that needs a person stops it "
    "before cropped_frames.",
)
