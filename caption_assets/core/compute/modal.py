"""Compute on Modal: each heavy step is a function of the deployed app (``caption_assets/app/modal_app.py``).

The call is spawned, then awaited in short slices so that a terminated Dagster run (a
``DagsterExecutionInterruptedError`` or ``KeyboardInterrupt`` raised into the waiting thread) or a
``cancel()`` from another thread cancels the remote call instead of leaving it running and billed.
Modal's failures are sorted into the project's two kinds (see ``caption_assets.core.compute.errors``):

- transient (the asset's RetryPolicy retries): the remote function's own timeout, our wait limit
  (the call is cancelled first), no capacity (``ResourceExhaustedError``), connection and service
  errors, Modal-internal failures, an expired result;
- permanent: the app/function not deployed or credentials refused, the run terminated, and every
  exception of the step's code. The project's own errors (``BadVideoError``, ``NotFoundError``, a
  remote ``StoreUnavailableError`` ...) come back as themselves, since the remote exception is
  unpickled locally; anything else becomes ``RemoteStepError`` carrying the remote message.

Progress: a remote call reports none while it runs (``Compute.reporting`` is accepted and the
callback never called; the step's request stays tenant, video and its own arguments). The run's log
shows the spawned call's id, then the result.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import modal
import modal.exception as mexc
from grpclib.exceptions import GRPCError, StreamTerminatedError

from caption_assets.core.compute.base import (
    CaptionsResult,
    Compute,
    CroppedResult,
    FullFramesResult,
    LayoutResult,
    VideoJob,
)
from caption_assets.core.compute.errors import (
    ComputeCancelledError,
    ComputeCapacityError,
    ComputeConfigurationError,
    ComputeTimeoutError,
    ComputeUnavailableError,
    RemoteStepError,
)
from caption_assets.core.compute.limits import REQUEST_KEY, limits_request
from caption_assets.core.errors import CaptionAssetsError

logger = logging.getLogger(__name__)

DEFAULT_APP_NAME = "caption-assets"

# step -> name of the function in the deployed app; modal_app.py registers its functions under
# these names, so the two sides cannot drift apart
FUNCTION_NAMES: Mapping[str, str] = {
    "full_frames": "full_frames",
    "layout": "layout",
    "cropped_frames": "cropped_frames",
    "captions": "captions",
}


class FunctionCallHandle(Protocol):
    """The part of ``modal.FunctionCall`` this module uses."""

    object_id: str

    def get(self, timeout: float | None = None) -> object: ...

    def cancel(self, terminate_containers: bool = False) -> None: ...


class FunctionHandle(Protocol):
    """The part of ``modal.Function`` this module uses."""

    def spawn(self, *args: Any, **kwargs: Any) -> FunctionCallHandle: ...


# (app name, function name) -> handle; Modal's Function.from_name in production, a stand-in in tests
FunctionLookup = Callable[[str, str], FunctionHandle]


def modal_function_lookup(environment_name: str | None = None) -> FunctionLookup:
    """Handles of a deployed app's functions (lazy: nothing is contacted until ``spawn``)."""

    def lookup(app_name: str, function_name: str) -> FunctionHandle:
        function = modal.Function.from_name(app_name, function_name, environment_name=environment_name)
        # Modal types ``spawn`` as a synchronicity wrapper object, not a method, so the handle does
        # not match the protocol structurally although it is called the same way
        return cast(FunctionHandle, function)

    return lookup


@dataclass(frozen=True)
class CallInfo:
    """One spawned remote call, as reported to ``on_call`` and kept in ``ModalCompute.calls``."""

    step: str
    app_name: str
    function_name: str
    call_id: str
    args: tuple[Any, ...] = field(default=())
    # keyword arguments of the spawn: the decode limits the orchestrator held the step to, if any
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _InFlight:
    info: CallInfo
    call: FunctionCallHandle
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False


