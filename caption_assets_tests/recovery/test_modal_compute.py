"""ModalCompute against a stand-in for Modal's handles (CI never reaches Modal).

The stand-in reproduces what ``modal.Function.spawn`` / ``modal.FunctionCall`` do, as read from the
installed ``modal`` package: ``spawn`` returns at once with an ``fc-...`` id while the body runs
elsewhere (a thread standing in for the container); ``get(timeout=t)`` raises the plain
``modal.exception.TimeoutError`` when the call is still running after ``t``, ``FunctionTimeoutError``
once the body ran past the function's own timeout, and re-raises the body's exception after a
pickle round trip (Modal ships remote exceptions pickled); ``cancel()`` raises ``InputCancellation``
in the body and the call then reports ``RemoteError`` (a TERMINATED result). Bodies are the real
Modal functions run with ``.local()`` unless a test scripts a failure.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import modal.exception as mexc
import pytest

import caption_assets.app.modal_app as modal_app
from caption_assets.core.compute.base import FullFramesResult, VideoJob
from caption_assets.core.compute.errors import (
    ComputeCancelledError,
    ComputeCapacityError,
    ComputeConfigurationError,
    ComputeTimeoutError,
    ComputeUnavailableError,
    RemoteStepError,
)
from caption_assets.core.compute.modal import FUNCTION_NAMES, CallInfo, ModalCompute
from caption_assets.core.errors import BadVideoError, PermanentError, TransientError
from caption_assets.core.keys import VideoKeys
from caption_assets.core.store.base import ArtifactStore
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.resources.compute import ComputeResource

pytestmark = pytest.mark.recovery

JOB = VideoJob("6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5", "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3")
FRAMES = FullFramesResult(
    width=64, height=36, fps=30.0, duration_seconds=1.0, total_frames=30, frame_indices=[0]
)

# a scripted body: gets the call's cancel event and the spawn arguments
Body = Callable[[threading.Event, tuple[Any, ...]], Any]


# --- the stand-in ---------------------------------------------------------------------------------
class StandInCall:
    def __init__(
        self,
        body: Body,
        args: tuple[Any, ...],
        remote_timeout: float,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.object_id = f"fc-{uuid.uuid4().hex[:26]}"
        self.args = args
        self.kwargs = dict(kwargs or {})
        self.cancel_requests: list[bool] = []
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._outcome: tuple[str, bytes] | None = None
        self._lock = threading.Lock()
        self.get_timeouts: list[float | None] = []
        runner = threading.Thread(target=self._run, args=(body,), daemon=True)
        container = threading.Thread(target=self._container, args=(runner, remote_timeout), daemon=True)
        container.start()

    def _run(self, body: Body) -> None:
        try:
            outcome = ("ok", pickle.dumps(body(self._cancel, self.args)))
        except mexc.InputCancellation:
            outcome = ("terminated", b"")
        except BaseException as exc:  # the container reports whatever the user code raised
            outcome = ("error", pickle.dumps(exc))
        self._finish(outcome)

    def _container(self, runner: threading.Thread, remote_timeout: float) -> None:
        runner.start()
        runner.join(remote_timeout)
        if runner.is_alive():  # Modal kills the input at the function's timeout
            self._finish(("timeout", b""))
            self._cancel.set()

    def _finish(self, outcome: tuple[str, bytes]) -> None:
        with self._lock:
            if self._outcome is None:
                self._outcome = outcome
                self._done.set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def get(self, timeout: float | None = None) -> Any:
        self.get_timeouts.append(timeout)
        if not self._done.wait(timeout):
            raise mexc.TimeoutError()
        assert self._outcome is not None
        kind, data = self._outcome
        if kind == "ok":
            return pickle.loads(data)
        if kind == "timeout":
            raise mexc.FunctionTimeoutError("Function timed out")
        if kind == "terminated":
            raise mexc.RemoteError("Function call was terminated")
        raise pickle.loads(data)

    def cancel(self, terminate_containers: bool = False) -> None:
        self.cancel_requests.append(terminate_containers)
        self._cancel.set()  # the container raises InputCancellation into the body
        self._finish(("terminated", b""))


class StandInFunction:
    def __init__(self, modal: StandInModal, name: str) -> None:
        self.modal = modal
        self.name = name

    def spawn(self, *args: Any, **kwargs: Any) -> StandInCall:
        script = self.modal.scripts[self.name]
        body, remote_timeout = (
            script.popleft() if script else (self.modal.default_body(self.name, kwargs), None)
        )
        if isinstance(body, BaseException):  # a failure of spawn itself, before any call exists
            self.modal.spawn_failures[self.name] += 1
            raise body
        call = StandInCall(body, args, remote_timeout or self.modal.remote_timeout, kwargs)
        self.modal.calls[self.name].append(call)
        return call


class StandInModal:
    """``function_lookup`` for ModalCompute. ``script(name, *bodies)`` queues what the next spawns
    of ``name`` do; an exception instance makes ``spawn`` itself raise."""

    def __init__(self, remote_timeout: float = 60.0) -> None:
        self.remote_timeout = remote_timeout
        self.scripts: dict[str, deque[tuple[Any, float | None]]] = defaultdict(deque)
        self.calls: dict[str, list[StandInCall]] = defaultdict(list)
        self.spawn_failures: dict[str, int] = defaultdict(int)
        self.apps: list[str] = []

    def lookup(self, app_name: str, function_name: str) -> StandInFunction:
        self.apps.append(app_name)
        return StandInFunction(self, function_name)

    def script(self, name: str, *bodies: Any, remote_timeout: float | None = None) -> None:
        """Queue bodies; ``remote_timeout`` is the function's own timeout for these calls."""
        self.scripts[name].extend((body, remote_timeout) for body in bodies)

    def default_body(self, name: str, kwargs: dict[str, Any] | None = None) -> Body:
        """The app's real function body, given the spawn's keyword arguments too (scripted bodies
        ignore those)."""
        function = getattr(modal_app, name)
        return lambda _cancel, args: function.local(*args, **(kwargs or {}))


