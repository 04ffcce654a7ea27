"""Run ``dagster dev`` as a child in its own process group and stop it cleanly.

``dagster dev`` started from a script ignores SIGINT unless it leads its own process group, so the
launcher forwards Ctrl-C / SIGTERM to that group and escalates if it does not stop.

The group signal is not enough on its own: ``dagster dev`` may exit promptly while one of its
descendants does not (a code server stuck retrying a dead catalog, a multiprocessing
``resource_tracker``, which ignores SIGINT and SIGTERM by design, or anything that called setsid and
left the group). So the launcher also keeps a record of ``dagster dev``'s descendant tree, taken
every second while it runs and once more right before stopping, and ends whatever of that record
outlives the stop. Assumptions: only processes of our own user in that tree are touched (never by
name); a process that detached *and* had its parent exit within one sampling interval is not seen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from caption_assets.core.config import repo_root

# The daemon's INFO lines ("Checking for new runs for sensor", every sensor's skip reason, every
# few seconds) were most of the dev log; what they say is in the UI's sensor ticks. The runs' own
# logs are not affected (they go to the event log and the run workers' output).
DAGSTER_LOG_LEVEL = "warning"


def dagster_dev_command(
    port: int, workspace: Path | None = None, log_level: str = DAGSTER_LOG_LEVEL
) -> list[str]:
    dagster = Path(sys.executable).with_name("dagster")
    exe = [str(dagster)] if dagster.exists() else [sys.executable, "-m", "dagster"]
    return [
        *exe,
        "dev",
        "-w",
        str(workspace or repo_root() / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--log-level",
        log_level,
    ]


_SAMPLE_SECONDS = 1.0


class ProcessFamily:
    """The descendants of one process seen so far, kept by identity (pid and start time) so that a
    pid reused by an unrelated process after ours exited is never signalled."""

    def __init__(self, root_pid: int) -> None:
        self._root_pid = root_pid
        self._uid = os.getuid()
        self._seen: dict[tuple[int, float], psutil.Process] = {}
        self._lock = threading.Lock()

    def sample(self) -> None:
        """Add the root's current descendants to the record (a vanished root adds nothing)."""
        try:
            children = psutil.Process(self._root_pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                if child.uids().real != self._uid:
                    continue  # e.g. a database server run as its own system user
                key = (child.pid, child.create_time())
            except psutil.Error:
                continue
            with self._lock:
                self._seen.setdefault(key, child)

    def watch(self, stop: threading.Event, interval_seconds: float = _SAMPLE_SECONDS) -> None:
        """Sample until ``stop`` is set: a process that leaves the tree later is still recorded."""
        while True:
            self.sample()
            if stop.wait(interval_seconds):
                return

    def survivors(self) -> list[psutil.Process]:
        with self._lock:
            recorded = list(self._seen.values())
        alive = []
        for p in recorded:
            try:
                # is_running() compares the start time too; a zombie is already dead, only unreaped
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.Error:
                continue
        return alive

    def end_survivors(self, grace_seconds: float = 5.0) -> list[int]:
        """SIGTERM the recorded processes still alive, SIGKILL those that outlast ``grace_seconds``;
        return the pids that were still alive."""
        alive = self.survivors()
        for p in alive:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, lingering = psutil.wait_procs(alive, timeout=grace_seconds)
        for p in lingering:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(lingering, timeout=5.0)
        return [p.pid for p in alive]


def stop_group(
    proc: subprocess.Popen[bytes],
    grace_seconds: float = 20.0,
    family: ProcessFamily | None = None,
) -> int:
    """SIGINT the group (dagster dev's own clean shutdown), then SIGTERM, then SIGKILL; then end
    any recorded descendant of ``proc`` that outlived it."""
    if family is None:
        family = ProcessFamily(proc.pid)
    family.sample()  # the latest children, before the signal makes them hard to find
    returncode = _signal_group(proc, grace_seconds)
    family.end_survivors()
    return returncode


def _signal_group(proc: subprocess.Popen[bytes], grace_seconds: float) -> int:
    for sig, wait in ((signal.SIGINT, grace_seconds), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


# how long `dev` waits for the UI to answer before saying it does not
UI_READY_DEADLINE_SECONDS = 300.0


def ui_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def answers(url: str, timeout_seconds: float = 2.0) -> bool:
    """Whether the Dagster webserver at ``url`` answers ``/server_info``."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=timeout_seconds):
            return True
    except (urllib.error.URLError, OSError):
        return False


def wait_until_answers(
    url: str,
    deadline_seconds: float,
    alive: Callable[[], bool],
    stop: threading.Event,
    interval_seconds: float = 0.5,
) -> bool:
    """Poll ``url`` until it answers (True), or the deadline passes, ``alive()`` turns false or
    ``stop`` is set (False)."""
    import time

    deadline = time.monotonic() + deadline_seconds
    while not stop.is_set() and alive() and time.monotonic() < deadline:
        if answers(url):
            return True
        stop.wait(interval_seconds)
    return False


def run_dagster_dev(
    port: int,
    on_started: Callable[[], None] | None = None,
    on_ready: Callable[[bool], None] | None = None,
    ready_deadline_seconds: float = UI_READY_DEADLINE_SECONDS,
    companions: Sequence[Sequence[str]] = (),
    log_level: str = DAGSTER_LOG_LEVEL,
) -> int:
    """``dagster dev`` on 127.0.0.1:``port`` until it exits or Ctrl-C / SIGTERM stops it.
    ``on_started`` runs once the child exists; ``on_ready(True)`` once the UI answers
    ``/server_info``, ``on_ready(False)`` if it does not within ``ready_deadline_seconds``.
    ``companions`` (the upload webhook) are commands started beside it, each leading its own
    process group, and stopped with it whichever ends first. ``log_level`` is the Dagster
    services' (the daemon's sensor ticks show at ``info``)."""

    def forward(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Installed before the child starts: a shell's background job begins with SIGINT ignored, and
    # an ignored signal would be inherited by dagster dev; a Python handler resets to the default
    # in the child at exec.
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    proc: subprocess.Popen[bytes] | None = None
    family: ProcessFamily | None = None
    sampling = threading.Event()
    beside: list[subprocess.Popen[bytes]] = []
    try:
        proc = subprocess.Popen(dagster_dev_command(port, log_level=log_level), start_new_session=True)
        beside += [subprocess.Popen(list(command), start_new_session=True) for command in companions]
        family = ProcessFamily(proc.pid)
        threading.Thread(
            target=family.watch, args=(sampling,), name="dagster-dev-family", daemon=True
        ).start()
        if on_started is not None:
            on_started()
        if on_ready is not None:
            child = proc

            def report_ready() -> None:
                ready = wait_until_answers(
                    ui_url(port), ready_deadline_seconds, lambda: child.poll() is None, sampling
                )
                if not sampling.is_set() and child.poll() is None:
                    on_ready(ready)

            threading.Thread(target=report_ready, name="dagster-dev-ready", daemon=True).start()
        return proc.wait()
    except KeyboardInterrupt:
        # a second Ctrl-C while stopping must not interrupt the stop with a traceback: the stop
        # escalates to SIGTERM and SIGKILL by itself
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        sampling.set()
        # the companions first: they stop in a moment, while dagster dev's own shutdown may take
        # its whole grace period
        for companion in beside:
            stop_group(companion, grace_seconds=5.0)
        return stop_group(proc, family=family) if proc is not None else 130
    finally:
        sampling.set()
        for companion in beside:
            stop_group(companion, grace_seconds=5.0)
        if proc is not None:
            if proc.poll() is None:
                stop_group(proc, family=family)
            elif family is not None:
                # dagster dev exited on its own (or was stopped above): its leftovers go too
                family.end_survivors()
        for s, handler in previous.items():
            signal.signal(s, handler)
