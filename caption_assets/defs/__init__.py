"""The Dagster layer: resources, partitions, assets, checks, jobs, sensors, schedules and the one
``Definitions`` (``caption_assets.defs.definitions``). Imports ``caption_assets.core``, never ``app``."""
