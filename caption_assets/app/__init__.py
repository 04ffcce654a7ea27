"""Entry points around the Dagster layer: the ``caption-assets`` CLI, the local dev server with its
embedded Postgres, platform helpers (upload, process), the demo video and the Modal app."""
