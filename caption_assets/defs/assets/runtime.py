"""What every per-video asset does around its compute call: find the video and its tenant, refuse
work that must not run, keep the catalog status in step with what happens, and turn errors into
the right kind of Dagster failure (permanent: no retry; transient: the RetryPolicy retries)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import dagster as dg

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import (
    Catalog,
    LockDatabase,
    LockResult,
    Tenant,
    Video,
    error_details,
)
from caption_assets.core.compute.base import Compute, VideoJob
from caption_assets.core.config import PIPELINE_VERSION
from caption_assets.core.errors import (
    LockHeldError,
    NotFoundError,
    PermanentError,
    TenantNotFoundError,
    TransientError,
)
from caption_assets.core.keys import VideoKeys, validate_uuid
from caption_assets.core.store.base import ArtifactStore
from caption_assets.defs.partitions import videos_partitions
from caption_assets.defs.resources.catalog import CatalogResource
from caption_assets.defs.resources.compute import ComputeResource
from caption_assets.defs.resources.store import StoreResource
from caption_assets.defs.runs import readable_tags

COMPUTE_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# who answers for the assets (shown on every asset's page)
OWNERS = ["team:captions"]
LOCK_TTL_SECONDS = 600
# How long a step waits for a lock someone else holds before giving the attempt up (transient:
# the RetryPolicy tries again later). Far below a lock lifetime: a waiting step holds a run slot.
LOCK_WAIT_SECONDS = 30.0
# the class of the error a step's dg.Failure stands for, in the failure's metadata (the chain is
# cut for the project's own refusals; the operations tables classify failures by it)
ERROR_CLASS_KEY = "error_class"


class LockLostError(PermanentError):
    """A lock the step held was taken by someone else (it expired, or was released): whatever the
    step computed since is not recorded."""

    def __init__(self, video_id: str, database: str, now: LockResult) -> None:
        super().__init__(
            f"{database} lock of video {video_id} was lost while the step ran (now held by "
            f"{now.holder or 'nobody'}{f' until {now.expires_at}' if now.expires_at else ''}); "
            "the step stopped without recording its result: retry once that session has ended"
        )


@dataclass(frozen=True)
class VideoContext:
    video: Video
    tenant: Tenant

    @property
    def job(self) -> VideoJob:
        return VideoJob(tenant_id=self.tenant.id, video_id=self.video.id)

    def metadata(self) -> dict[str, str]:
        """Tenant, tier and the uploaded file's name travel as materialization metadata, not
        partition dimensions: the readable identity of a partition key that is only a UUID."""
        return {
            "file": self.video.original_filename or "(no file name)",
            "tenant": self.tenant.name,
            "tenant_id": self.tenant.id,
            "tier": self.tenant.tier,
        }


def load_video(catalog: Catalog, video_id: str) -> VideoContext:
    """The video and its tenant, or a permanent error saying why the work is refused."""
    video_id = validate_uuid(video_id, "video id (partition key)")
    video = catalog.get_video(video_id)
    if video is None:
        raise NotFoundError(f"video {video_id} is not in the catalog")
    if video.deleted_at is not None:
        raise NotFoundError(f"video {video_id} was deleted at {video.deleted_at.isoformat()}")
    tenant = catalog.get_tenant(video.tenant_id)
    if tenant is None:
        raise TenantNotFoundError(f"video {video_id}: tenant {video.tenant_id} does not exist")
    if not tenant.active:
        raise PermanentError(f"video {video_id}: tenant {tenant.name} is not active")
    return VideoContext(video=video, tenant=tenant)


def load_approved(catalog: Catalog, video_id: str) -> VideoContext:
    """``load_video`` for the captions steps: they need a layout a person (or auto-approval)
    accepted."""
    vc = load_video(catalog, video_id)
    if vc.video.layout_approved_at is None or vc.video.layout_status != "done":
        raise PermanentError(
            f"video {video_id}: layout is not approved (layout_status={vc.video.layout_status}); "
            "approve it in the web app or re-run layout_job"
        )
    return vc


def tag_run(context: dg.AssetExecutionContext, vc: VideoContext) -> None:
    """Put the tenant's and the file's names on the run (a run launched from the UI or by a
    sensor that did not know them carries only UUIDs). A tag write that fails only logs."""
    missing = {
        k: v
        for k, v in readable_tags(vc.tenant.name, vc.video.original_filename).items()
        if context.run.tags.get(k) != v
    }
    if not missing:
        return
    try:
        context.instance.add_run_tags(context.run.run_id, missing)
    except Exception as exc:  # readable tags are a convenience, never a reason to fail the step
        context.log.warning(f"run tags {sorted(missing)} not added: {exc}")


def catalog_status_metadata(video: Video) -> dict[str, dg.MetadataValue]:
    """The video's catalog status as observation metadata: what the web app shows its people,
    beside Dagster's own partition status in the UI."""
    metadata: dict[str, dg.MetadataValue] = {"catalog_status": dg.MetadataValue.text(video.status_line())}
    for part, message in video.error_messages().items():
        metadata[f"{part}_error"] = dg.MetadataValue.text(message)
    return metadata


