"""The platform with the S3 adapter on a real local S3 server (SeaweedFS, signatures checked)."""

import socket

import dagster as dg
import pytest

from caption_assets.app.platform import upload_video
from caption_assets.core.keys import VideoKeys
from caption_assets.core.processing.captions_db import read_captions
from caption_assets.defs.assets.captions import captions_db, cropped_frames
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
from caption_assets.defs.resources.store import StoreResource
from caption_assets_tests.fixtures.seaweed import REGION

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _s3_resources(platform, endpoint: str, bucket: str, key: str, secret: str, **kw) -> dict:
    store = StoreResource(
        backend="s3",
        bucket=bucket,
        endpoint_url=endpoint,
        region=REGION,
        access_key_id=key,
        secret_access_key=secret,
        **kw,
    )
    return {**platform.resources, "store": store}


def test_processing_in_s3_mode_keeps_every_object_under_its_tenant(
    platform, seaweed_s3, s3_bucket, s3_client, rendered, tmp_path
) -> None:
    resources = _s3_resources(
        platform, seaweed_s3.endpoint, s3_bucket, seaweed_s3.access_key, seaweed_s3.secret_key
    )
    store = resources["store"].get(tenant_exists=platform.catalog.tenant_exists)
    video = rendered("short_bottom")
    other = rendered("no_text")
    ids = [
        upload_video(platform.catalog, store, video.path, "acme"),
        upload_video(platform.catalog, store, other.path, "globex"),
    ]
    platform.instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, ids)
    for video_id in ids:
        for assets in ([full_frames, layout_db], [cropped_frames, captions_db]):
            assert dg.materialize(
                assets, partition_key=video_id, instance=platform.instance, resources=resources
            ).success

    row = platform.catalog.get_video(ids[0])
    keys = VideoKeys(row.tenant_id, row.id)
    got = read_captions(store.get_gunzip_file(keys.captions_db(), tmp_path / "captions.db"))
    assert [c.text for c in got] == [c.text for c in video.truth.captions]

    tenants = {v: platform.catalog.get_video(v).tenant_id for v in ids}
    objects = [
        o["Key"]
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
        for o in page.get("Contents", [])
    ]
    assert len(objects) > 40  # frames, thumbnails, chunks, databases, subtitles of two videos
    for key in objects:
        tenant, _, _, video_id = key.split("/")[:4]
        assert tenants[video_id] == tenant, key


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_store_down_fails_the_asset_clearly_and_the_video_ends_in_error(platform, rendered) -> None:
    video_id = platform.upload(rendered("short_bottom").path)
    resources = _s3_resources(
        platform,
        f"http://127.0.0.1:{_closed_port()}",
        "captions",
        "key",
        "secret",
        retry_attempts=2,
    )
    result = dg.materialize(
        [full_frames],
        partition_key=video_id,
        instance=platform.instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 3  # transient: the RetryPolicy tried again before giving up
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    details = row.layout_error_details
    assert "captions" in details["message"] and "after 4 attempts" in details["message"]
    assert details["retryable"] is True
