"""The upload webhook: Supabase's database webhook on ``captionacc.videos`` INSERTs starts the
video's layout run at once instead of at the next ``new_uploads`` tick.

``POST /webhooks/supabase/videos`` takes Supabase's payload (``type``, ``table``, ``schema``,
``record``, ``old_record``). An INSERT is only a hint: the row is re-read from the catalog (the
payload's tenant, tier and status are never trusted), refused for unknown or deleted videos and
inactive tenants, claimed with the sensor's own claim (``lifecycle.upload_claimed``, one
compare-and-set in SQL, so exactly one of webhook and sensor requests each (video, attempt)), and
its run is submitted to the Dagster instance with the sensor's tags, run key and priority.
Whatever the webhook does not start (service down, Dagster down, a missed delivery) the sensor
still claims at its next tick; a claim the webhook took but could not submit is released at once,
and a claim of a webhook that crashed in between is released by the maintenance repair (no run
carries its run key).

Why the instance and not the webserver's GraphQL: the service shares the instance (the same
``DAGSTER_HOME`` / ``dagster.yaml`` and run storage as the daemon and webserver), so a submission
is one run-storage write and an enqueue event for the ``QueuedRunCoordinator``, with no dependency
on the webserver being up and no HTTP/GraphQL round trip; the daemon dequeues and launches it
exactly as a sensor's run. The job snapshot comes from the code location loaded in-process under
the workspace's location name (``caption_assets``), which is how the daemon finds its code.

Authentication: ``Authorization: Bearer <secret>``, the secrets from
``CAPTION_ASSETS_WEBHOOK_SECRET`` (comma-separated for rotation), compared in constant time; the
service refuses to start without one. Nothing about a secret is logged or answered.

Every request to the path is recorded (``DeliveryLog``): when it arrived, its outcome (started a
run, replay answered with the existing run, ignored, refused for auth or rate, bad request,
unavailable 5xx), the HTTP status, the latency from its arrival to its answer in ms and the video
id once the payload named a valid one. The operations group's ``webhook_availability`` holds them
to the test plan's 99.9% availability. Where: a table of the catalog
(``captionacc.webhook_deliveries``, migration 0008), not Dagster observations, because

- the answers that matter most for availability are the 503s of a Dagster outage, when Dagster's
  storage is what is missing; the catalog is up in that case (every answer but a 401/422/429 reads
  it anyway), and a Dagster event write per delivery would load the storage that already bounds
  the webhook's throughput (about 33 statements per run);
- a batch of deliveries is one multi-row insert, where observations are one event write each;
- the readers page through it by (catalog time, id), the same in both catalog adapters.

Not on the hot path: ``record`` only appends to a bounded in-memory queue; one background thread
writes what has accumulated (one statement per batch, one catalog connection at a time, not the
request's). A failed write is retried with backoff and never reaches an answer; beyond
``max_pending`` the oldest unwritten deliveries are dropped and counted (``/metrics``). What is not
seen: requests that never reached the service (it was down, the network dropped them), and the
latency before the handler (TLS, uvicorn's parsing) and of sending the answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import json
import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from caption_assets.core.catalog import lifecycle
from caption_assets.core.catalog.base import Catalog, PendingUpload
from caption_assets.core.catalog.deliveries import Delivery, DeliveryOutcome, record_deliveries
from caption_assets.core.policy.priority import PriorityPolicy

log = logging.getLogger("caption_assets.webhook")

SECRET_ENV = "CAPTION_ASSETS_WEBHOOK_SECRET"
MAX_BODY_ENV = "CAPTION_ASSETS_WEBHOOK_MAX_BODY_BYTES"
ADDRESS_LIMIT_ENV = "CAPTION_ASSETS_WEBHOOK_ADDRESS_LIMIT"
TENANT_LIMIT_ENV = "CAPTION_ASSETS_WEBHOOK_TENANT_LIMIT"
SUBMIT_TIMEOUT_ENV = "CAPTION_ASSETS_WEBHOOK_SUBMIT_TIMEOUT"

PATH = "/webhooks/supabase/videos"
CATALOG_SCHEMA = "captionacc"
TABLE = "videos"
JOB_NAME = "layout_job"
LOCATION_NAME = "caption_assets"
DEFS_MODULE = "caption_assets.defs.definitions"
TRIGGER_TAG = "caption_assets/trigger"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class WebhookConfigError(ValueError):
    """The service cannot start as configured (no secret, a limit that is not a number)."""


@dataclass(frozen=True)
class RateLimit:
    """``requests`` per ``per_seconds`` (a token bucket of that size, refilled evenly)."""

    requests: int
    per_seconds: float = 60.0

    @classmethod
    def parse(cls, text: str, name: str) -> RateLimit:
        """``"600"`` (per minute) or ``"600/60"`` (requests/seconds)."""
        try:
            count, _, seconds = text.strip().partition("/")
            limit = cls(int(count), float(seconds) if seconds else 60.0)
        except ValueError:
            raise WebhookConfigError(f"{name} must be N or N/SECONDS, e.g. 600/60") from None
        if limit.requests < 1 or limit.per_seconds <= 0:
            raise WebhookConfigError(f"{name} must allow at least one request in a positive time")
        return limit


@dataclass(frozen=True)
class WebhookConfig:
    secrets: tuple[str, ...] = field(repr=False)
    max_body_bytes: int = 64 * 1024
    # every Supabase delivery comes from one address: this one is generous
    address_limit: RateLimit = RateLimit(1200, 60.0)
    tenant_limit: RateLimit = RateLimit(300, 60.0)
    # how long an answer waits for Dagster; a submission still going on after it completes (or
    # releases its claim) in the background, and the answer is 503
    submit_timeout_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not self.secrets or any(not s for s in self.secrets):
            raise WebhookConfigError(
                f"no webhook secret: set {SECRET_ENV} (comma-separated for rotation); refusing to start"
            )

    def __repr__(self) -> str:  # never the secrets
        return (
            f"WebhookConfig(secrets=<{len(self.secrets)}>, max_body_bytes={self.max_body_bytes}, "
            f"address_limit={self.address_limit}, tenant_limit={self.tenant_limit}, "
            f"submit_timeout_seconds={self.submit_timeout_seconds})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookConfig:
        env = os.environ if env is None else env
        secrets = tuple(s.strip() for s in env.get(SECRET_ENV, "").split(",") if s.strip())
        kwargs: dict[str, Any] = {}
        if env.get(MAX_BODY_ENV):
            try:
                kwargs["max_body_bytes"] = int(env[MAX_BODY_ENV])
            except ValueError:
                raise WebhookConfigError(f"{MAX_BODY_ENV} must be a number of bytes") from None
        if env.get(SUBMIT_TIMEOUT_ENV):
            try:
                kwargs["submit_timeout_seconds"] = float(env[SUBMIT_TIMEOUT_ENV])
            except ValueError:
                raise WebhookConfigError(f"{SUBMIT_TIMEOUT_ENV} must be a number of seconds") from None
        if env.get(ADDRESS_LIMIT_ENV):
            kwargs["address_limit"] = RateLimit.parse(env[ADDRESS_LIMIT_ENV], ADDRESS_LIMIT_ENV)
        if env.get(TENANT_LIMIT_ENV):
            kwargs["tenant_limit"] = RateLimit.parse(env[TENANT_LIMIT_ENV], TENANT_LIMIT_ENV)
        return cls(secrets=secrets, **kwargs)


class RateLimiter:
    """Token buckets by key (source address, tenant id); the least recently used are forgotten
    beyond ``max_keys`` so a flood of addresses cannot grow it without bound."""

    def __init__(
        self, limit: RateLimit, clock: Callable[[], float] = time.monotonic, max_keys: int = 10000
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go on, else the seconds until it may."""
        rate = self._limit.requests / self._limit.per_seconds
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self._limit.requests), now))
            tokens = min(float(self._limit.requests), tokens + (now - at) * rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return wait


class Metrics:
    """Counters in Prometheus text format (hand-written: a handful of series)."""

    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.rejections: dict[str, int] = {}
        self.ignored: dict[str, int] = {}
        self.submitted = 0
        self._latency_buckets = [0] * len(self.BUCKETS)
        self._latency_sum = 0.0
        self._latency_count = 0

    def count(self, table: dict[str, int], key: str) -> None:
        with self._lock:
            table[key] = table.get(key, 0) + 1

    def submission(self, seconds: float) -> None:
        with self._lock:
            self.submitted += 1
            self._latency_sum += seconds
            self._latency_count += 1
            for i, bound in enumerate(self.BUCKETS):
                if seconds <= bound:
                    self._latency_buckets[i] += 1

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:

            def family(name: str, help_text: str, label: str, table: dict[str, int]) -> None:
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} counter")
                for key, value in sorted(table.items()):
                    lines.append(f'{name}{{{label}="{key}"}} {value}')

            family(
                "caption_assets_webhook_requests_total", "Requests by HTTP status.", "status", self.requests
            )
            family(
                "caption_assets_webhook_rejections_total",
                "Refused requests by reason.",
                "reason",
                self.rejections,
            )
            family(
                "caption_assets_webhook_ignored_total",
                "Ignored deliveries by reason.",
                "reason",
                self.ignored,
            )
            lines.append("# HELP caption_assets_webhook_runs_submitted_total Runs submitted to Dagster.")
            lines.append("# TYPE caption_assets_webhook_runs_submitted_total counter")
            lines.append(f"caption_assets_webhook_runs_submitted_total {self.submitted}")
            name = "caption_assets_webhook_submission_seconds"
            lines.append(f"# HELP {name} From the request to the run queued in Dagster.")
            lines.append(f"# TYPE {name} histogram")
            for bound, value in zip(self.BUCKETS, self._latency_buckets):
                lines.append(f'{name}_bucket{{le="{bound}"}} {value}')
            lines.append(f'{name}_bucket{{le="+Inf"}} {self._latency_count}')
            lines.append(f"{name}_sum {self._latency_sum:.6f}")
            lines.append(f"{name}_count {self._latency_count}")
        return "\n".join(lines) + "\n"


