"""The platform without Dagster: video/OCR processing, the catalog (with the video lifecycle), the
artifact store, compute backends, storage keys, errors, settings and the pure policies.

Nothing here imports ``caption_assets.defs`` or ``caption_assets.app``."""
