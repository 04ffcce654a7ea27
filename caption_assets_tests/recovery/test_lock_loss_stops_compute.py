"""A run whose lock is taken over while a compute call runs stops that call (not only at the next
check between calls) and reports the lost lock. Real catalog locks on the test's Postgres, the
assets' own ``video_locks``; Modal through the stand-in of test_modal_compute, local compute on a
real store and a generated video."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.compute.base import VideoJob
from caption_assets.core.compute.errors import ComputeCancelledError
from caption_assets.core.compute.local import LocalCompute
from caption_assets.core.compute.modal import ModalCompute
from caption_assets.core.compute.watch import stopped_when
from caption_assets.core.keys import VideoKeys
from caption_assets.core.store.local import LocalStore
from caption_assets.defs.assets.runtime import LockLostError, video_locks
from caption_assets_tests.recovery.test_modal_compute import StandInModal, runs_until_cancelled

pytestmark = pytest.mark.recovery

RUN = "run-holding-the-locks"


def _video(catalog: PostgresCatalog) -> VideoJob:
    tenant = catalog.ensure_tenant("acme")
    video_id = str(uuid.uuid4())
    catalog.insert_video(tenant.id, video_id, f"{tenant.id}/client/videos/{video_id}/video.mp4")
    return VideoJob(tenant.id, video_id)


def _take_over(catalog: PostgresCatalog, video_id: str) -> None:
    """What the probe did: the run's lock released and taken by another session."""
    assert catalog.release_server_lock(video_id, "captions", RUN)
    assert catalog.acquire_server_lock(video_id, "captions", "someone-else", 600).acquired


def test_lost_lock_cancels_the_running_modal_call(catalog: PostgresCatalog) -> None:
    job = _video(catalog)
    stand_in = StandInModal()
    started = threading.Event()
    stand_in.script("cropped_frames", runs_until_cancelled(started))
    backend = ModalCompute(
        "caption-assets-test", timeout_seconds=30, poll_seconds=0.05, function_lookup=stand_in.lookup
    )

    def person() -> None:
        assert started.wait(30)
        _take_over(catalog, job.video_id)

    threading.Thread(target=person, daemon=True).start()
    with pytest.raises(LockLostError, match="captions lock .* was lost") as lost:
        with video_locks(catalog, job.video_id, holder=RUN, wait_seconds=1) as locks:
            with stopped_when(backend, locks.check, interval_seconds=0.1):
                backend.cropped_frames(job, 1)
    # stopped by the lock's loss, not by the wait limit running out
    assert isinstance(lost.value.__cause__, ComputeCancelledError), repr(lost.value.__cause__)
    (call,) = stand_in.calls["cropped_frames"]
    assert call.cancel_requests == [True]  # the remote call was cancelled, containers included
    # the other session keeps its lock
    assert not catalog.acquire_server_lock(job.video_id, "captions", RUN, 600).acquired


class _Local(LocalCompute):
    def __init__(self, store: LocalStore) -> None:
        super().__init__(store)
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        super().cancel()
        self.cancelled.set()


@pytest.mark.slow
def test_lost_lock_stops_the_local_step_before_it_writes(
    catalog: PostgresCatalog, rendered: Any, tmp_path: Path
) -> None:
    job = _video(catalog)
    keys = VideoKeys(job.tenant_id, job.video_id)
    holder: dict[str, _Local] = {}

    class TakenOverWhileReading(LocalStore):
        """The lock is taken over while the step holds the video, before it writes anything."""

        def get_file(self, key: str, path: Path) -> Path:
            got = super().get_file(key, path)
            if key == keys.video():
                _take_over(catalog, job.video_id)
                holder["compute"].cancelled.wait(30)
            return got

    store = TakenOverWhileReading(tmp_path / "artifacts")
    store.put_file(keys.video(), rendered("short_bottom").path, "video/mp4")
    backend = holder["compute"] = _Local(store)

    with pytest.raises(LockLostError):
        with video_locks(catalog, job.video_id, holder=RUN, wait_seconds=1) as locks:
            with stopped_when(backend, locks.check, interval_seconds=0.1):
                backend.full_frames(job)
    assert backend.cancelled.is_set()
    assert list(store.list(keys.full_frames_prefix())) == []
    assert list(store.list(keys.thumbnails_prefix())) == []
