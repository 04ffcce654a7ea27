"""The webhook's delivery log through the Supabase adapter: the same SQL functions over PostgREST
(the stand-in of test_catalog_supabase, which executes each rpc as PostgREST does, as the service
role) give what the Postgres adapter gives on the same database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from caption_assets.core import errors
from caption_assets.core.catalog.deliveries import Delivery, deliveries_since, record_deliveries
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.catalog.supabase import SupabaseCatalog
from caption_assets_tests.integration.test_catalog_supabase import (  # noqa: F401 - fixtures
    PostgrestStandIn,
    recorded_shapes,
    standin,
    supa,
)

pytestmark = pytest.mark.integration


def test_deliveries_round_trip_through_both_adapters(
    supa: SupabaseCatalog, catalog: PostgresCatalog, standin: PostgrestStandIn
) -> None:
    when = datetime(2026, 5, 28, 12, 0, 0, 123456, tzinfo=UTC)
    video = str(uuid.uuid4())
    written = [
        Delivery(when, "started", "submitted", 202, 12.5, video),
        Delivery(when + timedelta(seconds=1), "refused_auth", "unauthorized", 401, 1.0),
        Delivery(when + timedelta(seconds=2), "unavailable", "dagster", 503, 7.0, video),
    ]
    assert record_deliveries(supa, written[:2]) == 2
    assert record_deliveries(catalog, written[2:]) == 1
    assert record_deliveries(supa, []) == 0

    through_rest, direct = deliveries_since(supa, None), deliveries_since(catalog, None)
    assert through_rest == direct
    assert [r.delivery for r in direct] == written
    # pages: after the first row, one at a time
    first = direct[0]
    assert deliveries_since(supa, (first.recorded_at, first.id), limit=1) == direct[1:2]
    assert deliveries_since(supa, (direct[-1].recorded_at, direct[-1].id)) == []
    with pytest.raises(errors.BadInputError):
        deliveries_since(supa, None, limit=0)
    called = {name for _, name in standin.calls}
    assert called == {"record_webhook_deliveries", "webhook_deliveries_since"}
