"""caption_ocr_requests: a person's request to re-read one caption becomes a captions_db-only run
that keeps the extents and ends the request completed (or error with the reason)."""

import dagster as dg
import psycopg
import pytest

from caption_assets.core.keys import VideoKeys
from caption_assets.core.processing.captions_db import read_captions
from caption_assets.defs.assets.captions import captions_db, cropped_frames
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.sensors.ocr_requests import caption_ocr_requests
from caption_assets_tests.fixtures.captions import (
    EDITED_TEXT,
    assert_reread,
    delete_caption,
    misread_and_edit,
    update_caption,
)
from caption_assets_tests.fixtures.runs import settle_failed_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _status(catalog_dsn: str, request_id: str) -> tuple[str, str | None]:
    with psycopg.connect(catalog_dsn) as conn:
        return conn.execute(
            "select status, error from captionacc.caption_ocr_requests where id = %s", (request_id,)
        ).fetchone()


def _processed(platform, video) -> str:
    """The video uploaded and carried through both jobs; returns its id."""
    video_id = platform.upload(video.path)
    for assets in ([full_frames, layout_db], [cropped_frames, captions_db]):
        assert dg.materialize(
            assets, partition_key=video_id, instance=platform.instance, resources=platform.resources
        ).success
    return video_id


def _tick(platform) -> dg.SensorResult:
    return caption_ocr_requests(
        dg.build_sensor_context(instance=platform.instance, resources=platform.resources)
    )


