"""The health computations on small hand-made facts: causes, rates, targets, merging increments,
the webhook's availability."""

from __future__ import annotations

import pandas as pd
import pytest

from caption_assets.core.catalog.deliveries import DELIVERY_OUTCOMES
from caption_assets.core.health.caption_quality import caption_quality
from caption_assets.core.health.records import (
    CaptionsFact,
    DeliveryFact,
    EventInfo,
    Facts,
    RunInfo,
    VideoFact,
    cause_of,
    confidence_counts,
    facts_of_run,
    frame,
)
from caption_assets.core.health.run_health import rates, run_health, step_durations
from caption_assets.core.health.targets import (
    FLOW_SUCCESS,
    LOCK_CONTENTION,
    RETRY_SUCCESS,
    WEBHOOK_AVAILABILITY,
    percent,
)
from caption_assets.core.health.tenant_usage import tenant_usage
from caption_assets.core.health.webhook import WEBHOOK_COLUMNS, availability, webhook_availability

pytestmark = pytest.mark.unit

DAY = 1_780_000_000.0  # 2026-05-28 UTC
V1, V2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def _run(run_id: str, outcome: str = "success", video: str = V1, created: float = DAY) -> RunInfo:
    return RunInfo(
        run_id,
        "layout_job",
        outcome,
        video,
        {"caption_assets/tier": "free"},
        created,
        created + 4,
        None,
        created + 60,
    )  # type: ignore[arg-type]


def _facts(*runs: tuple[RunInfo, list[EventInfo]]) -> pd.DataFrame:
    return frame("runs", [facts_of_run(r, e)[0] for r, e in runs])


@pytest.mark.parametrize(
    ("classes", "cause"),
    [
        (("Failure", "BadVideoError"), "input"),
        (("Failure", "AdmissionError"), "input"),
        (("StoreUnavailableError",), "store"),
        (("Failure", "StoreAccessDeniedError"), "store"),
        (("CatalogUnavailableError",), "catalog"),
        (("LockHeldError",), "lock"),
        (("Failure", "LockLostError"), "lock"),
        (("ComputeTimeoutError",), "compute"),
        (("Failure", "RemoteStepError"), "compute"),
        (("RuntimeError",), "compute"),
    ],
)
def test_failure_causes(classes: tuple[str, ...], cause: str) -> None:
    assert cause_of(classes) == cause


def test_a_run_without_a_failed_step_crashed_and_retries_are_counted() -> None:
    crashed, _, _ = facts_of_run(_run("r1", "failure"), [EventInfo("STEP_START", DAY + 5, "full_frames")])
    assert crashed.cause == "crash"
    events = [
        EventInfo("STEP_START", DAY + 5, "full_frames"),
        EventInfo("STEP_UP_FOR_RETRY", DAY + 6, "full_frames", error_classes=("LockHeldError",)),
        EventInfo("STEP_RESTARTED", DAY + 10, "full_frames"),
        EventInfo("STEP_SUCCESS", DAY + 13, "full_frames"),
        EventInfo("ASSET_MATERIALIZATION", DAY + 13, "full_frames", asset="full_frames"),
    ]
    run, steps, _ = facts_of_run(_run("r2"), events)
    assert (run.retries, run.max_step_retries, run.lock_waits, run.cause) == (1, 1, 1, None)
    assert run.queue_seconds == 4
    # the attempt that succeeded, not the whole step with its retry delay
    assert [(s.step, s.seconds) for s in steps] == [("full_frames", 3)]


def test_a_wait_that_got_the_lock_counts_as_a_lock_wait() -> None:
    events = [
        EventInfo(
            "ASSET_MATERIALIZATION", DAY, "layout_db", asset="layout_db", metadata={"lock_wait_seconds": 2.5}
        )
    ]
    run, _, _ = facts_of_run(_run("r1"), events)
    assert (run.lock_waits, run.lock_wait_seconds) == (1, 2.5)


