"""The Modal app: one function per heavy step, running the same ``compute.steps`` code as
``LocalCompute`` inside a container built from this project's lock file and source.

Deploy with ``modal deploy -m caption_assets.app.modal_app`` (see ``deploy/modal/README.md``). Each
function builds the artifact store from environment variables (docs/architecture.md, configuration;
provided by a Modal Secret), reads its inputs from the store and writes its outputs there; only the
small result dataclass travels back to the orchestrator.

Per-function resources are read from environment variables when the app is deployed, e.g.
``CAPTION_ASSETS_MODAL_CAPTIONS_CPU=4``; see ``FunctionSettings``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modal

from caption_assets.core.compute import steps
from caption_assets.core.compute.base import (
    CaptionsResult,
    CroppedResult,
    FullFramesResult,
    LayoutResult,
    VideoJob,
)
from caption_assets.core.compute.limits import held_to
from caption_assets.core.compute.modal import DEFAULT_APP_NAME, FUNCTION_NAMES
from caption_assets.core.config import Settings
from caption_assets.core.errors import PermanentError
from caption_assets.core.store.base import ArtifactStore

APP_NAME = os.environ.get("CAPTION_ASSETS_MODAL_APP", DEFAULT_APP_NAME)
SECRET_NAME = os.environ.get("CAPTION_ASSETS_MODAL_SECRET", "caption-assets-store")
# the uv release the project is developed with (README); the image installs the lock with it
UV_VERSION = os.environ.get("CAPTION_ASSETS_MODAL_UV_VERSION", "0.13.9")


@dataclass(frozen=True)
class FunctionSettings:
    """Resources of one Modal function: ``CAPTION_ASSETS_MODAL_{STEP}_{TIMEOUT|CPU|MEMORY|GPU}``.

    ``cpu`` is physical cores and ``memory`` MiB as Modal counts them (billed as
    max(request, use)); ``gpu`` is a Modal GPU type such as ``T4`` or ``L4``, unset for none (the
    pinned OCR runtime is onnxruntime's CPU build, so a GPU only costs money until the lock
    switches to a GPU build)."""

    timeout_seconds: int
    cpu: float
    memory_mb: int
    gpu: str | None = None

    @classmethod
    def from_env(cls, step: str, default: FunctionSettings) -> FunctionSettings:
        prefix = f"CAPTION_ASSETS_MODAL_{step.upper()}_"

        def read(name: str, convert: type, fallback: object) -> object:
            raw = os.environ.get(prefix + name)
            if raw is None or raw.strip() == "":
                return fallback
            try:
                value = convert(raw)
            except ValueError:
                raise ValueError(f"{prefix}{name}={raw!r} is not a valid {convert.__name__}") from None
            if convert is not str and value <= 0:
                raise ValueError(f"{prefix}{name} must be positive, got {raw!r}")
            return value

        gpu = read("GPU", str, default.gpu)
        return cls(
            timeout_seconds=read("TIMEOUT", int, default.timeout_seconds),  # type: ignore[arg-type]
            cpu=read("CPU", float, default.cpu),  # type: ignore[arg-type]
            memory_mb=read("MEMORY", int, default.memory_mb),  # type: ignore[arg-type]
            gpu=None if gpu in (None, "", "none") else str(gpu),
        )


# Sized from benchmarks/modal_cost.py (60 s 720p30, 21 captions, 2 CPUs): full_frames 0.9 CPU-s,
# layout (OCR of ~20 full frames) 6.4 CPU-s, cropped_frames (one decode: 10 Hz VP9 chunks, caption
# scan and OCR) 12.0 CPU-s, captions (assembling captions.db from raw-ocr.db) under 0.1 CPU-s but a
# re-OCR request decodes the video again (one core is enough for that); peak RSS under 900 MiB.
# Memory is billed as max(request, use): 2 GiB leaves room for 4K frames without paying much.
# Timeouts leave room for long 4K uploads; the orchestrator's wait limit
# (ComputeResource.timeout_seconds) must stay above them.
DEFAULTS: dict[str, FunctionSettings] = {
    "full_frames": FunctionSettings(timeout_seconds=900, cpu=1.0, memory_mb=2048),
    "layout": FunctionSettings(timeout_seconds=900, cpu=2.0, memory_mb=2048),
    "cropped_frames": FunctionSettings(timeout_seconds=1800, cpu=2.0, memory_mb=2048),
    "captions": FunctionSettings(timeout_seconds=1800, cpu=1.0, memory_mb=2048),
}
SETTINGS: dict[str, FunctionSettings] = {
    step: FunctionSettings.from_env(step, default) for step, default in DEFAULTS.items()
}

_PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Third-party packages from uv.lock exactly (`uv sync --frozen`, the project itself not installed),
# then this package's source on top, so a code change does not rebuild the dependency layer.
image = (
    modal.Image.debian_slim(python_version="3.11")
    .uv_sync(str(_PROJECT_ROOT), frozen=True, uv_version=UV_VERSION)
    .add_local_python_source("caption_assets")
)

app = modal.App(APP_NAME, image=image)
_secrets = [modal.Secret.from_name(SECRET_NAME)]


def store_from_env() -> ArtifactStore:
    """The artifact store the environment names (docs/architecture.md, configuration).

    The container has no catalog connection, so the tenant-exists check is left to the orchestrator,
    which checked the tenant before spawning; the key builder still confines every key to the
    tenant's prefix."""
    settings = Settings()
    if settings.store == "s3":
        from caption_assets.core.store.s3 import S3Store, make_s3_client

        if not settings.s3_bucket:
            raise PermanentError("CAPTION_ASSETS_STORE=s3 needs CAPTION_ASSETS_S3_BUCKET")
        client = make_s3_client(
            settings.s3_endpoint_url,
            settings.s3_region,
            os.environ.get("AWS_ACCESS_KEY_ID"),
            os.environ.get("AWS_SECRET_ACCESS_KEY"),
        )
        return S3Store(client, settings.s3_bucket)
    if not modal.is_local():
        # a container's disk vanishes with it: artifacts written there would be lost silently
        raise PermanentError(
            "CAPTION_ASSETS_STORE is not 's3' inside the Modal container; set the store variables "
            f"in the Modal Secret {SECRET_NAME!r} (deploy/modal/README.md)"
        )
    from caption_assets.core.store.local import LocalStore

    return LocalStore(settings.resolved_data_dir() / "artifacts")