def status_observations(video: Video, assets: Sequence[dg.AssetKey]) -> list[dg.AssetObservation]:
    """One observation per asset of the video's partition, carrying its catalog status."""
    metadata = catalog_status_metadata(video)
    return [dg.AssetObservation(asset_key=key, partition=video.id, metadata=metadata) for key in assets]


def observe_status(context: dg.AssetExecutionContext, catalog: Catalog, video_id: str) -> None:
    """Log the video's catalog status, as a step left it, as an observation of the step's asset.
    Best effort: a catalog that does not answer costs the observation, never the step."""
    try:
        video = catalog.get_video(video_id)
        if video is not None:
            for observation in status_observations(video, [context.asset_key]):
                context.log_event(observation)
    except Exception as exc:  # noqa: BLE001 - the observation is a view of the catalog
        context.log.warning(f"catalog status of video {video_id} not observed: {exc}")


def compute_metadata(backend: object) -> dict[str, str]:
    """The remote call id (Modal) for the materialization, so a person can find the call."""
    call_id = getattr(backend, "last_call_id", None)
    return {"compute_call_id": call_id} if call_id else {}


def video_asset(
    *,
    group: str,
    kinds: set[str],
    description: str,
    deps: Sequence[dg.AssetsDefinition] | None = None,
    check_specs: Sequence[dg.AssetCheckSpec] | None = None,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """``dg.asset`` as every per-video asset is declared: a partition per video, the compute
    RetryPolicy, the processing pipeline's version as code version (partitions made by an older
    pipeline show as outdated) and the owners."""
    return dg.asset(
        partitions_def=videos_partitions,
        deps=deps,
        retry_policy=COMPUTE_RETRY_POLICY,
        group_name=group,
        kinds=kinds,
        code_version=PIPELINE_VERSION,
        owners=OWNERS,
        check_specs=check_specs,
        description=description,
    )


class VideoStep:
    """What a per-video asset works with: the catalog, its video and tenant, and the store and
    compute backend. Those two open on first use, so each asset keeps its own order of what
    happens before them (the status it begins, the locks it takes, the limits it checks)."""

    def __init__(
        self, catalog: Catalog, vc: VideoContext, store: StoreResource, compute: ComputeResource
    ) -> None:
        self.catalog = catalog
        self.vc = vc
        self._store = store
        self._compute = compute

    @property
    def video(self) -> Video:
        return self.vc.video

    @property
    def tenant(self) -> Tenant:
        return self.vc.tenant

    @property
    def job(self) -> VideoJob:
        return self.vc.job

    @property
    def keys(self) -> VideoKeys:
        return VideoKeys(self.tenant.id, self.video.id)

    @cached_property
    def store(self) -> ArtifactStore:
        return self._store.get(tenant_exists=self.catalog.tenant_exists)

    @cached_property
    def backend(self) -> Compute:
        return self._compute.get(self.store)

    def metadata(self) -> dict[str, str]:
        """What every materialization of the step shows first: the compute call and the video's
        readable identity."""
        return {**compute_metadata(self.backend), **self.vc.metadata()}


@contextmanager
def video_step(
    context: dg.AssetExecutionContext,
    step: str,
    catalog: CatalogResource,
    store: StoreResource,
    compute: ComputeResource,
    failed: Callable[[Catalog, str, dict[str, Any]], None],
    load: Callable[[Catalog, str], VideoContext] = load_video,
) -> Iterator[VideoStep]:
    """Every per-video asset's opening: the partition's video loaded (``load`` refuses what must
    not run), the run tagged with readable names, and the block under ``status_guard`` with
    ``failed`` (a ``lifecycle`` event) recording a failure for good."""
    cat = catalog.get()
    video_id = context.partition_key
    with status_guard(
        context, step, partial(failed, cat, video_id), partial(observe_status, context, cat, video_id)
    ):
        vc = load(cat, video_id)
        tag_run(context, vc)
        yield VideoStep(cat, vc, store, compute)
    observe_status(context, cat, video_id)


def _will_retry(context: dg.AssetExecutionContext) -> bool:
    return context.retry_number < COMPUTE_RETRY_POLICY.max_retries


def _canceled(context: dg.AssetExecutionContext) -> bool:
    run = context.instance.get_run_by_id(context.run.run_id)
    return run is not None and run.status in (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED)


@contextmanager
def status_guard(
    context: dg.AssetExecutionContext,
    step: str,
    failed: Callable[[dict[str, Any]], None],
    recorded: Callable[[], None] = lambda: None,
) -> Iterator[None]:
    """Record the step's failure through ``failed`` (a ``lifecycle`` event) when it fails for good,
    then call ``recorded`` (the UI's view of the catalog status).

    A transient failure with retries left keeps the status (the retry will continue the work);
    a permanent one becomes a ``dg.Failure`` with retries disallowed."""
    try:
        yield
    except dg.Failure:
        raise
    except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt) as interrupt:
        # Dagster retries an interrupted step that has a RetryPolicy (a worker preempted); a run
        # someone terminated must stop instead: whoever stopped it settles the video
        if _canceled(context):
            raise dg.Failure(
                description=f"{step} stopped: its run was terminated", allow_retries=False
            ) from interrupt
        raise
    except Exception as exc:  # every failure must reach the catalog, whatever its type
        transient = isinstance(exc, TransientError)
        if transient and _will_retry(context):
            context.log.warning(f"{step}: transient failure, will retry: {exc}")
            raise
        message = (
            f"{step} failed: {exc}"
            if not transient
            else f"{step} failed after {context.retry_number + 1} attempts: {exc}"
        )
        details = error_details(
            message=message,
            error=f"{type(exc).__name__}: {exc}",
            run_id=context.run.run_id,
            step=step,
            retryable=transient,
        )
        try:
            if _canceled(context):
                # whoever stopped the run settles the video (the `process` command's signal
                # handler, the run-cancellation sensor); what the step hits afterwards (its temp
                # files removed, its connections closed) is a consequence, not the reason
                context.log.warning(f"{step} failed after its run was canceled: {exc}")
            else:
                failed(details)
                recorded()
        except Exception as write_exc:  # the run-failure sensor is the second chance
            context.log.error(f"could not record the error of video {context.partition_key}: {write_exc}")
        if transient:
            raise
        failure = dg.Failure(
            description=message,
            metadata={ERROR_CLASS_KEY: type(exc).__name__, "step": step, "retryable": False},
            allow_retries=False,
        )
        if isinstance(exc, PermanentError):
            # a refusal the project raised on purpose (the user's file, a missing tenant): its one
            # line is the whole story, so the run page shows it without the traceback chain
            raise failure from None
        # anything else is a defect somewhere: its traceback is what whoever fixes it needs
        raise failure from exc