class DeliveryLog:
    """The deliveries on their way to the catalog: ``record`` queues (never blocks on I/O, never
    raises); a daemon thread, started by the first ``record``, writes everything queued meanwhile
    with one ``write`` call, so a busy webhook writes large batches and an idle one at once.

    A failed ``write`` keeps its batch at the front of the queue and is retried after a backoff
    (doubling up to ``max_backoff_seconds``); while more than ``max_pending`` wait, the oldest are
    dropped and counted. ``close`` writes what is left (one attempt) and stops the thread."""

    def __init__(
        self,
        write: Callable[[list[Delivery]], object],
        max_pending: int = 20000,
        batch_size: int = 500,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self._write = write
        self._max_pending = max_pending
        self._batch_size = batch_size
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._cond = threading.Condition()
        self._pending: deque[tuple[int, Delivery]] = deque()
        self._inflight: list[tuple[int, Delivery]] = []
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._closing = False
        self.written = 0
        self.dropped = 0
        self.failed_writes = 0

    def record(self, delivery: Delivery) -> None:
        try:
            with self._cond:
                if self._closing:
                    self.dropped += 1
                    return
                self._seq += 1
                self._pending.append((self._seq, delivery))
                while len(self._pending) > self._max_pending:
                    self._pending.popleft()
                    self.dropped += 1
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="webhook-deliveries", daemon=True)
                    self._thread.start()
                self._cond.notify_all()
        except Exception as exc:  # a record lost is never a delivery lost
            log.warning("delivery not recorded (%s)", type(exc).__name__)

    def _outstanding(self) -> int:
        """The oldest sequence number not written yet (past the newest when none is)."""
        if self._inflight:
            return self._inflight[0][0]
        if self._pending:
            return self._pending[0][0]
        return self._seq + 1

    def flush(self, timeout: float) -> bool:
        """Wait until every delivery recorded before the call is written (or dropped); False
        when ``timeout`` seconds passed first (the catalog is not taking them)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._seq
            while self._outstanding() <= target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        backoff = self._backoff
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                take = min(self._batch_size, len(self._pending))
                self._inflight = [self._pending.popleft() for _ in range(take)]
                closing = self._closing
            batch = [d for _, d in self._inflight]
            try:
                self._write(batch)
            except Exception as exc:
                with self._cond:
                    self.failed_writes += 1
                    if closing:
                        self.dropped += len(self._inflight)
                    else:
                        self._pending.extendleft(reversed(self._inflight))
                        while len(self._pending) > self._max_pending:
                            self._pending.popleft()
                            self.dropped += 1
                    self._inflight = []
                    self._cond.notify_all()
                    if self.failed_writes == 1 or backoff >= self._max_backoff:
                        log.warning(
                            "%d webhook deliveries not recorded yet (%s); retrying in %.1f s",
                            len(self._pending),
                            type(exc).__name__,
                            backoff,
                        )
                    if closing:
                        log.warning("%d webhook deliveries dropped at shutdown", len(batch))
                        return
                    self._cond.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = self._backoff
            with self._cond:
                self.written += len(batch)
                self._inflight = []
                self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)

    def render(self) -> str:
        """Its counters in Prometheus text format."""
        name = "caption_assets_webhook_delivery_records"
        with self._cond:
            pending = len(self._pending) + len(self._inflight)
            values = {"written": self.written, "dropped": self.dropped, "pending": pending}
            failed = self.failed_writes
        lines = [f"# HELP {name} Deliveries recorded in the catalog, dropped unwritten, waiting."]
        lines.append(f"# TYPE {name} gauge")
        lines += [f'{name}{{state="{k}"}} {v}' for k, v in values.items()]
        lines.append(f"# HELP {name}_failed_writes_total Batch writes the catalog refused or missed.")
        lines.append(f"# TYPE {name}_failed_writes_total counter")
        lines.append(f"{name}_failed_writes_total {failed}")
        return "\n".join(lines) + "\n"


def delivery_outcome(status: int, body: Mapping[str, Any]) -> DeliveryOutcome:
    """What an answer was, for the availability figures: every 5xx is unavailability."""
    if status >= 500:
        return "unavailable"
    if status == 401:
        return "refused_auth"
    if status == 429:
        return "refused_rate"
    if status >= 400:
        return "bad_request"
    if status == 202:
        return "started"
    return "replay" if "run_id" in body else "ignored"


class DagsterUnavailable(RuntimeError):
    """The run could not be submitted: the instance (its storage) or the code did not answer."""


class RunSubmitter:
    """Creates and enqueues ``layout_job`` runs on a Dagster instance whose run coordinator is the
    ``QueuedRunCoordinator`` (the daemon launches them as it launches a sensor's). The instance and
    the in-process code location are made on first use and again after a failure, so the service
    starts while Dagster is down and recovers when it is back.

    Speed: the instance, the job and its execution plan are loaded once and reused by every
    submission; the instance's storages keep their connections open (Dagster's default opens a
    new Postgres connection for every statement, about 30 per run); concurrent submissions add
    their partitions in one statement. The instance is the submitter's own: its connection pool
    is changed."""

    # as dagster-webserver's defaults: a statement stuck longer fails instead of holding a worker
    STATEMENT_TIMEOUT_MS = 15000
    POOL_RECYCLE_SECONDS = 3600

    def __init__(
        self,
        instance_factory: Callable[[], Any] | None = None,
        module_name: str = DEFS_MODULE,
        location_name: str = LOCATION_NAME,
        backoff_seconds: float = 5.0,
        workers: int = 8,
    ) -> None:
        self._instance_factory = instance_factory or _default_instance
        # after a failure, fail fast for this long instead of waiting out Dagster's own
        # connection retries (about 15 s) on every request of an outage
        self._backoff_seconds = backoff_seconds
        self._failed_at: float | None = None
        self._module_name = module_name
        self._location_name = location_name
        self._lock = threading.Lock()
        self._state: tuple[Any, Any, Any, Any] | None = None  # instance, repository, job, plan
        # submissions in parallel overlap one another's database round trips (a run is about 33
        # statements, most of them writes that wait for a commit); beyond a few they only queue
        # for the GIL and the database's cores
        self.workers = workers
        self._partitions = _GroupCommit(self._add_partitions)

    def _loaded(self) -> tuple[Any, Any, Any, Any]:
        with self._lock:
            if self._state is None:
                if self._failed_at is not None and time.monotonic() - self._failed_at < self._backoff_seconds:
                    raise DagsterUnavailable("failed moments ago")
                try:
                    self._state = self._load()
                except Exception:
                    self._failed_at = time.monotonic()
                    raise
                self._failed_at = None
            return self._state

    def _load(self) -> tuple[Any, Any, Any, Any]:
        import sys

        from dagster._core.remote_origin import InProcessCodeLocationOrigin
        from dagster._core.remote_representation.code_location import InProcessCodeLocation
        from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
        from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

        instance = self._instance_factory()
        if not isinstance(instance.run_coordinator, QueuedRunCoordinator):
            raise RuntimeError(
                "the webhook needs the instance's QueuedRunCoordinator (dagster.yaml run_coordinator): "
                f"this instance has {type(instance.run_coordinator).__name__}"
            )
        # one connection kept open per storage, more while several threads use it (closed when
        # given back): the workers, a nested use within one, the replays' run lookups
        instance.optimize_for_webserver(
            statement_timeout=self.STATEMENT_TIMEOUT_MS,
            pool_recycle=self.POOL_RECYCLE_SECONDS,
            max_overflow=2 * self.workers + 4,
        )
        origin = InProcessCodeLocationOrigin(
            LoadableTargetOrigin(executable_path=sys.executable, module_name=self._module_name),
            # the image the run pods use (K8sRunLauncher), as the code server reports it
            container_image=os.environ.get("DAGSTER_CURRENT_IMAGE"),
            location_name=self._location_name,
        )
        location = InProcessCodeLocation(origin, instance=instance)
        (repository,) = location.get_repositories().values()
        job = repository.get_full_job(JOB_NAME)
        # the job takes no run config: its plan is the same for every video (partition = a tag)
        plan = location.get_execution_plan(
            job, {}, step_keys_to_execute=None, known_state=None, instance=instance
        )
        return instance, repository, job, plan

    def warm(self) -> bool:
        try:
            self._loaded()
            return True
        except Exception as exc:
            log.warning("Dagster not ready yet (%s); the first request retries", type(exc).__name__)
            return False

    def _forget(self) -> None:
        with self._lock:
            self._state = None
            self._failed_at = time.monotonic()

    def _add_partitions(self, video_ids: list[str]) -> None:
        from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME

        # an upsert in Postgres storage (existing keys are skipped), one statement for the batch
        self._loaded()[0].add_dynamic_partitions(VIDEOS_PARTITION_NAME, video_ids)

    def existing_run(self, run_key: str) -> str | None:
        """The run already carrying ``run_key`` (a replay answers with it), if Dagster answers."""
        import dagster as dg

        from caption_assets.defs.runs import RUN_KEY_TAG

        try:
            instance = self._loaded()[0]
            records = instance.get_run_records(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
        except Exception:
            return None
        return records[0].dagster_run.run_id if records else None

    def submit(self, video_id: str, tags: Mapping[str, str]) -> str:
        """Add the video's partition if missing, create the run and enqueue it; the run id."""
        import dagster as dg

        try:
            instance, repository, job, plan = self._loaded()
        except DagsterUnavailable:
            raise
        except Exception as exc:
            raise DagsterUnavailable(type(exc).__name__) from exc
        run_id: str | None = None
        try:
            self._partitions.add(video_id)
            run = instance.create_run(
                job_name=job.name,
                run_id=None,
                run_config={},
                status=dg.DagsterRunStatus.NOT_STARTED,
                tags={**(job.run_tags or {}), **tags},
                root_run_id=None,
                parent_run_id=None,
                step_keys_to_execute=None,
                execution_plan_snapshot=plan.execution_plan_snapshot,
                job_snapshot=job.job_snapshot,
                parent_job_snapshot=job.parent_job_snapshot,
                asset_selection=None,
                asset_check_selection=None,
                resolved_op_selection=job.resolved_op_selection,
                op_selection=None,
                remote_job_origin=job.get_remote_origin(),
                job_code_origin=job.get_python_origin(),
                asset_graph=repository.asset_graph,
            )
            run_id = run.run_id
            instance.submit_run(run.run_id, workspace=None)
            return str(run.run_id)
        except Exception as exc:
            log.warning("submission of video %s failed: %s", video_id, type(exc).__name__, exc_info=True)
            if run_id is not None:
                # created but never enqueued: remove it, so the sensor's run is the only one
                try:
                    instance.delete_run(run_id)
                except Exception:
                    raise DagsterUnavailable(f"run {run_id} created, not enqueued, not removed") from exc
            raise DagsterUnavailable(type(exc).__name__) from exc


