"""The README's first command: `caption-assets dev --demo` starts Postgres and `dagster dev`, the
sensors carry the demo video through to captions, and Ctrl-C stops everything."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from caption_assets_tests.fixtures.daemon import stop_processes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dev_demo_processes_the_demo_video_and_stops_on_ctrl_c() -> None:
    # not under pytest's temp root: the embedded server runs as another user that must reach it
    workdir = Path(tempfile.mkdtemp(prefix="caption-assets-dev-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPTION_ASSETS_", "DAGSTER_"))}
    log_path = workdir / "dev.log"
    cli = str(Path(sys.executable).with_name("caption-assets"))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [cli, "dev", "--demo", "--port", str(_free_port())],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        finished = None
        while time.monotonic() < deadline and proc.poll() is None:
            states = re.findall(
                r"demo \S+: layout=(\w+) boundaries=(\w+) text=(\w+)", log_path.read_text(errors="replace")
            )
            finished = states[-1] if states else None
            if finished and ("error" in finished or finished[2] == "done"):
                break
            time.sleep(2)
        text = log_path.read_text(errors="replace")
        assert proc.poll() is None, text[-3000:]
        assert finished == ("done", "done", "done"), text[-3000:]
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        assert proc.wait(timeout=60) in (0, 130, -signal.SIGINT)
        time.sleep(1)
        alive = [
            p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        assert alive == [], f"still running after Ctrl-C: {alive}"
        pid_file = workdir / ".caption_assets" / "postgres" / "postmaster.pid"
        assert not pid_file.exists(), "the embedded Postgres was left running"
    finally:
        if proc.poll() is None:
            # dagster dev leads its own process group: stop the whole family, not just the CLI
            family = psutil.Process(proc.pid).children(recursive=True)
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            stop_processes(family)
        shutil.rmtree(workdir, ignore_errors=True)