def returns(value: Any) -> Body:
    return lambda _cancel, _args: value


def raises(exc: BaseException) -> Body:
    def body(_cancel: threading.Event, _args: tuple[Any, ...]) -> Any:
        raise exc

    return body


def runs_until_cancelled(started: threading.Event | None = None) -> Body:
    def body(cancel: threading.Event, _args: tuple[Any, ...]) -> Any:
        if started is not None:
            started.set()
        cancel.wait(60)
        raise mexc.InputCancellation("Input was cancelled by user")

    return body


def sleeps(seconds: float, value: Any) -> Body:
    def body(cancel: threading.Event, _args: tuple[Any, ...]) -> Any:
        if cancel.wait(seconds):
            raise mexc.InputCancellation("Input was cancelled by user")
        return value

    return body


def compute(stand_in: StandInModal, **kw: Any) -> ModalCompute:
    kw.setdefault("poll_seconds", 0.05)
    kw.setdefault("timeout_seconds", 30)
    return ModalCompute("caption-assets-test", function_lookup=stand_in.lookup, **kw)


# --- ModalCompute on its own ------------------------------------------------------------------------
def test_spawn_wait_and_call_id_reported() -> None:
    stand_in = StandInModal()
    stand_in.script("full_frames", sleeps(0.3, FRAMES))
    seen: list[CallInfo] = []
    c = compute(stand_in, on_call=seen.append)

    assert c.full_frames(JOB) == FRAMES

    call = stand_in.calls["full_frames"][0]
    assert call.args == (JOB.tenant_id, JOB.video_id)
    assert c.last_call_id == call.object_id and c.last_call_id.startswith("fc-")
    assert seen == [CallInfo("full_frames", "caption-assets-test", "full_frames", call.object_id, call.args)]
    assert stand_in.apps == ["caption-assets-test"]
    # it waited in short slices (several polls), not one long blocking get
    assert len(call.get_timeouts) > 2 and all(t is not None and t <= 0.05 for t in call.get_timeouts)


def test_arguments_of_every_step_reach_the_function() -> None:
    stand_in = StandInModal()
    for name in FUNCTION_NAMES.values():
        stand_in.script(name, returns(name), returns(name))
    c = compute(stand_in)
    assert c.layout(JOB) == "layout"
    assert c.cropped_frames(JOB, 3) == "cropped_frames"
    assert c.captions(JOB, [4, 7]) == "captions"
    assert c.captions(JOB) == "captions"
    assert stand_in.calls["layout"][0].args == (JOB.tenant_id, JOB.video_id)
    assert stand_in.calls["cropped_frames"][0].args == (JOB.tenant_id, JOB.video_id, 3)
    assert [call.args for call in stand_in.calls["captions"]] == [
        (JOB.tenant_id, JOB.video_id, [4, 7]),
        (JOB.tenant_id, JOB.video_id, None),
    ]


