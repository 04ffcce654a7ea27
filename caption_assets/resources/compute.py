"""Compute as a Dagster resource: in-process by default, Modal in production."""

from __future__ import annotations

import dagster as dg

from caption_assets.compute.base import Compute
from caption_assets.store.base import ArtifactStore


class ComputeResource(dg.ConfigurableResource):
    backend: str = "local"
    modal_app: str = "caption-assets"
    timeout_seconds: int = 3600

    def get(self, store: ArtifactStore) -> Compute:
        if self.backend == "local":
            from caption_assets.compute.local import LocalCompute

            return LocalCompute(store)
        if self.backend == "modal":
            from caption_assets.compute.modal import ModalCompute

            return ModalCompute(app_name=self.modal_app, timeout_seconds=self.timeout_seconds)
        raise ValueError(f"unknown compute backend {self.backend!r} (local or modal)")