class ModalCompute(Compute):
    """``Compute`` against the functions of a deployed Modal app.

    ``timeout_seconds`` is how long to wait for one call (queueing included) before cancelling it
    and raising ``ComputeTimeoutError``; ``step_timeouts`` overrides it per step (keys of
    ``FUNCTION_NAMES``). It should be above the function's own Modal timeout, so that the remote
    timeout, which Modal reports precisely, is normally the one that fires.
    ``poll_seconds`` is the length of one wait slice: the longest a cancel request can go unseen.
    ``on_call`` is told the call id as soon as a call is spawned (logs, metadata);
    ``last_call_id`` and ``calls`` keep them too.
    """

    def __init__(
        self,
        app_name: str = DEFAULT_APP_NAME,
        timeout_seconds: float = 3600,
        *,
        step_timeouts: Mapping[str, float] | None = None,
        poll_seconds: float = 2.0,
        function_lookup: FunctionLookup | None = None,
        environment_name: str | None = None,
        on_call: Callable[[CallInfo], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        unknown = set(step_timeouts or {}) - set(FUNCTION_NAMES)
        if unknown:
            raise ValueError(
                f"step_timeouts names unknown steps {sorted(unknown)}; known: {sorted(FUNCTION_NAMES)}"
            )
        self.app_name = app_name
        self.timeout_seconds = float(timeout_seconds)
        self.step_timeouts = {k: float(v) for k, v in (step_timeouts or {}).items()}
        self.poll_seconds = float(poll_seconds)
        self.function_lookup = function_lookup or modal_function_lookup(environment_name)
        self.on_call = on_call
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight: _InFlight | None = None
        self._stopped = threading.Event()
        self.calls: list[CallInfo] = []
        self.last_call_id: str | None = None

    def __repr__(self) -> str:
        return f"ModalCompute(app_name={self.app_name!r}, timeout_seconds={self.timeout_seconds})"

    # Compute ------------------------------------------------------------------------------------
    # a remote step returns what its function in modal_app.py returns: the step's result, unpickled
    def full_frames(self, job: VideoJob) -> FullFramesResult:
        return cast(FullFramesResult, self._run("full_frames", job.tenant_id, job.video_id))

    def layout(self, job: VideoJob) -> LayoutResult:
        return cast(LayoutResult, self._run("layout", job.tenant_id, job.video_id))

    def cropped_frames(self, job: VideoJob, version: int) -> CroppedResult:
        return cast(CroppedResult, self._run("cropped_frames", job.tenant_id, job.video_id, int(version)))

    def captions(self, job: VideoJob, reocr_caption_ids: list[int] | None = None) -> CaptionsResult:
        ids = None if reocr_caption_ids is None else [int(i) for i in reocr_caption_ids]
        return cast(CaptionsResult, self._run("captions", job.tenant_id, job.video_id, ids))

    def cancel(self) -> None:
        """Cancel the call in flight, if any, and refuse new ones (the run is being stopped).
        Safe from any thread; the waiting thread then raises ``ComputeCancelledError``."""
        with self._lock:
            self._stopped.set()
            in_flight = self._in_flight
        if in_flight is not None:
            in_flight.cancel_requested.set()
            self._cancel_remote(in_flight)

    # internals ----------------------------------------------------------------------------------
    def timeout_for(self, step: str) -> float:
        return self.step_timeouts.get(step, self.timeout_seconds)

    def _run(self, step: str, *args: Any) -> object:
        function_name = FUNCTION_NAMES[step]
        where = f"{self.app_name}/{function_name}"
        if self._stopped.is_set():
            raise ComputeCancelledError(f"{step}: not started, this run was cancelled", step=step)
        # the tier's decode bound does not reach a container through this process's context: it
        # goes with the request (omitted when unbounded, so such a call is what it always was)
        limits = limits_request()
        kwargs: dict[str, Any] = {} if limits is None else {REQUEST_KEY: limits}
        try:
            call = self.function_lookup(self.app_name, function_name).spawn(*args, **kwargs)
        except Exception as exc:
            translated = self._translate(exc, step, where, call_id=None)
            if translated is exc:
                raise
            raise translated from exc
        info = CallInfo(step, self.app_name, function_name, str(call.object_id), args, kwargs)
        in_flight = _InFlight(info, call)
        with self._lock:
            self._in_flight = in_flight
            self.calls.append(info)
            self.last_call_id = info.call_id
            if self._stopped.is_set():
                # cancel() came while spawn was still returning: it could not see this call yet
                in_flight.cancel_requested.set()
        logger.info("%s: spawned Modal call %s of %s", step, info.call_id, where)
        if self.on_call is not None:
            try:
                self.on_call(info)
            except Exception:  # a broken log hook must not orphan a running remote call
                logger.exception("on_call hook failed for Modal call %s", info.call_id)
        try:
            if in_flight.cancel_requested.is_set():
                self._cancel_remote(in_flight)
            return self._wait(in_flight, where)
        finally:
            with self._lock:
                if self._in_flight is in_flight:
                    self._in_flight = None

    def _wait(self, in_flight: _InFlight, where: str) -> object:
        info = in_flight.info
        limit = self.timeout_for(info.step)
        deadline = self._clock() + limit
        try:
            while True:
                if in_flight.cancel_requested.is_set():
                    raise ComputeCancelledError(
                        f"{info.step}: Modal call {info.call_id} of {where} was cancelled",
                        step=info.step,
                        call_id=info.call_id,
                    )
                remaining = deadline - self._clock()
                if remaining <= 0:
                    self._cancel_remote(in_flight)
                    raise ComputeTimeoutError(
                        f"{info.step}: Modal call {info.call_id} of {where} did not finish within "
                        f"{limit:g} s; it was cancelled and will be retried",
                        step=info.step,
                        call_id=info.call_id,
                    )
                try:
                    return in_flight.call.get(timeout=min(self.poll_seconds, remaining))
                except mexc.TimeoutError as exc:
                    # the plain TimeoutError only says that this slice ended with the call still
                    # queued or running; its subclasses are real failures, translated below
                    if isinstance(exc, (mexc.FunctionTimeoutError, mexc.OutputExpiredError)):
                        raise
        except (ComputeCancelledError, ComputeTimeoutError):
            raise
        except Exception as exc:
            if in_flight.cancel_requested.is_set():
                # after a cancel Modal reports the call as failed; that is the cancel, not a bug
                raise ComputeCancelledError(
                    f"{info.step}: Modal call {info.call_id} of {where} was cancelled",
                    step=info.step,
                    call_id=info.call_id,
                ) from exc
            translated = self._translate(exc, info.step, where, info.call_id)
            if translated is exc:
                raise
            raise translated from exc
        except BaseException:
            # KeyboardInterrupt, DagsterExecutionInterruptedError, SystemExit: the run is being
            # stopped, so the remote call must stop too
            logger.warning("%s: interrupted; cancelling Modal call %s", info.step, info.call_id)
            self._cancel_remote(in_flight)
            raise

    def _cancel_remote(self, in_flight: _InFlight) -> None:
        with self._lock:
            if in_flight.cancelled:
                return
            in_flight.cancelled = True
        try:
            in_flight.call.cancel(terminate_containers=True)
            logger.info("%s: cancelled Modal call %s", in_flight.info.step, in_flight.info.call_id)
        except Exception:  # best effort: Modal's own timeout ends the call if this cannot
            logger.exception("could not cancel Modal call %s", in_flight.info.call_id)

    def _translate(self, exc: Exception, step: str, where: str, call_id: str | None) -> BaseException:
        """The project error for an exception from Modal or from the remote step."""
        call = f"Modal call {call_id} of {where}" if call_id else f"Modal function {where}"
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        if isinstance(exc, CaptionAssetsError):
            # the step's own verdict (BadVideoError, NotFoundError, StoreUnavailableError, ...),
            # unpickled from the container with its message: keep its kind
            exc.add_note(f"raised remotely in {call}")
            return exc
        if isinstance(exc, mexc.FunctionTimeoutError):
            return ComputeTimeoutError(
                f"{step}: {call} exceeded the function's timeout ({detail})", step=step, call_id=call_id
            )
        if isinstance(exc, mexc.OutputExpiredError):
            return ComputeTimeoutError(
                f"{step}: the result of {call} expired before it was read", step=step, call_id=call_id
            )
        if isinstance(exc, mexc.ResourceExhaustedError):
            return ComputeCapacityError(
                f"{step}: Modal has no capacity for {where} right now ({detail})", step=step, call_id=call_id
            )
        if isinstance(exc, (mexc.NotFoundError, mexc.AuthError, mexc.PermissionDeniedError)):
            return ComputeConfigurationError(
                f"{step}: {call} cannot be used ({detail}); is the app deployed "
                "(modal deploy caption_assets/app/modal_app.py) and are the Modal token and "
                "environment right?",
                step=step,
                call_id=call_id,
            )
        if isinstance(
            exc,
            (
                mexc.ConnectionError,
                mexc.ServiceError,
                mexc.InternalError,
                mexc.InternalFailure,
                mexc.DataLossError,
                mexc.ClientClosed,
                mexc.TimeoutError,
                StreamTerminatedError,
                OSError,  # includes ConnectionError and the built-in TimeoutError
            ),
        ) or (type(exc) is GRPCError):
            return ComputeUnavailableError(
                f"{step}: {call} failed for a transient reason ({detail})", step=step, call_id=call_id
            )
        return RemoteStepError(
            f"{step}: {call} failed: {detail}",
            step=step,
            call_id=call_id,
            remote_type=type(exc).__name__,
        )