def test_the_tier_decode_limits_travel_with_every_request() -> None:
    """The bound ``enforcing`` holds an in-process step to is sent as a plain mapping; a call made
    outside a bound (a person's own machine) carries nothing extra."""
    from caption_assets.core.policy.admission import TierLimits, enforcing, on_own_machine

    stand_in = StandInModal()
    for name in FUNCTION_NAMES.values():
        stand_in.script(name, *(returns(name) for _ in range(3)))
    c = compute(stand_in)
    limits = {"free": TierLimits(600, 1024**3, 1920, 1080)}
    with enforcing("free", limits):
        c.full_frames(JOB), c.layout(JOB), c.cropped_frames(JOB, 2), c.captions(JOB, [5])
    c.full_frames(JOB)
    with on_own_machine(), enforcing("free", limits):
        c.full_frames(JOB)

    expected = {
        "label": "the free limit",
        "max_seconds": 600,
        "max_long_side": 1920,
        "max_short_side": 1080,
        "duration_text": "10 min",
    }
    for name in FUNCTION_NAMES.values():
        assert stand_in.calls[name][0].kwargs == {"decode_limits": expected}, name
    assert [call.kwargs for call in stand_in.calls["full_frames"][1:]] == [{}, {}]
    assert [info.kwargs for info in c.calls] == [{"decode_limits": expected}] * 4 + [{}, {}]
    assert stand_in.calls["captions"][0].args == (JOB.tenant_id, JOB.video_id, [5])


def test_remote_timeout_is_retryable_and_the_retry_succeeds() -> None:
    stand_in = StandInModal(remote_timeout=0.2)
    stand_in.script("full_frames", runs_until_cancelled(), returns(FRAMES))
    c = compute(stand_in)

    with pytest.raises(ComputeTimeoutError) as failed:
        c.full_frames(JOB)
    assert isinstance(failed.value, TransientError)
    first = stand_in.calls["full_frames"][0]
    assert failed.value.call_id == first.object_id and first.object_id in str(failed.value)
    assert "timeout" in str(failed.value)

    assert c.full_frames(JOB) == FRAMES  # what the RetryPolicy's next attempt does
    assert [call.object_id for call in stand_in.calls["full_frames"]] == [info.call_id for info in c.calls]


def test_wait_limit_cancels_the_remote_call_then_raises_retryable() -> None:
    stand_in = StandInModal(remote_timeout=60)
    stand_in.script("captions", runs_until_cancelled())
    # slices of 0.2 s: the last one must be cut to what is left of the 0.3 s
    c = compute(stand_in, timeout_seconds=30, step_timeouts={"captions": 0.3}, poll_seconds=0.2)

    with pytest.raises(ComputeTimeoutError, match="did not finish within 0.3 s"):
        c.captions(JOB)
    call = stand_in.calls["captions"][0]
    # what bounds the wait: the slices asked of Modal add up to the step's limit, not the 30 s
    assert call.get_timeouts and sum(call.get_timeouts) <= 0.3 + 1e-6
    assert call.cancel_requests == [True]  # cancelled, containers terminated
    assert call.finished


@pytest.mark.parametrize(
    "failure",
    [
        mexc.ResourceExhaustedError("no GPU of type L4 available in the requested region"),
        mexc.ResourceExhaustedError("rate limit exceeded"),
    ],
)
def test_no_capacity_at_spawn_is_retryable_and_the_retry_succeeds(failure: Exception) -> None:
    stand_in = StandInModal()
    stand_in.script("layout", failure, returns("layout-result"))
    c = compute(stand_in)

    with pytest.raises(ComputeCapacityError) as failed:
        c.layout(JOB)
    assert isinstance(failed.value, TransientError)
    assert str(failure) in str(failed.value)
    assert failed.value.call_id is None and c.last_call_id is None  # no call was made
    assert c.layout(JOB) == "layout-result"


