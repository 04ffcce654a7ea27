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


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _post_insert(port: int, secret: str, video_id: str) -> dict:
    import json
    import urllib.request

    body = json.dumps(
        {
            "type": "INSERT",
            "table": "videos",
            "schema": "captionacc",
            "record": {"id": video_id},
            "old_record": None,
        }
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/supabase/videos",
        data=body,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_dev_demo_processes_the_demo_video_and_stops_on_ctrl_c() -> None:
    # not under pytest's temp root: the embedded server runs as another user that must reach it
    workdir = Path(tempfile.mkdtemp(prefix="caption-assets-dev-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPTION_ASSETS_", "DAGSTER_"))}
    log_path = workdir / "dev.log"
    cli = str(Path(sys.executable).with_name("caption-assets"))
    webhook_port = _free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [cli, "dev", "--demo", "--port", str(_free_port()), "--webhook-port", str(webhook_port)],
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
        # the upload webhook serves beside Dagster, on the instance and catalog dev set up: the
        # demo video's INSERT delivered now is answered (already claimed by the sensor: ignored)
        secret = (workdir / ".caption_assets" / "webhook_secret").read_text().strip()
        assert secret not in text
        video_id = re.findall(r"demo (\S+): layout=", text)[-1]
        answer = _post_insert(webhook_port, secret, video_id)
        assert answer.get("ignored"), answer
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        # bounded by the stop's own escalation (dagster dev: 20 s SIGINT, 10 s SIGTERM, SIGKILL;
        # the webhook before it), not a timing claim
        assert proc.wait(timeout=120) in (0, 130, -signal.SIGINT)
        gone = time.monotonic() + 30
        while (alive := _alive(family)) and time.monotonic() < gone:
            time.sleep(0.2)
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
