"""No upload or approval is skipped by the sensors, whatever order transactions commit in.

A row becomes visible when its transaction commits, not when it was written: an insert held open
while a later upload commits and a tick runs must still be picked up by the next tick."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from caption_assets.defs.maintenance import REPAIR_GRACE, release_lost_claims
from caption_assets.defs.sensors.uploads import layout_approvals, new_uploads

pytestmark = pytest.mark.integration


def tick(sensor: dg.SensorDefinition, platform, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=platform.instance, cursor=cursor, resources=platform.resources)
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


@contextmanager
def held_insert(dsn: str, tenant_id: str) -> Iterator[str]:
    """An upload row inserted in a transaction that commits only when the block ends (the web
    app's insert stalled on the network, say). Yields the video id."""
    video_id = str(uuid.uuid4())
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            conn.execute(
                "select captionacc.insert_video(%s, %s, %s)",
                (tenant_id, video_id, f"{tenant_id}/client/videos/{video_id}/video.mp4"),
            )
            yield video_id


def test_upload_committed_after_a_later_one_was_seen_is_picked_up(platform, catalog_dsn, not_a_video) -> None:
    tenant = platform.catalog.ensure_tenant("acme")
    with held_insert(catalog_dsn, tenant.id) as late:
        early = platform.upload(not_a_video, "acme")
        first = tick(new_uploads, platform)
        assert [r.partition_key for r in first.run_requests] == [early]
    second = tick(new_uploads, platform, cursor=first.cursor)
    assert [r.partition_key for r in second.run_requests] == [late]
    assert not tick(new_uploads, platform, cursor=second.cursor).run_requests


def test_approval_committed_after_a_later_one_was_seen_is_picked_up(
    platform, catalog_dsn, not_a_video
) -> None:
    late, early = (platform.upload(not_a_video, "acme", auto_approve=False) for _ in range(2))
    for video_id in (late, early):
        platform.catalog.begin_processing(video_id, "layout_status")
        platform.catalog.set_status(video_id, "layout_status", "annotate")
    with psycopg.connect(catalog_dsn) as conn:
        with conn.transaction():
            # approved first (the earlier timestamp), committed last
            conn.execute("select captionacc.approve_layout(%s)", (late,))
            platform.catalog.approve_layout(early)
            first = tick(layout_approvals, platform)
            assert [r.partition_key for r in first.run_requests] == [early]
    second = tick(layout_approvals, platform, cursor=first.cursor)
    assert [r.partition_key for r in second.run_requests] == [late]
    assert not tick(layout_approvals, platform, cursor=second.cursor).run_requests


def later() -> datetime:
    """A repair run once the grace has passed."""
    return datetime.now(UTC) + REPAIR_GRACE + timedelta(seconds=1)


def test_upload_whose_run_request_was_lost_is_requested_again(platform, not_a_video) -> None:
    kept, lost = (platform.upload(not_a_video, "acme") for _ in range(2))
    first = tick(new_uploads, platform)
    assert {r.partition_key for r in first.run_requests} == {kept, lost}
    # only the request for `kept` became a run; the tick's answer for `lost` never arrived
    (request,) = [r for r in first.run_requests if r.partition_key == kept]
    platform.instance.add_run(
        dg.DagsterRun(job_name="layout_job", tags={**request.tags, "dagster/run_key": request.run_key})
    )
    assert not tick(new_uploads, platform).run_requests
    assert release_lost_claims(platform.instance, platform.catalog) == []  # within the grace

    (released,) = release_lost_claims(platform.instance, platform.catalog, now=later())
    assert (released.video_id, released.work, released.processing_attempt) == (lost, "layout", 0)
    (again,) = tick(new_uploads, platform).run_requests
    (lost_request,) = [r for r in first.run_requests if r.partition_key == lost]
    assert again.partition_key == lost and again.run_key == lost_request.run_key
    # its run now exists: the next repair leaves it alone
    platform.instance.add_run(
        dg.DagsterRun(job_name="layout_job", tags={**again.tags, "dagster/run_key": again.run_key})
    )
    assert release_lost_claims(platform.instance, platform.catalog, now=later()) == []


def test_started_layout_run_ends_the_claim(platform, not_a_video) -> None:
    video_id = platform.upload(not_a_video, "acme")
    assert tick(new_uploads, platform).run_requests
    platform.catalog.begin_processing(video_id, "layout_status")
    assert platform.catalog.unstarted_claims(claimed_before=later()) == []


def test_video_job_claims_the_captions_of_its_own_approval(platform, not_a_video) -> None:
    own, other = (platform.upload(not_a_video, "acme") for _ in range(2))
    run = dg.DagsterRun(job_name="video_job", tags={"dagster/partition": own})
    for video_id in (own, other):
        platform.catalog.begin_processing(video_id, "layout_status")
    platform.catalog.approve_layout(own, captions_run_id=run.run_id)
    platform.catalog.approve_layout(other)
    # the approvals sensor starts captions only where no run claimed them
    (request,) = tick(layout_approvals, platform).run_requests
    assert request.partition_key == other
    platform.instance.add_run(
        dg.DagsterRun(job_name="captions_job", tags={**request.tags, "dagster/run_key": request.run_key})
    )
    platform.instance.add_run(run)
    assert release_lost_claims(platform.instance, platform.catalog, now=later()) == []

    # a claiming run that is gone from the orchestrator leaves the approval to the sensor
    platform.instance.delete_run(run.run_id)
    (released,) = release_lost_claims(platform.instance, platform.catalog, now=later())
    assert (released.video_id, released.work, released.claimed_by) == (own, "captions", run.run_id)
    assert [r.partition_key for r in tick(layout_approvals, platform).run_requests] == [own]


def test_approving_an_approved_layout_starts_no_second_captions_run(platform, not_a_video) -> None:
    video_id = platform.upload(not_a_video, "acme", auto_approve=False)
    platform.catalog.begin_processing(video_id, "layout_status")
    platform.catalog.set_status(video_id, "layout_status", "annotate")
    platform.catalog.approve_layout(video_id)
    approved_at = platform.catalog.get_video(video_id).layout_approved_at
    assert [r.partition_key for r in tick(layout_approvals, platform).run_requests] == [video_id]
    for _ in range(5):
        platform.catalog.approve_layout(video_id)
    assert platform.catalog.get_video(video_id).layout_approved_at == approved_at
    assert not tick(layout_approvals, platform).run_requests


@pytest.mark.slow
def test_a_run_of_all_four_assets_gets_no_second_captions_run(platform, rendered) -> None:
    from caption_assets.defs.assets.captions import captions_db, cropped_frames
    from caption_assets.defs.assets.layout import full_frames, layout_db

    video_id = platform.upload(rendered("short_bottom").path)  # an auto-approving tenant
    result = dg.materialize(
        [full_frames, layout_db, cropped_frames, captions_db],
        partition_key=video_id,
        instance=platform.instance,
        resources=platform.resources,
    )
    assert result.success
    row = platform.catalog.get_video(video_id)
    assert row.layout_approved_at is not None and row.text_status == "done"
    assert not tick(layout_approvals, platform).run_requests
    # the run exists and started the captions: nothing for the repair to release either
    assert release_lost_claims(platform.instance, platform.catalog, now=later()) == []
