"""caption_ocr_requests: queued single-caption OCR requests become captions runs that re-read only
those captions (``reocr_caption_ids``) and keep every other caption as it is."""

from collections import defaultdict

import dagster as dg

from caption_assets.assets.captions import captions_db
from caption_assets.config import PIPELINE_VERSION, get_settings
from caption_assets.jobs import captions_job
from caption_assets.resources.catalog import CatalogResource
from caption_assets.sensors.uploads import SENSOR_INTERVAL_SECONDS, partition_requests, run_tags


@dg.sensor(
    job=captions_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-reads single captions a person asked for (caption OCR request rows).",
)
def caption_ocr_requests(
    context: dg.SensorEvaluationContext, catalog: CatalogResource
) -> dg.SensorResult:
    cat = catalog.get()
    claimed = cat.claim_ocr_requests(limit=get_settings().sensor_batch_size)
    if not claimed:
        return dg.SensorResult(skip_reason="no caption OCR requests queued")
    by_video: dict[str, list] = defaultdict(list)
    for request in claimed:
        by_video[request.video_id].append(request)
    refused = cat.refused_videos(list(by_video))
    requests: list[dg.RunRequest] = []
    for video_id, items in by_video.items():
        if video_id in refused:
            for r in items:
                cat.finish_ocr_request(r.id, error=f"refused: {refused[video_id]}")
            context.log.warning(f"OCR requests for video {video_id} refused: {refused[video_id]}")
            continue
        video = cat.get_video(video_id)
        tenant = cat.get_tenant(video.tenant_id)
        ids = sorted({r.id for r in items})
        requests.append(
            dg.RunRequest(
                partition_key=video_id,
                asset_selection=[captions_db.key],
                run_key=f"reocr:{video_id}:{','.join(ids)}:{PIPELINE_VERSION}",
                run_config={
                    "ops": {
                        "captions_db": {
                            "config": {
                                "reocr_caption_ids": sorted({r.caption_id for r in items}),
                                "ocr_request_ids": ids,
                            }
                        }
                    }
                },
                tags=run_tags(video_id, tenant.id, tenant.tier, video.uploaded_at),
            )
        )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests(
            context.instance, [r.partition_key for r in requests if r.partition_key]
        ),
    )
