"""The webhook's delivery log off the request path: what a handler records is written in order by
the background thread, batches retried after a failed write, nothing raised to the caller; and
how an answer becomes an outcome."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from caption_assets.app.webhook import DeliveryLog, delivery_outcome
from caption_assets.core.catalog.deliveries import Delivery

pytestmark = pytest.mark.unit

WHEN = datetime(2026, 5, 28, tzinfo=UTC)


def _delivery(n: int) -> Delivery:
    return Delivery(WHEN, "ignored", f"r{n}", 200, float(n))


def test_recorded_deliveries_are_written_in_order_and_a_failed_batch_is_retried() -> None:
    written: list[str] = []
    attempts: list[int] = []
    entered, gate = threading.Event(), threading.Event()

    def write(batch: list[Delivery]) -> None:
        attempts.append(len(batch))
        if len(attempts) == 1:
            entered.set()
            gate.wait(10)  # holds the first batch while more are recorded
            raise ConnectionError("catalog away")
        written.extend(d.reason for d in batch)

    log = DeliveryLog(write, backoff_seconds=0.01)
    try:
        log.record(_delivery(0))
        assert entered.wait(10)
        for n in range(1, 5):
            log.record(_delivery(n))
        gate.set()
        assert log.flush(timeout=10)
        assert written == ["r0", "r1", "r2", "r3", "r4"]
        assert attempts[0] == 1 and sum(attempts[1:]) == 5  # the failed one again, with the rest
        assert (log.written, log.dropped, log.failed_writes) == (5, 0, 1)
    finally:
        log.close()


def test_a_log_that_cannot_write_never_raises_and_drops_the_oldest_beyond_its_bound() -> None:
    def write(batch: list[Delivery]) -> None:
        raise ConnectionError("catalog away")

    log = DeliveryLog(write, max_pending=3, backoff_seconds=0.01, max_backoff_seconds=0.02)
    try:
        for n in range(10):
            log.record(_delivery(n))
        assert not log.flush(timeout=0.2)
        assert log.dropped >= 7 and log.written == 0
        assert 'caption_assets_webhook_delivery_records{state="written"} 0' in log.render()
    finally:
        log.close(timeout=5)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (202, {"run_id": "r"}, "started"),
        (200, {"ignored": "not waiting or already claimed", "run_id": "r"}, "replay"),
        (200, {"ignored": "unknown video"}, "ignored"),
        (401, {"error": "unauthorized"}, "refused_auth"),
        (429, {"error": "rate limited"}, "refused_rate"),
        (413, {"error": "too large"}, "bad_request"),
        (422, {"error": "not JSON", "field": "body"}, "bad_request"),
        (503, {"error": "catalog unavailable"}, "unavailable"),
        (500, {}, "unavailable"),
    ],
)
def test_outcome_of_an_answer(status: int, body: dict[str, str], outcome: str) -> None:
    assert delivery_outcome(status, body) == outcome