def _function(step: str) -> Callable[[Callable[..., Any]], Any]:
    conf = SETTINGS[step]
    return app.function(
        name=FUNCTION_NAMES[step],
        secrets=_secrets,
        timeout=conf.timeout_seconds,
        cpu=conf.cpu,
        memory=conf.memory_mb,
        gpu=conf.gpu,
        # retries belong to the orchestrator's RetryPolicy, which also records them in the catalog
        retries=0,
    )


# ``decode_limits`` is the tier's bound the orchestrator held the step to (compute.limits); the
# container applies it itself, since the orchestrator's context does not reach it.


@_function("full_frames")
def full_frames(
    tenant_id: str, video_id: str, decode_limits: dict[str, Any] | None = None
) -> FullFramesResult:
    with held_to(decode_limits):
        return steps.full_frames_step(store_from_env(), VideoJob(tenant_id, video_id))


@_function("layout")
def layout(tenant_id: str, video_id: str, decode_limits: dict[str, Any] | None = None) -> LayoutResult:
    with held_to(decode_limits):
        return steps.layout_step(store_from_env(), VideoJob(tenant_id, video_id))


@_function("cropped_frames")
def cropped_frames(
    tenant_id: str, video_id: str, version: int, decode_limits: dict[str, Any] | None = None
) -> CroppedResult:
    with held_to(decode_limits):
        return steps.cropped_frames_step(store_from_env(), VideoJob(tenant_id, video_id), version)


@_function("captions")
def captions(
    tenant_id: str,
    video_id: str,
    reocr_caption_ids: list[int] | None = None,
    decode_limits: dict[str, Any] | None = None,
) -> CaptionsResult:
    with held_to(decode_limits):
        return steps.captions_step(store_from_env(), VideoJob(tenant_id, video_id), reocr_caption_ids)
