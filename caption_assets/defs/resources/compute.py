"""Compute as a Dagster resource: in-process by default, Modal in production."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, get_args

import dagster as dg
from pydantic import Field, PrivateAttr

from caption_assets.core.backends import ComputeBackend
from caption_assets.core.compute.base import Compute
from caption_assets.core.store.base import ArtifactStore

if TYPE_CHECKING:
    from caption_assets.core.compute.modal import CallInfo


class ComputeResource(dg.ConfigurableResource):
    backend: ComputeBackend = "local"
    modal_app: str = "caption-assets"
    # how long the orchestrator waits for one Modal call (queueing included) before cancelling it;
    # keep it above the function's own timeout (deploy/modal/README.md)
    timeout_seconds: int = 3600
    step_timeout_seconds: dict[str, int] = Field(
        default_factory=dict,
        description="Per-step wait limits (full_frames, layout, cropped_frames, captions).",
    )
    poll_seconds: float = 2.0
    modal_environment: str | None = None

    _log: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # the run's logger, so every Modal call id appears in the run's logs without asset code
        self._log = context.log

    def get(self, store: ArtifactStore, on_call: Callable[[CallInfo], None] | None = None) -> Compute:
        """The compute backend. ``on_call`` (Modal only) hears each spawned call's id; the
        returned ``ModalCompute`` also keeps it as ``last_call_id`` for materialization metadata."""
        if self.backend == "local":
            from caption_assets.core.compute.local import LocalCompute

            return LocalCompute(store)
        if self.backend == "modal":
            from caption_assets.core.compute.modal import ModalCompute

            return ModalCompute(
                app_name=self.modal_app,
                timeout_seconds=self.timeout_seconds,
                step_timeouts=self.step_timeout_seconds,
                poll_seconds=self.poll_seconds,
                environment_name=self.modal_environment,
                on_call=on_call or self._log_call,
            )
        raise ValueError(
            f"unknown compute backend {self.backend!r} ({' or '.join(get_args(ComputeBackend))})"
        )

    def _log_call(self, info: CallInfo) -> None:
        if self._log is not None:
            self._log.info(f"{info.step}: Modal call {info.call_id} of {info.app_name}/{info.function_name}")