def test_rates_and_the_retry_target_counts_only_1_to_2_retries() -> None:
    retry = [EventInfo("STEP_UP_FOR_RETRY", DAY, "full_frames", error_classes=("ComputeTimeoutError",))]
    runs = _facts(
        (_run("a"), []),
        (_run("b"), retry),  # one retry, succeeded
        (_run("c"), retry * 3),  # three retries of a step: not "after 1-2 retries"
        (
            _run("d", "failure"),
            [EventInfo("STEP_FAILURE", DAY, "full_frames", error_classes=("Failure", "BadVideoError"))],
        ),
        (_run("e", "canceled"), []),
    )
    r = rates(runs)
    assert (r.runs, r.flow_success_rate, r.retried_runs, r.retry_success_rate) == (5, 0.75, 2, 0.5)
    (row,) = run_health(runs).to_dict("records")
    assert (row["day"], row["runs"], row["succeeded"], row["failed"], row["canceled"]) == (
        "2026-05-28",
        5,
        3,
        1,
        1,
    )
    assert (row["failed_input"], row["failed_crash"], row["retries"]) == (1, 0, 4)
    assert row["queue_p50_s"] == 4


def test_no_runs_is_nothing_to_measure() -> None:
    assert rates(frame("runs")).flow_success_rate is None
    assert run_health(frame("runs")).empty
    assert FLOW_SUCCESS.verdict(None) == "ok"


@pytest.mark.parametrize(
    ("target", "value", "verdict"),
    [
        (FLOW_SUCCESS, 0.95, "ok"),
        (FLOW_SUCCESS, 0.9499, "warn"),
        (FLOW_SUCCESS, 0.85, "warn"),
        (FLOW_SUCCESS, 0.8499, "error"),
        (RETRY_SUCCESS, 0.90, "ok"),
        (RETRY_SUCCESS, 0.89, "warn"),
        (RETRY_SUCCESS, 0.74, "error"),
        (LOCK_CONTENTION, 0.0099, "ok"),
        (LOCK_CONTENTION, 0.01, "warn"),
        (LOCK_CONTENTION, 0.0499, "warn"),
        (LOCK_CONTENTION, 0.05, "error"),
    ],
)
def test_targets_warn_below_and_error_far_below(target, value: float, verdict: str) -> None:
    assert target.verdict(value) == verdict


def _video(video_id: str, tenant: str, duration: float | None, error: bool = False) -> VideoFact:
    return VideoFact(video_id, f"id-{tenant}", tenant, "free", DAY, duration, error)


def test_usage_quality_and_step_durations() -> None:
    videos = frame("videos", [_video(V1, "acme", 120.0), _video(V2, "acme", None, error=True)])
    captions = frame(
        "captions",
        [
            CaptionsFact("r1", V1, DAY + 600, 10, 0, 0, 1, (1, 1, 3, 5)),
            CaptionsFact("r2", V1, DAY + 900, 12, 0, 3, 0, (0, 2, 4, 6)),  # a re-read: the newest count
        ],
    )
    (usage,) = tenant_usage(videos, captions).to_dict("records")
    assert (usage["uploads"], usage["minutes_processed"], usage["captions"], usage["errors"]) == (
        2,
        2.0,
        12,
        1,
    )
    assert (usage["captions_done"], usage["to_captions_p50_min"]) == (1, 10.0)
    (quality,) = caption_quality(captions, videos).to_dict("records")
    assert (quality["videos"], quality["captions"], quality["captions_per_minute"]) == (1, 22, 5.5)
    assert quality["share_conf_ge_0.9"] == round(11 / 22, 4)
    assert (quality["videos_with_warn_share"], quality["reocr_per_100_captions"]) == (1.0, round(300 / 22, 2))
    runs = _facts((_run("r1"), []))
    steps = frame(
        "steps",
        facts_of_run(
            _run("r1"),
            [EventInfo("STEP_START", DAY, "full_frames"), EventInfo("STEP_SUCCESS", DAY + 30, "full_frames")],
        )[1],
    )
    (row,) = step_durations(runs, steps, videos).to_dict("records")
    assert (row["step"], row["p50_s_per_60s"]) == ("full_frames", 15.0)  # 30 s for 120 s of video


def test_confidence_bins() -> None:
    assert confidence_counts([0.1, 0.5, 0.69, 0.7, 0.9, 1.0]) == (1, 2, 1, 2)


def test_an_increment_replaces_what_it_supersedes() -> None:
    first = Facts(runs=_facts((_run("a", "failure"), [])), videos=frame("videos", [_video(V1, "acme", None)]))
    later = Facts(
        runs=_facts((_run("a"), []), (_run("b"), [])), videos=frame("videos", [_video(V1, "acme", 60.0)])
    )
    merged = first.merged(later)
    assert list(merged.runs["run_id"]) == ["a", "b"]
    assert list(merged.runs["outcome"]) == ["success", "success"]
    assert list(merged.videos["duration_seconds"]) == [60.0]
    assert merged.high_water_mark() == DAY + 60