@pytest.mark.parametrize(
    "failure",
    [
        mexc.ConnectionError("could not connect to api.modal.com"),
        mexc.ServiceError("UNAVAILABLE"),
        mexc.InternalFailure("worker lost"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_connection_and_service_errors_are_retryable(failure: Exception) -> None:
    stand_in = StandInModal()
    stand_in.script("full_frames", failure)
    with pytest.raises(ComputeUnavailableError) as failed:
        compute(stand_in).full_frames(JOB)
    assert isinstance(failed.value, TransientError)


def test_modal_failure_while_waiting_is_retryable() -> None:
    stand_in = StandInModal()
    stand_in.script("full_frames", raises(mexc.InternalFailure("container crashed: worker preempted")))
    with pytest.raises(ComputeUnavailableError, match="worker preempted") as failed:
        compute(stand_in).full_frames(JOB)
    assert failed.value.call_id == stand_in.calls["full_frames"][0].object_id


def test_remote_bad_video_stays_permanent_with_its_message() -> None:
    stand_in = StandInModal()
    message = "video 0a1b2c3d: no video stream in holiday.mp4"
    stand_in.script("full_frames", raises(BadVideoError(message)))
    with pytest.raises(BadVideoError) as failed:
        compute(stand_in).full_frames(JOB)
    assert str(failed.value) == message
    assert isinstance(failed.value, PermanentError) and not isinstance(failed.value, TransientError)
    call_id = stand_in.calls["full_frames"][0].object_id
    assert any(call_id in note for note in failed.value.__notes__)
    assert len(stand_in.calls["full_frames"]) == 1  # ModalCompute itself never retries


def test_remote_code_error_is_permanent_and_carries_the_remote_message() -> None:
    stand_in = StandInModal()
    stand_in.script("layout", raises(ValueError("zero-size array to reduction operation maximum")))
    with pytest.raises(RemoteStepError) as failed:
        compute(stand_in).layout(JOB)
    err = failed.value
    assert isinstance(err, PermanentError) and not isinstance(err, TransientError)
    assert err.remote_type == "ValueError"
    assert "zero-size array to reduction operation maximum" in str(err)
    assert err.call_id == stand_in.calls["layout"][0].object_id and err.call_id in str(err)


def test_app_not_deployed_is_a_configuration_error() -> None:
    stand_in = StandInModal()
    stand_in.script(
        "full_frames", mexc.NotFoundError("App 'caption-assets-test' not found in environment 'main'")
    )
    with pytest.raises(ComputeConfigurationError, match="modal deploy") as failed:
        compute(stand_in).full_frames(JOB)
    assert isinstance(failed.value, PermanentError)


def test_cancel_from_another_thread_cancels_the_remote_call() -> None:
    stand_in = StandInModal()
    started = threading.Event()
    stand_in.script("cropped_frames", runs_until_cancelled(started))
    c = compute(stand_in)
    threading.Thread(target=lambda: (started.wait(10), c.cancel()), daemon=True).start()

    with pytest.raises(ComputeCancelledError) as failed:
        c.cropped_frames(JOB, 1)
    call = stand_in.calls["cropped_frames"][0]
    assert call.cancel_requests == [True]
    assert failed.value.call_id == call.object_id
    assert not isinstance(failed.value, TransientError)
    # the run is stopped: no new remote work from this instance
    with pytest.raises(ComputeCancelledError, match="not started"):
        c.captions(JOB)
    assert call.cancel_requests == [True] and "captions" not in stand_in.calls


def test_cancel_while_spawn_is_returning_still_cancels_the_call() -> None:
    stand_in = StandInModal()
    stand_in.script("layout", runs_until_cancelled())
    c = compute(stand_in)
    original_spawn = StandInFunction.spawn

    def slow_spawn(self: StandInFunction, *args: Any) -> StandInCall:
        call = original_spawn(self, *args)
        c.cancel()  # the termination lands before ModalCompute has registered the call
        return call

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(StandInFunction, "spawn", slow_spawn)
        with pytest.raises(ComputeCancelledError):
            c.layout(JOB)
    assert stand_in.calls["layout"][0].cancel_requests == [True]


def test_termination_signal_during_the_wait_cancels_the_remote_call() -> None:
    """What Dagster does when a run is terminated: its signal handler raises
    DagsterExecutionInterruptedError in the thread that waits for the call."""
    stand_in = StandInModal()
    started = threading.Event()
    stand_in.script("captions", runs_until_cancelled(started))
    c = compute(stand_in, poll_seconds=0.5)

    def interrupt(_signum: int, _frame: Any) -> None:
        raise dg.DagsterExecutionInterruptedError()

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:

        def send() -> None:
            started.wait(10)
            # once the main thread polls the call it is inside the wait the signal must stop
            deadline = time.monotonic() + 10
            while not (stand_in.calls["captions"] and stand_in.calls["captions"][0].get_timeouts):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)  # polling a flag with a deadline
            os.kill(os.getpid(), signal.SIGUSR1)

        threading.Thread(target=send, daemon=True).start()
        with pytest.raises(dg.DagsterExecutionInterruptedError):
            c.captions(JOB, [2])
    finally:
        signal.signal(signal.SIGUSR1, previous)

    call = stand_in.calls["captions"][0]
    assert call.cancel_requests == [True]
    assert call.finished


def test_keyboard_interrupt_during_the_wait_cancels_the_remote_call() -> None:
    stand_in = StandInModal()
    stand_in.script("layout", runs_until_cancelled())
    c = compute(stand_in)
    call_holder: list[StandInCall] = []
    original_spawn = StandInFunction.spawn

    def spawn_then_interrupt(self: StandInFunction, *args: Any) -> StandInCall:
        call = original_spawn(self, *args)
        call_holder.append(call)
        real_get = call.get
        polls = iter(range(10**6))

        def get(timeout: float | None = None) -> Any:
            if next(polls) == 3:  # Ctrl-C arrives while Modal's client is waiting
                raise KeyboardInterrupt
            return real_get(timeout)

        call.get = get  # type: ignore[method-assign]
        return call

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(StandInFunction, "spawn", spawn_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            c.layout(JOB)
    assert call_holder[0].cancel_requests == [True]


def test_a_broken_on_call_hook_does_not_orphan_the_call() -> None:
    stand_in = StandInModal()
    stand_in.script("layout", returns("ok"))

    def broken(_info: CallInfo) -> None:
        raise RuntimeError("log sink down")

    assert compute(stand_in, on_call=broken).layout(JOB) == "ok"


def test_compute_resource_builds_modal_compute_from_its_fields(tmp_path: Path) -> None:
    from caption_assets.core.store.local import LocalStore

    resource = ComputeResource(
        backend="modal",
        modal_app="ca-prod",
        timeout_seconds=900,
        step_timeout_seconds={"captions": 5400},
        poll_seconds=1.5,
    )
    built = resource.get(LocalStore(tmp_path))
    assert isinstance(built, ModalCompute)
    assert (
        built.app_name,
        built.timeout_for("layout"),
        built.timeout_for("captions"),
        built.poll_seconds,
    ) == (
        "ca-prod",
        900,
        5400,
        1.5,
    )
    with pytest.raises(ValueError, match="unknown steps"):
        ModalCompute("x", step_timeouts={"ocr": 5})


# --- through Dagster: the assets' RetryPolicy and the catalog statuses ------------------------------
_STAND_IN: StandInModal | None = None


class StandInComputeResource(ComputeResource):
    """The production resource with Modal's handles replaced by the stand-in."""

    backend: str = "modal"

    def get(self, store: ArtifactStore, on_call: Any = None) -> ModalCompute:
        assert _STAND_IN is not None
        compute = super().get(store, on_call)
        assert isinstance(compute, ModalCompute)
        compute.function_lookup = _STAND_IN.lookup  # the one thing not taken from config
        return compute


@pytest.fixture
def modal_platform(
    platform: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, StandInModal]]:
    """The platform fixture with compute on the stand-in; the stand-in's bodies are the real Modal
    functions, configured (as in a container) through env vars to use the platform's store."""
    global _STAND_IN
    assert platform.artifacts == tmp_path / "artifacts"
    monkeypatch.setenv("CAPTION_ASSETS_STORE", "local")
    monkeypatch.setenv("CAPTION_ASSETS_DATA_DIR", str(tmp_path))
    _STAND_IN = StandInModal()
    platform.resources["compute"] = StandInComputeResource(poll_seconds=0.05, timeout_seconds=120)
    try:
        yield platform, _STAND_IN
    finally:
        _STAND_IN = None


def _events(result: dg.ExecuteInProcessResult, kind: str) -> list[Any]:
    return [e for e in result.all_events if e.event_type_value == kind]


def _log_messages(platform: Any, run_id: str) -> list[str]:
    return [r.user_message for r in platform.instance.all_logs(run_id)]


@pytest.mark.slow
def test_dagster_retries_a_modal_timeout_and_no_capacity_then_succeeds(
    modal_platform: Any, rendered: Any
) -> None:
    platform, stand_in = modal_platform
    video_id = platform.upload(rendered("short_bottom").path)
    stand_in.script("full_frames", runs_until_cancelled(), remote_timeout=0.3)
    stand_in.script("layout", mexc.ResourceExhaustedError("no capacity"))

    result = platform.materialize([full_frames, layout_db], video_id)

    assert result.success
    retried = [e.step_key for e in _events(result, "STEP_UP_FOR_RETRY")]
    assert sorted(retried) == ["full_frames", "layout_db"]
    assert len(stand_in.calls["full_frames"]) == 2 and stand_in.spawn_failures["layout"] == 1
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "done" and row.layout_error_details is None
    # the call ids are in the run's logs
    logs = "\n".join(_log_messages(platform, result.run_id))
    for call in stand_in.calls["full_frames"] + stand_in.calls["layout"]:
        assert call.object_id in logs
    # and the successful call of each step is in its materialization's metadata
    for step, asset in (("full_frames", full_frames), ("layout", layout_db)):
        materialization = result.asset_materializations_for_node(asset.op.name)[0]
        assert materialization.metadata["compute_call_id"].value == stand_in.calls[step][-1].object_id


@pytest.mark.slow
def test_dagster_does_not_retry_a_permanent_remote_error(modal_platform: Any, not_a_video: Path) -> None:
    platform, stand_in = modal_platform
    video_id = platform.upload(not_a_video)

    result = platform.materialize([full_frames, layout_db], video_id)  # the real body raises

    assert not result.success
    assert _events(result, "STEP_UP_FOR_RETRY") == []
    assert len(stand_in.calls["full_frames"]) == 1
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert "BadVideoError" in row.layout_error_details["error"]
    assert row.layout_error_details["run_id"] == result.run_id


@pytest.mark.slow
def test_partial_failure_leaves_error_and_a_retry_completes(modal_platform: Any, rendered: Any) -> None:
    """Frames written, then layout OCR fails for good: the video is in error with the remote
    message; a retry run (a person or the UI) completes it from the stored frames."""
    platform, stand_in = modal_platform
    video_id = platform.upload(rendered("short_bottom").path)
    stand_in.script("layout", raises(RuntimeError("onnxruntime: failed to create session")))

    failed = platform.materialize([full_frames, layout_db], video_id)

    assert not failed.success
    assert _events(failed, "STEP_UP_FOR_RETRY") == []
    row = platform.catalog.get_video(video_id)
    keys = VideoKeys(row.tenant_id, video_id)
    assert row.layout_status == "error"
    assert "onnxruntime: failed to create session" in row.layout_error_details["message"]
    assert stand_in.calls["layout"][0].object_id in row.layout_error_details["message"]
    frames = list(platform.store.list(keys.full_frames_prefix()))
    assert frames and not platform.store.exists(keys.layout_db())

    retry = platform.materialize([layout_db], video_id)

    assert retry.success
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "done" and row.layout_error_details is None
    assert platform.store.exists(keys.layout_db())
    assert list(platform.store.list(keys.full_frames_prefix())) == frames
    assert len(stand_in.calls["full_frames"]) == 1  # the frames were not made again


@pytest.mark.slow
def test_dagster_full_frames_on_modal_is_held_to_the_tier_limits_in_the_container(
    modal_platform: Any, rendered: Any
) -> None:
    """A 5 s upload on a tier limited to 2 s: the remote function itself refuses it from the
    request's limits, before storing a frame (not the orchestrator after the container decoded
    the whole file)."""
    from caption_assets.core.errors import AdmissionError

    platform, stand_in = modal_platform
    video_id = platform.upload(rendered("short_bottom").path, tier="free")
    two_seconds = {
        "free": {"max_duration_seconds": 2, "max_size_bytes": 1024**3, "max_width": 4096, "max_height": 4096}
    }

    result = dg.materialize(
        [full_frames],
        partition_key=video_id,
        instance=platform.instance,
        resources=platform.with_settings(tier_limits=two_seconds),
        raise_on_error=False,
    )

    assert not result.success
    (call,) = stand_in.calls["full_frames"]
    assert call.kwargs["decode_limits"]["max_seconds"] == 2
    with pytest.raises(AdmissionError, match="exceeds the free limit of 2 s"):
        call.get(timeout=0)  # the container's own verdict
    row = platform.catalog.get_video(video_id)
    assert row.layout_status == "error"
    assert "exceeds the free limit of 2 s" in row.layout_error_details["message"]
    keys = VideoKeys(row.tenant_id, video_id)
    assert list(platform.store.list(keys.full_frames_prefix())) == []