def acquire_waiting(
    catalog: Catalog,
    video_id: str,
    database: LockDatabase,
    holder: str,
    ttl_seconds: int,
    wait_seconds: float,
    poll_seconds: float = 2.0,
) -> float:
    """Take the lock, waiting while someone else holds it (a person editing in the web app, or
    another run); returns the seconds it waited (0.0: it was free). Past ``wait_seconds`` raise
    ``LockHeldError``: transient, so the step's RetryPolicy tries again later instead of failing
    the video."""
    deadline = time.monotonic() + wait_seconds
    refused_at: float | None = None
    while True:
        result = catalog.acquire_server_lock(video_id, database, holder, ttl_seconds)
        if result.acquired:
            return 0.0 if refused_at is None else time.monotonic() - refused_at
        if refused_at is None:
            refused_at = time.monotonic()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockHeldError(video_id, database, result.holder, result.expires_at)
        time.sleep(min(poll_seconds, remaining))


class HeldLocks:
    """The server locks a step holds; ``check`` before recording a result."""

    def __init__(
        self,
        catalog: Catalog,
        video_id: str,
        holder: str,
        databases: Sequence[LockDatabase],
        ttl_seconds: int,
    ) -> None:
        self._catalog = catalog
        self._video_id = video_id
        self._holder = holder
        self._databases = tuple(databases)
        self._ttl_seconds = ttl_seconds
        self._lost: tuple[LockDatabase, LockResult] | None = None
        # how long taking the locks waited for someone else's (the operations tables' lock waits)
        self.waited_seconds = 0.0

    @property
    def lost(self) -> bool:
        return self._lost is not None

    def renew(self) -> None:
        """Extend every lock; a renewal refused means someone else holds it now (lost for good:
        taking it back could overwrite what they did meanwhile)."""
        for database in self._databases:
            if self._lost is not None:
                return
            result = self._catalog.acquire_server_lock(
                self._video_id, database, self._holder, self._ttl_seconds
            )
            if not result.acquired:
                self._lost = (database, result)

    def check(self) -> None:
        """Renew now and raise ``LockLostError`` if any lock is no longer ours."""
        self.renew()
        if self._lost is not None:
            raise LockLostError(self._video_id, *self._lost)


