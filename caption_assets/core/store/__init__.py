"""Artifact store: the interface and its errors. Adapters live in ``local`` and ``s3``."""

from caption_assets.core.store.base import (
    ArtifactStore,
    BucketNotFoundError,
    ObjectNotFoundError,
    StoreAccessDeniedError,
    StoreError,
)

__all__ = [
    "ArtifactStore",
    "BucketNotFoundError",
    "ObjectNotFoundError",
    "StoreAccessDeniedError",
    "StoreError",
]
