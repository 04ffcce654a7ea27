"""caption_ocr_requests: queued single-caption OCR requests become captions runs that re-read only
those captions (``reocr_caption_ids``) and keep every other caption as it is."""

import tempfile
from collections import defaultdict
from pathlib import Path

import dagster as dg

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import OcrRequest
from caption_assets.core.keys import VideoKeys
from caption_assets.core.processing.captions_db import read_captions
from caption_assets.core.store.base import ArtifactStore
from caption_assets.defs.assets.captions import captions_db
from caption_assets.defs.jobs import captions_job
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.settings import PlatformSettings
from caption_assets.defs.resources.store import StoreResource
from caption_assets.defs.runs import reocr_run_config, reocr_run_key, requested_runs, video_run_request
from caption_assets.defs.sensors import running_sensor


def _split_known(
    store: ArtifactStore, keys: VideoKeys, requests: list[OcrRequest]
) -> tuple[list[OcrRequest], list[OcrRequest]]:
    """(requests for captions in the current captions.db, the rest). The re-read of a batch
    fails as a whole on one unknown caption id, so those are answered here, each on its own.
    Without a captions.db every request is unknown: there is nothing to re-read yet."""
    if not store.exists(keys.captions_db()):
        return [], requests
    with tempfile.TemporaryDirectory(prefix="caption_assets_reocr_") as tmp:
        db = store.get_gunzip_file(keys.captions_db(), Path(tmp) / "captions.db")
        existing = {c.id for c in read_captions(db)}
    known = [r for r in requests if r.caption_id in existing]
    return known, [r for r in requests if r.caption_id not in existing]


@running_sensor("Re-reads single captions a person asked for (caption OCR request rows).", job=captions_job)
def caption_ocr_requests(
    context: dg.SensorEvaluationContext,
    catalog: CatalogResource,
    store: StoreResource,
    settings: PlatformSettings,
) -> dg.SensorResult:
    cat = catalog.get()
    artifacts = store.get(tenant_exists=cat.tenant_exists)
    claimed = cat.claim_ocr_requests(limit=settings.sensor_batch_size)
    if not claimed:
        return dg.SensorResult(skip_reason="no caption OCR requests queued")
    by_video: dict[str, list] = defaultdict(list)
    for request in claimed:
        by_video[request.video_id].append(request)
    refused = cat.refused_videos(list(by_video))
    requests: list[dg.RunRequest] = []
    policy = settings.priority_policy()
    for video_id, items in by_video.items():
        if video_id in refused:
            for r in items:
                lifecycle.ocr_request_finished(cat, r.id, error=f"refused: {refused[video_id]}")
            context.log.warning(f"OCR requests for video {video_id} refused: {refused[video_id]}")
            continue
        video = cat.get_video(video_id)
        # a claimed request's video and tenant exist: the rows reference them
        assert video is not None, f"video {video_id} of claimed OCR requests is gone"
        tenant = cat.get_tenant(video.tenant_id)
        assert tenant is not None, f"tenant of video {video_id} is gone"
        items, unknown = _split_known(artifacts, VideoKeys(tenant.id, video_id), items)
        for r in unknown:
            lifecycle.ocr_request_finished(
                cat, r.id, error=f"caption {r.caption_id} is not in the video's captions.db"
            )
        if unknown:
            context.log.warning(
                f"OCR requests for video {video_id}: captions {[r.caption_id for r in unknown]} "
                "do not exist; those requests failed, the others run"
            )
        if not items:
            continue
        ids = [r.id for r in items]
        requests.append(
            video_run_request(
                video_id,
                tenant.id,
                tenant.tier,
                video.uploaded_at,
                policy,
                run_key=reocr_run_key(video_id, ids),
                asset_selection=[captions_db.key],
                run_config=reocr_run_config((r.caption_id for r in items), ids),
            )
        )
    return requested_runs(context.instance, requests)
