"""Partition keys that are not videos: Dagster's "Add a partition" accepts any string, and such a
key would sit in every partition list and offer runs that can only fail. Each tick reads only the
keys added since the last one (the cursor is the partition table's storage id), removes those that
are not a canonical UUID and logs each once; a run submitted for one fails at submission
(``run_coordinator``). Postgres instance storage never reuses a partition's id; SQLite may reuse
the ids of deleted tail rows, so there a key re-added by hand can be missed until a newer one."""

import dagster as dg

from caption_assets.core.errors import BadInputError
from caption_assets.core.keys import validate_uuid
from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME, videos_partitions
from caption_assets.defs.sensors import running_sensor

PAGE_SIZE = 1000


def is_video_key(key: str) -> bool:
    try:
        return validate_uuid(key, "partition key") == key
    except BadInputError:
        return False


@running_sensor(
    "Removes partition keys of 'videos' that are not a video id (a UUID), e.g. typed into 'Add a partition'."
)
def invalid_partition_keys(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    cursor = context.cursor
    invalid: list[str] = []
    while True:
        page = context.instance.get_paginated_dynamic_partitions(
            VIDEOS_PARTITION_NAME, limit=PAGE_SIZE, ascending=True, cursor=cursor
        )
        invalid += [k for k in page.results if not is_video_key(k)]
        cursor = page.cursor
        if not page.has_more:
            break
    for key in invalid:
        context.log.warning(f"partition key {key!r} is not a video id (a UUID): removed from 'videos'")
    return dg.SensorResult(
        skip_reason=f"removed {len(invalid)} partition keys that are not video ids",
        cursor=cursor,
        dynamic_partitions_requests=[videos_partitions.build_delete_request(invalid)] if invalid else [],
    )
