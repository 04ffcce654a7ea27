"""The one partitions definition: a partition per video, keyed by the video's UUID."""

import dagster as dg

VIDEOS_PARTITION_NAME = "videos"

videos_partitions = dg.DynamicPartitionsDefinition(name=VIDEOS_PARTITION_NAME)
