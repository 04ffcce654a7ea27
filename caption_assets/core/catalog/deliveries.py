"""The upload webhook's delivery log in the catalog (``captionacc.webhook_deliveries``, migration
0008): written by the webhook in batches, read incrementally by the operations assets.

Both adapters: the two operations are SQL functions called through ``Catalog``'s own plumbing
(retry policy, error mapping), so the Postgres adapter runs ``select captionacc.fn(...)`` and the
Supabase adapter ``rpc(fn)`` on the same functions, with the service role only. They live here,
beside ``Catalog`` rather than in it, because ``Catalog``'s operations are the contract the web
app's and orchestrator's flows share (the Supabase adapter's test holds it to exactly the SQL they
name); the delivery log is the webhook's and the operations group's alone.

Assumptions: a delivery's ``received_at`` is the webhook host's clock (the day it counts on);
``recorded_at`` is the catalog's (the readers' cursor), so hosts' clocks never skew the cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypedDict, get_args

from caption_assets.core import errors
from caption_assets.core.catalog.base import Catalog
from caption_assets.core.catalog.rows import Timestamp, Uuid, as_int, timestamp

DeliveryOutcome = Literal[
    "started",  # 202: a run was submitted
    "replay",  # 200: the upload's run already existed, answered with its id
    "ignored",  # 200: nothing to do (not an INSERT, unknown or deleted video, inactive tenant)
    "refused_auth",  # 401
    "refused_rate",  # 429
    "bad_request",  # 413, 422
    "unavailable",  # 5xx: the catalog or Dagster did not answer, or the webhook failed
]
DELIVERY_OUTCOMES: tuple[DeliveryOutcome, ...] = get_args(DeliveryOutcome)
# as the SQL functions bound them
MAX_REASON = 64
MAX_PAGE = 10000


@dataclass(frozen=True)
class Delivery:
    """One request to the webhook's path, as it was answered."""

    received_at: datetime
    outcome: DeliveryOutcome
    reason: str
    http_status: int
    latency_ms: float
    video_id: str | None = None


@dataclass(frozen=True)
class RecordedDelivery:
    """A delivery as the catalog holds it: its id and when the catalog wrote it."""

    id: int
    recorded_at: datetime
    delivery: Delivery


class DeliveryRow(TypedDict):
    """``captionacc.webhook_deliveries``."""

    id: int
    received_at: Timestamp
    recorded_at: Timestamp
    outcome: DeliveryOutcome
    reason: str
    http_status: int
    latency_ms: float | int  # PostgREST writes 12.0 as 12
    video_id: Uuid | None


def _json(delivery: Delivery) -> dict[str, object]:
    if delivery.outcome not in DELIVERY_OUTCOMES:
        raise errors.BadInputError(f"delivery outcome must be one of {DELIVERY_OUTCOMES}")
    return {
        "received_at": delivery.received_at.isoformat(),
        "outcome": delivery.outcome,
        "reason": delivery.reason[:MAX_REASON],
        "http_status": int(delivery.http_status),
        "latency_ms": max(0.0, float(delivery.latency_ms)),
        "video_id": delivery.video_id,
    }


def record_deliveries(catalog: Catalog, deliveries: Sequence[Delivery]) -> int:
    """Insert the deliveries in one statement; how many were inserted."""
    if not deliveries:
        return 0
    batch = {"deliveries": [_json(d) for d in deliveries]}
    return catalog._call(
        "record_webhook_deliveries",
        f"{len(deliveries)} webhook deliveries",
        fn="record_webhook_deliveries",
        params={"p_batch": batch},
        answer=as_int,
    )


def _delivery(row: DeliveryRow) -> RecordedDelivery:
    received, recorded = timestamp(row["received_at"]), timestamp(row["recorded_at"])
    if received is None or recorded is None:
        raise ValueError("a webhook delivery without its timestamps")
    return RecordedDelivery(
        id=int(row["id"]),
        recorded_at=recorded,
        delivery=Delivery(
            received_at=received,
            outcome=row["outcome"],
            reason=row["reason"],
            http_status=int(row["http_status"]),
            latency_ms=float(row["latency_ms"]),
            video_id=None if row["video_id"] is None else str(row["video_id"]),
        ),
    )


def deliveries_since(
    catalog: Catalog, after: tuple[datetime, int] | None, limit: int = 1000
) -> list[RecordedDelivery]:
    """The deliveries recorded after ``after`` = (recorded_at, id), oldest first, at most
    ``limit``; from the first with None."""
    if not 1 <= limit <= MAX_PAGE:
        raise errors.BadInputError(f"limit must be 1..{MAX_PAGE}, got {limit}")
    rows = catalog._call_rows(
        "webhook_deliveries_since",
        "webhook deliveries",
        fn="webhook_deliveries_since",
        params={
            "p_after": None if after is None else after[0],
            "p_after_id": 0 if after is None else int(after[1]),
            "p_limit": limit,
        },
        row=DeliveryRow,
    )
    return [_delivery(r) for r in rows]