class _GroupCommit:
    """Calls ``flush`` with the keys of every caller waiting meanwhile: the first caller flushes
    its own key; those arriving during a flush wait, and the next of them flushes them all at
    once. Each caller returns when a flush holding its key is done (or raises its error)."""

    def __init__(self, flush: Callable[[list[str]], None]) -> None:
        self._flush = flush
        self._cond = threading.Condition()
        self._pending = _Batch()
        self._flushing = False

    def add(self, key: str) -> None:
        with self._cond:
            batch = self._pending
            batch.keys.append(key)
            while not batch.done:
                if not self._flushing:
                    self._flushing = True
                    self._pending = _Batch()
                    self._cond.release()
                    try:
                        self._flush(batch.keys)
                    except BaseException as exc:
                        batch.error = exc
                    finally:
                        self._cond.acquire()
                        batch.done = True
                        self._flushing = False
                        self._cond.notify_all()
                else:
                    self._cond.wait()
        if batch.error is not None:
            raise batch.error


@dataclass
class _Batch:
    keys: list[str] = field(default_factory=list)
    done: bool = False
    error: BaseException | None = None


def _default_instance() -> Any:
    import dagster as dg

    return dg.DagsterInstance.get()


class Ignored(Exception):
    def __init__(self, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.extra = extra


class Invalid(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Insert:
    video_id: str


def parse_payload(body: bytes) -> Insert:
    """Supabase's database-webhook payload, validated: ``Invalid`` names the field, ``Ignored``
    says why an event is none of ours."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("body", "not JSON") from None
    if not isinstance(payload, dict):
        raise Invalid("body", "not a JSON object")
    for name in ("type", "table", "schema"):
        if name not in payload:
            raise Invalid(name, "missing")
        if not isinstance(payload[name], str):
            raise Invalid(name, "not a string")
    if "record" not in payload:
        raise Invalid("record", "missing")
    if payload["table"] != TABLE or payload["schema"] != CATALOG_SCHEMA:
        raise Ignored(f"not {CATALOG_SCHEMA}.{TABLE}")
    if payload["type"] != "INSERT":
        raise Ignored(f"type {payload['type'][:20]!r}, only INSERT starts a run")
    record = payload["record"]
    if not isinstance(record, dict):
        raise Invalid("record", "not an object")
    if "id" not in record:
        raise Invalid("record.id", "missing")
    video_id = record["id"]
    if not isinstance(video_id, str) or not _UUID.match(video_id):
        raise Invalid("record.id", "not a UUID")
    return Insert(video_id=video_id.lower())


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _authorized(header: str | None, secrets: tuple[str, ...]) -> bool:
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    given = token.strip().encode()
    ok = False
    for secret in secrets:  # every secret compared, in constant time each
        ok |= hmac.compare_digest(given, secret.encode())
    return ok


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _TooLarge
        except ValueError:
            raise Invalid("content-length", "not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    config: WebhookConfig,
    catalog: Catalog | Callable[[], Catalog],
    submitter: RunSubmitter,
    policy: PriorityPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    deliveries: DeliveryLog | None = None,
) -> Starlette:
    """The ASGI app. ``catalog`` is the catalog or a factory called on first use. ``deliveries``:
    where each request is recorded (by default the catalog's delivery log, written in batches)."""
    from caption_assets.defs.runs import PARTITION_TAG, RUN_KEY_TAG, layout_run_key, run_tags

    metrics = Metrics()
    by_address = RateLimiter(config.address_limit, clock)
    by_tenant = RateLimiter(config.tenant_limit, clock)
    catalog_lock = threading.Lock()
    holder: dict[str, Catalog] = {}
    priority_policy = policy or PriorityPolicy()

    def get_catalog() -> Catalog:
        if isinstance(catalog, Catalog):
            return catalog
        with catalog_lock:
            if "c" not in holder:
                holder["c"] = catalog()
            return holder["c"]

    delivery_log = deliveries or DeliveryLog(lambda batch: record_deliveries(get_catalog(), batch))

    def note(
        received: datetime, status: int, body: Mapping[str, Any], reason: str, ms: float, video_id: str | None
    ) -> None:
        try:
            delivery_log.record(
                Delivery(received, delivery_outcome(status, body), reason, status, ms, video_id)
            )
        except Exception as exc:  # the answer stands whatever its record does
            log.warning("delivery not recorded (%s)", type(exc).__name__)

    def answer(
        status: int,
        body: dict[str, Any],
        reason: str,
        arrival: _Arrival,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        ms = (time.perf_counter() - arrival.started) * 1000.0
        metrics.count(metrics.requests, str(status))
        if status >= 400:
            metrics.count(metrics.rejections, reason)
        log.info("%s %d %s %.1f ms", PATH, status, reason, ms)
        note(arrival.received, status, body, reason, ms, arrival.video_id)
        arrival.answered = True
        return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)

    # Dagster's calls block: they run in this bounded pool, never on the event loop, and the
    # answer awaits them without holding a thread (the catalog's calls use Starlette's pool)
    submissions = concurrent.futures.ThreadPoolExecutor(
        max_workers=submitter.workers, thread_name_prefix="webhook-submit"
    )

    def submit_or_release(cat: Catalog, pending: PendingUpload, tags: dict[str, str]) -> str:
        """Submit the claimed upload's run; when it cannot be, give the claim back to the sensor.
        Runs to its end even when the answer stopped waiting for it."""
        try:
            return submitter.submit(pending.video_id, tags)
        except DagsterUnavailable as exc:
            released = _give_up_claim(cat, pending)
            log.warning(
                "video %s: Dagster unavailable (%s); claim %s, the sensor takes it",
                pending.video_id,
                exc,
                "released" if released else "left to the repair",
            )
            raise

    def claim(video_id: str) -> _Answer | _Claimed:
        """The catalog's part: re-read the row and its tenant, take the claim; the run's tags."""
        cat = get_catalog()
        video = cat.get_video(video_id)
        if video is None:
            raise Ignored("unknown video")
        if video.deleted_at is not None:
            raise Ignored("video deleted")
        tenant = cat.get_tenant(video.tenant_id)
        if tenant is None or not tenant.active:
            raise Ignored("tenant inactive")
        wait = by_tenant.take(tenant.id)
        if wait > 0:
            return _Answer(
                429, {"error": "rate limited (tenant)"}, "tenant_rate", {"Retry-After": _retry_after(wait)}
            )
        claimed = lifecycle.upload_claimed(cat, limit=1, video_ids=[video_id])
        if not claimed:
            key = layout_run_key(video_id, video.processing_attempt)
            extra = {}
            existing = submitter.existing_run(key)
            if existing is not None:
                extra["run_id"] = existing
            raise Ignored("not waiting or already claimed", **extra)
        pending = claimed[0]
        tags = {
            **run_tags(
                pending.video_id,
                pending.tenant_id,
                pending.tier,
                pending.uploaded_at,
                priority_policy,
                attempt=pending.processing_attempt,
            ),
            PARTITION_TAG: pending.video_id,
            RUN_KEY_TAG: layout_run_key(pending.video_id, pending.processing_attempt),
            TRIGGER_TAG: "webhook",
        }
        return _Claimed(cat, pending, tags)

    async def submitted(claimed: _Claimed) -> _Answer:
        future = asyncio.wrap_future(
            submissions.submit(submit_or_release, claimed.catalog, claimed.pending, claimed.tags)
        )
        # asyncio.wait, not wait_for: a timeout must not cancel a submission still queued (its
        # claim would be neither used nor released)
        done, _ = await asyncio.wait({future}, timeout=config.submit_timeout_seconds)
        if not done:
            future.add_done_callback(_retrieve)
            log.warning(
                "video %s: Dagster slower than %.1f s; submitting in the background",
                claimed.pending.video_id,
                config.submit_timeout_seconds,
            )
            return _Answer(
                503,
                {
                    "error": "Dagster did not answer in time; the run starts when it does, "
                    "else the sensor starts it"
                },
                "dagster_timeout",
                {"Retry-After": "5"},
            )
        try:
            run_id = future.result()
        except DagsterUnavailable:
            return _Answer(
                503,
                {"error": "Dagster unavailable; the sensor will start the run"},
                "dagster",
                {"Retry-After": "5"},
            )
        return _Answer(202, {"run_id": run_id}, "submitted", {})

    async def videos(request: Request) -> Response:
        arrival = _Arrival(time.perf_counter(), datetime.now(UTC))
        try:
            return await delivered(request, arrival)
        except Exception:
            # a defect: Starlette answers 500, and the delivery counts as unavailable
            if not arrival.answered:
                ms = (time.perf_counter() - arrival.started) * 1000.0
                note(arrival.received, 500, {}, "internal", ms, arrival.video_id)
            raise

    async def delivered(request: Request, arrival: _Arrival) -> Response:
        wait = by_address.take(_client_address(request))
        if wait > 0:
            return answer(
                429, {"error": "rate limited"}, "address_rate", arrival, {"Retry-After": _retry_after(wait)}
            )
        if not _authorized(request.headers.get("authorization"), config.secrets):
            return answer(
                401, {"error": "unauthorized"}, "unauthorized", arrival, {"WWW-Authenticate": "Bearer"}
            )
        try:
            body = await _read_body(request, config.max_body_bytes)
            insert = parse_payload(body)
        except _TooLarge:
            return answer(413, {"error": f"body over {config.max_body_bytes} bytes"}, "too_large", arrival)
        except Invalid as exc:
            return answer(422, {"error": exc.message, "field": exc.field}, "invalid", arrival)
        except Ignored as exc:
            metrics.count(metrics.ignored, exc.reason.split(" ")[0])
            return answer(200, {"ignored": exc.reason}, "ignored", arrival)
        arrival.video_id = insert.video_id
        try:
            outcome = await run_in_threadpool(claim, insert.video_id)
        except Ignored as exc:
            metrics.count(metrics.ignored, exc.reason.split(" ")[0])
            return answer(200, {"ignored": exc.reason, **exc.extra}, "ignored", arrival)
        except Exception as exc:  # the catalog did not answer: nothing claimed, the sensor retries
            log.warning("video %s: catalog unavailable (%s)", insert.video_id, type(exc).__name__)
            return answer(503, {"error": "catalog unavailable"}, "catalog", arrival, {"Retry-After": "5"})
        if isinstance(outcome, _Claimed):
            outcome = await submitted(outcome)
            if outcome.status == 202:
                metrics.submission(time.perf_counter() - arrival.started)
        return answer(outcome.status, outcome.body, outcome.reason, arrival, outcome.headers)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def metrics_endpoint(request: Request) -> Response:
        text = metrics.render() + delivery_log.render()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # the deliveries answered last are written before the process ends
        await run_in_threadpool(delivery_log.close)

    app = Starlette(
        routes=[
            Route(PATH, videos, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.submissions = submissions
    app.state.deliveries = delivery_log
    return app


@dataclass
class _Arrival:
    """A request to the path while it is handled: when it came, the video once known."""

    started: float  # perf_counter: the latency
    received: datetime  # wall clock: the day it counts on
    video_id: str | None = None
    answered: bool = False


@dataclass(frozen=True)
class _Answer:
    """The answer of a delivery the catalog refused or the submission decided."""

    status: int
    body: dict[str, Any]
    reason: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Claimed:
    catalog: Catalog
    pending: PendingUpload
    tags: dict[str, str]


def _retrieve(future: asyncio.Future[Any]) -> None:
    """A submission the answer stopped waiting for: its error was logged where it happened."""
    if not future.cancelled():
        future.exception()


def _retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def _give_up_claim(catalog: Catalog, pending: PendingUpload) -> bool:
    """Release the layout claim just taken (its run was not submitted), so the next sensor tick
    requests it instead of waiting for the repair's grace. Only this attempt's unstarted claim."""
    try:
        far = datetime.now(UTC) + timedelta(days=1)  # every claim so far, whatever the clocks say
        for claim in catalog.unstarted_claims(claimed_before=far, limit=10000):
            if (
                claim.video_id == pending.video_id
                and claim.work == "layout"
                and claim.processing_attempt == pending.processing_attempt
            ):
                return lifecycle.claim_lost(catalog, claim)
    except Exception as exc:  # the repair releases it after its grace (no run has its run key)
        log.warning("video %s: claim not released (%s)", pending.video_id, type(exc).__name__)
    return False


def serve(host: str, port: int, config: WebhookConfig | None = None) -> None:
    """Run the service with the code location's settings (catalog from the environment, the
    shared Dagster instance from ``DAGSTER_HOME``) until interrupted."""
    import uvicorn

    from caption_assets.app.platform import prepare_environment
    from caption_assets.core.config import get_settings
    from caption_assets.defs.definitions import build_resources

    config = config or WebhookConfig.from_env()
    settings = get_settings()
    prepare_environment(settings)
    resources = build_resources(settings)

    def make_catalog() -> Catalog:
        return resources["catalog"].process_config_and_initialize().get()

    policy = resources["settings"].process_config_and_initialize().priority_policy()
    submitter = RunSubmitter()
    submitter.warm()
    app = create_app(config, make_catalog, submitter, policy=policy)
    log.info("upload webhook on http://%s:%d%s", host, port, PATH)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)


__all__ = [
    "PATH",
    "DeliveryLog",
    "RateLimit",
    "RunSubmitter",
    "WebhookConfig",
    "WebhookConfigError",
    "create_app",
    "delivery_outcome",
    "parse_payload",
    "serve",
]