# ---- the upload webhook's availability ------------------------------------------------------


def _delivery(n: int, outcome: str, status: int, ms: float, at: float = DAY) -> DeliveryFact:
    return DeliveryFact(n, at, at + 1, outcome, "r", status, ms, None)


def _deliveries(*facts: DeliveryFact) -> pd.DataFrame:
    return frame("deliveries", facts)


def test_webhook_availability_counts_every_outcome_and_only_5xx_as_down() -> None:
    rows = [
        _delivery(1, "started", 202, 10.0),
        _delivery(2, "replay", 200, 20.0),
        _delivery(3, "ignored", 200, 30.0),
        _delivery(4, "refused_auth", 401, 1.0),
        _delivery(5, "refused_rate", 429, 2.0),
        _delivery(6, "bad_request", 422, 3.0),
        _delivery(7, "unavailable", 503, 1000.0),
        _delivery(8, "started", 202, 40.0, at=DAY + 86400),  # the next day
    ]
    table = webhook_availability(_deliveries(*rows))
    first, second = table.to_dict("records")
    assert first["day"] == "2026-05-28" and second["day"] == "2026-05-29"
    assert (first["deliveries"], first["answered"]) == (7, 6)
    assert first["availability"] == round(6 / 7, 6)
    assert {o: first[o] for o in DELIVERY_OUTCOMES} == {
        "started": 1,
        "replay": 1,
        "ignored": 1,
        "refused_auth": 1,
        "refused_rate": 1,
        "bad_request": 1,
        "unavailable": 1,
    }
    assert (first["latency_p50_ms"], first["latency_p95_ms"]) == (10.0, 709.0)
    assert (second["deliveries"], second["availability"], second["started"]) == (1, 1.0, 1)
    week = availability(_deliveries(*rows))
    assert (week.deliveries, week.unavailable, week.share) == (8, 1, 7 / 8)


def test_no_deliveries_is_nothing_to_measure_not_an_outage() -> None:
    assert webhook_availability(frame("deliveries")).empty
    assert list(webhook_availability(frame("deliveries")).columns) == list(WEBHOOK_COLUMNS)
    none = availability(frame("deliveries"))
    assert none.share is None
    assert WEBHOOK_AVAILABILITY.verdict(none.share) == "ok"
    assert WEBHOOK_AVAILABILITY.describe(none.share, 0).endswith("nothing to measure yet (0 deliveries)")


@pytest.mark.parametrize(
    ("answered", "down", "verdict"),
    [(999, 1, "ok"), (1000, 0, "ok"), (998, 2, "warn"), (990, 10, "warn"), (989, 11, "error")],
)
def test_webhook_availability_target_thresholds(answered: int, down: int, verdict: str) -> None:
    rows = [_delivery(i, "started", 202, 5.0) for i in range(answered)]
    rows += [_delivery(answered + i, "unavailable", 503, 5.0) for i in range(down)]
    share = availability(_deliveries(*rows)).share
    assert WEBHOOK_AVAILABILITY.verdict(share) == verdict


def test_the_availability_description_keeps_the_decimals_that_decide() -> None:
    # 99.85% must not read as 99.9% next to a 99.9% target
    text = WEBHOOK_AVAILABILITY.describe(0.9985, 2000)
    assert text == "webhook deliveries answered without a 5xx: 99.85% over 2000 deliveries (target >= 99.9%)"
    assert percent(0.95) == "95%" and percent(0.01) == "1%" and percent(0.999) == "99.9%"
    assert FLOW_SUCCESS.describe(0.8, 5) == "flows that succeeded: 80.0% over 5 runs (target >= 95%)"


def test_deliveries_read_again_replace_themselves_and_move_the_mark() -> None:
    first = Facts(
        deliveries=_deliveries(_delivery(1, "started", 202, 5.0), _delivery(2, "ignored", 200, 5.0))
    )
    # the overlap reads delivery 2 again, with delivery 3 after it
    later = Facts(
        deliveries=_deliveries(_delivery(2, "ignored", 200, 5.0), _delivery(3, "started", 202, 5.0, DAY + 9))
    )
    merged = first.merged(later)
    assert list(merged.deliveries["delivery_id"]) == [1, 2, 3]
    assert merged.deliveries_mark() == DAY + 10
    assert Facts().deliveries_mark() is None
