"""Stopping `caption-assets dev` leaves none of its processes behind, even when the code server
does not stop on the group's SIGINT and has children outside the group.

The fault is injected through a ``sitecustomize`` on PYTHONPATH, which every Python process of
``dagster dev`` imports at start; only the ``dagster api grpc`` code server acts on it. There it
starts what a real code server stuck on a dead catalog leaves: a non-daemon thread that never
returns (the interpreter then outlives its main thread's KeyboardInterrupt), a multiprocessing
``resource_tracker`` (ignores SIGINT and SIGTERM; lives while the stuck server holds its pipe) and
a child that called setsid (outside the process group the launcher signals). Before the fix these
were alive minutes after ``dev`` had exited 0."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from caption_assets.core.catalog.embedded import stop_embedded
from caption_assets_tests.fixtures.daemon import stop_processes

pytestmark = [pytest.mark.e2e, pytest.mark.recovery, pytest.mark.slow]

_SITECUSTOMIZE = """
import os, sys, threading, subprocess, json
try:
    _cmd = open("/proc/self/cmdline", "rb").read().split(b"\\0")
except OSError:
    _cmd = []
if b"api" in _cmd and b"grpc" in _cmd:
    def _stuck():
        threading.Event().wait()  # like a call retrying a catalog that is gone
    threading.Thread(target=_stuck, name="stuck-catalog-call", daemon=False).start()
    from multiprocessing import resource_tracker
    resource_tracker.ensure_running()
    _detached = subprocess.Popen(
        [sys.executable, "-c", "import threading; threading.Event().wait()"],
        start_new_session=True, stdin=subprocess.DEVNULL,
    )
    _path = os.environ["ORPHAN_PROBE_FILE"]
    with open(_path + ".tmp", "w") as f:
        json.dump({"server": os.getpid(), "tracker": resource_tracker._resource_tracker._pid,
                   "detached": _detached.pid}, f)
    os.replace(_path + ".tmp", _path)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ui_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def _alive(processes: list[psutil.Process]) -> list[str]:
    out = []
    for p in processes:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
    return out


def test_dev_stop_ends_code_server_tracker_and_detached_children() -> None:
    # not under pytest's temp root: the embedded server runs as another user that must reach it
    workdir = Path(tempfile.mkdtemp(prefix="caption-assets-orphans-"))
    workdir.chmod(0o755)
    inject = workdir / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    probe = workdir / "probe.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPTION_ASSETS_", "DAGSTER_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(inject), env.get("PYTHONPATH")]))
    env["ORPHAN_PROBE_FILE"] = str(probe)
    log_path = workdir / "dev.log"
    cli = str(Path(sys.executable).with_name("caption-assets"))
    family: list[psutil.Process] = []
    port = _free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [cli, "dev", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while not (probe.exists() and _ui_answers(port)):
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "dev never came up"
            time.sleep(0.5)
        injected = json.loads(probe.read_text())
        family = psutil.Process(proc.pid).children(recursive=True)
        pids = {p.pid for p in family}
        assert {injected["server"], injected["tracker"], injected["detached"]} <= pids
        assert os.getsid(injected["detached"]) != os.getpgid(proc.pid)  # really outside the group

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        returncode = proc.wait(timeout=120)
        assert returncode in (0, 130, -signal.SIGINT), log_path.read_text(errors="replace")[-3000:]
        deadline = time.monotonic() + 30
        while _alive(family) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _alive(family) == [], f"{len(_alive(family))} of {len(family)} left after dev stopped"
    finally:
        if proc.poll() is None:
            family = family or psutil.Process(proc.pid).children(recursive=True)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stop_processes(family, grace_seconds=5)
        stop_embedded(workdir / ".caption_assets")
        shutil.rmtree(workdir, ignore_errors=True)