def _rerun(
    platform, video_id: str, request: dg.RunRequest, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    """The run the sensor asked for, in process: captions_db only, with the request's config."""
    return dg.materialize(
        [cropped_frames, captions_db],
        selection=[captions_db],
        partition_key=video_id,
        instance=platform.instance,
        resources=platform.resources,
        run_config=request.run_config,
        raise_on_error=raise_on_error,
    )


def _stored_captions(platform, keys: VideoKeys, path):
    """The stored captions.db, unpacked to ``path``."""
    return platform.store.get_gunzip_file(keys.captions_db(), path)


def test_reocr_request_rereads_one_caption_and_completes(
    platform, rendered, catalog_dsn, tmp_path, not_a_video
) -> None:
    video = rendered("short_bottom")
    video_id = _processed(platform, video)
    row = platform.catalog.get_video(video_id)
    keys = VideoKeys(row.tenant_id, video_id)
    stored = _stored_captions(platform, keys, tmp_path / "a.db")
    target = read_captions(stored)[0].id
    # a misreading in the stored file: only a real re-read brings the ground truth back
    update_caption(stored, target, text="Hcllo, thls ls a tcst.", text_ocr_confidence=0.01)
    platform.store.put_gzip_file(keys.captions_db(), stored)
    before = read_captions(stored)
    request_id = platform.catalog.request_caption_ocr(video_id, target)
    # a request for a deleted video is refused with the reason, never run
    gone = platform.upload(not_a_video)
    refused_id = platform.catalog.request_caption_ocr(gone, 1)
    platform.catalog.mark_deleted(gone)

    (req,) = _tick(platform).run_requests
    assert req.partition_key == video_id
    assert req.asset_selection == [captions_db.key]
    config = req.run_config["ops"]["captions_db"]["config"]
    assert config == {"reocr_caption_ids": [target], "ocr_request_ids": [request_id]}
    assert _status(catalog_dsn, request_id)[0] == "processing"
    status, error = _status(catalog_dsn, refused_id)
    assert status == "error" and "deleted" in error

    run = _rerun(platform, video_id, req)
    assert run.success
    assert _status(catalog_dsn, request_id) == ("completed", None)
    after = read_captions(platform.store.get_gunzip_file(keys.captions_db(), tmp_path / "b.db"))
    assert [(c.id, c.start_native_frame, c.end_native_frame) for c in after] == [
        (c.id, c.start_native_frame, c.end_native_frame) for c in before
    ]
    assert before[0].text != video.truth.captions[0].text
    assert after[0].text == video.truth.captions[0].text
    assert after[0].text_ocr_confidence not in (None, 0.01)
    # nothing new queued: the next tick has nothing to do
    assert not _tick(platform).run_requests


def test_a_bad_request_fails_alone(platform, rendered, catalog_dsn, tmp_path) -> None:
    video = rendered("short_bottom")
    video_id = _processed(platform, video)
    keys = VideoKeys(platform.catalog.get_video(video_id).tenant_id, video_id)
    captions = read_captions(platform.store.get_gunzip_file(keys.captions_db(), tmp_path / "a.db"))
    good = {c.id: platform.catalog.request_caption_ocr(video_id, c.id) for c in captions}
    bad = platform.catalog.request_caption_ocr(video_id, 2147483647)

    (req,) = _tick(platform).run_requests
    assert req.run_config["ops"]["captions_db"]["config"]["reocr_caption_ids"] == sorted(good)
    status, error = _status(catalog_dsn, bad)
    assert status == "error" and "caption 2147483647 is not in the video's captions.db" in error

    run = _rerun(platform, video_id, req)
    assert run.success
    assert {_status(catalog_dsn, r) for r in good.values()} == {("completed", None)}


def test_reocr_rereads_the_misread_caption_and_keeps_the_edited_one(
    platform, rendered, catalog_dsn, tmp_path
) -> None:
    video = rendered("sd_480p")
    video_id = _processed(platform, video)
    keys = VideoKeys(platform.catalog.get_video(video_id).tenant_id, video_id)
    stored = _stored_captions(platform, keys, tmp_path / "a.db")
    target, edited = (c.id for c in read_captions(stored))
    before = misread_and_edit(stored, target, edited)
    platform.store.put_gzip_file(keys.captions_db(), stored)
    request_id = platform.catalog.request_caption_ocr(video_id, target)

    (req,) = _tick(platform).run_requests
    assert _rerun(platform, video_id, req).success

    assert _status(catalog_dsn, request_id) == ("completed", None)
    after = {c.id: c for c in read_captions(_stored_captions(platform, keys, tmp_path / "b.db"))}
    assert list(after) == [target, edited]
    assert_reread(before[target], after[target], video.truth.captions[0].text)
    assert after[edited] == before[edited] and after[edited].text == EDITED_TEXT
    assert platform.catalog.get_video(video_id).text_status in ("done", "review")


def test_failed_reocr_run_ends_its_request_in_error_with_the_reason(
    platform, rendered, catalog_dsn, tmp_path
) -> None:
    """The sensor checked the caption id, then a captions run replaced captions.db without that
    caption before the re-read ran: the run fails, and its request ends ``error`` with why."""
    video = rendered("short_bottom")
    video_id = _processed(platform, video)
    keys = VideoKeys(platform.catalog.get_video(video_id).tenant_id, video_id)
    stored = _stored_captions(platform, keys, tmp_path / "a.db")
    (target,) = (c.id for c in read_captions(stored))
    request_id = platform.catalog.request_caption_ocr(video_id, target)
    (req,) = _tick(platform).run_requests
    delete_caption(stored, target)
    platform.store.put_gzip_file(keys.captions_db(), stored)

    run = _rerun(platform, video_id, req, raise_on_error=False)
    assert not run.success
    reason = f"captions [{target}] are not in the previous captions.db"
    with psycopg.connect(catalog_dsn) as conn:
        text_status, message = conn.execute(
            "select text_status, text_error_details ->> 'message' from captionacc.videos where id = %s",
            (video_id,),
        ).fetchone()
    assert text_status == "error" and reason in message
    assert _status(catalog_dsn, request_id)[0] == "processing"  # the run-failure sensor answers it

    settle_failed_run(platform.instance, run.run_id, platform.resources["catalog"])
    status, error = _status(catalog_dsn, request_id)
    assert status == "error"
    assert run.run_id in error and reason in error
