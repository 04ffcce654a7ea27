"""Run ``dagster dev`` as a child in its own process group and stop it cleanly.

``dagster dev`` started from a script ignores SIGINT unless it leads its own process group, so the
launcher forwards Ctrl-C / SIGTERM to that group and escalates if it does not stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from caption_assets.config import repo_root


def dagster_dev_command(port: int, workspace: Path | None = None) -> list[str]:
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
    ]


def stop_group(proc: subprocess.Popen[bytes], grace_seconds: float = 20.0) -> int:
    """SIGINT the group (dagster dev's own clean shutdown), then SIGTERM, then SIGKILL."""
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


def run_dagster_dev(port: int, on_started: Callable[[], None] | None = None) -> int:
    def forward(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Installed before the child starts: a shell's background job begins with SIGINT ignored, and
    # an ignored signal would be inherited by dagster dev; a Python handler resets to the default
    # in the child at exec.
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(dagster_dev_command(port), start_new_session=True)
        if on_started is not None:
            on_started()
        return proc.wait()
    except KeyboardInterrupt:
        return stop_group(proc) if proc is not None else 130
    finally:
        if proc is not None and proc.poll() is None:
            stop_group(proc)
        for s, handler in previous.items():
            signal.signal(s, handler)
