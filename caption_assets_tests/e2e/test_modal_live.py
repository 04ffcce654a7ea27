"""Opt-in: the four steps on a real deployed Modal app, against the real artifact store.

Runs only with ``CAPTION_ASSETS_MODAL_E2E=1``, Modal credentials (``MODAL_TOKEN_ID``,
``MODAL_TOKEN_SECRET``), an app deployed with ``modal deploy -m caption_assets.app.modal_app`` (name from
``CAPTION_ASSETS_MODAL_APP``) and ``CAPTION_ASSETS_STORE=s3`` plus the S3 variables, pointing at the
same bucket the app's Modal Secret names (the container must reach it, so not a loopback server).
Everything it writes is under a fresh random tenant id and is deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from caption_assets.core.compute.base import VideoJob
from caption_assets.core.compute.modal import DEFAULT_APP_NAME, CallInfo, ModalCompute
from caption_assets.core.errors import NotFoundError
from caption_assets.core.keys import VideoKeys

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _skip_reason() -> str | None:
    if os.environ.get("CAPTION_ASSETS_MODAL_E2E") != "1":
        return "live Modal test is opt-in: set CAPTION_ASSETS_MODAL_E2E=1 (and Modal credentials)"
    missing = [v for v in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET") if not os.environ.get(v)]
    if missing:
        return f"live Modal test needs Modal credentials: {', '.join(missing)} not set"
    if os.environ.get("CAPTION_ASSETS_STORE") != "s3":
        return "live Modal test needs CAPTION_ASSETS_STORE=s3 and the S3 variables the deployed app uses"
    return None


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[ModalCompute, Any]]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from caption_assets.app.modal_app import store_from_env

    app_name = os.environ.get("CAPTION_ASSETS_MODAL_APP", DEFAULT_APP_NAME)
    timeout = float(os.environ.get("CAPTION_ASSETS_MODAL_E2E_TIMEOUT", "1800"))
    yield ModalCompute(app_name, timeout_seconds=timeout), store_from_env()


@pytest.fixture
def job(live: tuple[ModalCompute, Any]) -> Iterator[VideoJob]:
    _, store = live
    job = VideoJob(str(uuid.uuid4()), str(uuid.uuid4()))
    yield job
    keys = VideoKeys(job.tenant_id, job.video_id)
    for prefix in (keys.client_prefix(), keys.server_prefix()):
        store.delete_prefix(prefix)


def test_all_steps_on_modal(live: tuple[ModalCompute, Any], job: VideoJob, rendered: Any) -> None:
    compute, store = live
    video = rendered("short_bottom")
    keys = VideoKeys(job.tenant_id, job.video_id)
    store.put_file(keys.video(), video.path, "video/mp4")
    seen: list[CallInfo] = []
    compute.on_call = seen.append

    frames = compute.full_frames(job)
    layout = compute.layout(job)
    cropped = compute.cropped_frames(job, 1)
    captions = compute.captions(job)

    assert (frames.width, frames.height) == (video.truth.width, video.truth.height)
    assert frames.total_frames == video.truth.frame_count
    assert layout.region is not None
    assert cropped.chunk_count > 0 and list(store.list(keys.cropped_frames_prefix(1)))
    assert captions.caption_count == len(video.truth.captions)
    assert store.exists(keys.captions_db()) and store.exists(keys.captions_srt())
    assert [i.step for i in seen] == ["full_frames", "layout", "cropped_frames", "captions"]
    assert all(i.call_id.startswith("fc-") for i in seen)


def test_remote_not_found_comes_back_permanent(live: tuple[ModalCompute, Any], job: VideoJob) -> None:
    compute, _ = live
    with pytest.raises(NotFoundError, match="not in the store"):
        compute.full_frames(job)  # nothing uploaded for this video