@contextmanager
def video_locks(
    catalog: Catalog,
    video_id: str,
    holder: str,
    databases: Sequence[LockDatabase] = ("layout", "captions"),
    ttl_seconds: int = LOCK_TTL_SECONDS,
    release: bool = True,
    wait_seconds: float | None = None,
) -> Iterator[HeldLocks]:
    """Hold the video's server locks for the duration of the block, renewing them in the
    background. A held lock is waited for up to ``LOCK_WAIT_SECONDS`` (then ``LockHeldError``,
    transient). A lock lost meanwhile raises ``LockLostError`` at ``check()`` and at the end of
    the block, so a result computed without the lock is never recorded as if it had been."""
    wait = LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    acquired: list[LockDatabase] = []
    try:
        waited = 0.0
        for database in databases:
            waited += acquire_waiting(catalog, video_id, database, holder, ttl_seconds, wait)
            acquired.append(database)
        locks = HeldLocks(catalog, video_id, holder, databases, ttl_seconds)
        locks.waited_seconds = waited
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(ttl_seconds / 3) and not locks.lost:
                try:
                    locks.renew()
                except Exception:  # the catalog did not answer: retried on the next beat
                    pass

        thread = threading.Thread(target=renew, name=f"lock-renew-{video_id}", daemon=True)
        thread.start()
        try:
            yield locks
        finally:
            stop.set()
            thread.join(timeout=5)
        locks.check()
    except BaseException:
        lifecycle.release_locks(catalog, video_id, holder, acquired)
        raise
    else:
        if release:
            lifecycle.release_locks(catalog, video_id, holder, acquired)
