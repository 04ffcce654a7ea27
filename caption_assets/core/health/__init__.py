"""Platform health and usage, computed with pandas from the facts of runs, steps, captions and
videos (records.py): run_health, tenant_usage and caption_quality, the test plan's targets they
are held to, and the plots drawn from them. Free of Dagster: defs/assets/operations.py feeds it."""
