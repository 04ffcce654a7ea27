"""The README's first command: `caption-assets dev --demo` starts Postgres and `dagster dev`, the
sensors carry the demo video through to captions, and Ctrl-C stops everything."""

import os
import re
import signal
import time

import psutil
import pytest

from caption_assets_tests.fixtures.devdemo import (
    OPERATIONS_LINE,
    alive,
    running_dev_demo,
    wait_for_demo,
    wait_for_line,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


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
    with running_dev_demo() as dev:
        proc = dev.proc
        outcome = wait_for_demo(dev)
        text = dev.log()
        assert proc.poll() is None, text[-3000:]
        assert outcome.state == ("done", "done", "done"), text[-3000:]
        # it ends with a summary a person can act on, then the operations group materialized once
        operations = wait_for_line(dev, OPERATIONS_LINE, deadline_seconds=600)
        text = dev.log()
        summary = r"demo done: [1-9]\d* captions \(text done\); SRT at \S+captions\.srt"
        assert re.search(summary, text), text[-3000:]
        link = r"its captions_job run: http://127\.0\.0\.1:\d+/runs/[0-9a-f-]{36}"
        assert re.search(link, text), text[-3000:]
        assert operations is not None and "(operations group): http" in operations, text[-3000:]
        # the daemon's sensor ticks stay out of the terminal (they are in the UI's sensor pages)
        assert "Checking for new runs for sensor" not in text
        # the upload webhook serves beside Dagster, on the instance and catalog dev set up: the
        # demo video's INSERT delivered now is answered (already claimed by the sensor: ignored)
        secret = (dev.data_dir / "webhook_secret").read_text().strip()
        assert secret not in text
        assert outcome.video_id is not None
        answer = _post_insert(dev.webhook_port, secret, outcome.video_id)
        assert answer.get("ignored"), answer
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        # bounded by the stop's own escalation (dagster dev: 20 s SIGINT, 10 s SIGTERM, SIGKILL;
        # the webhook before it), not a timing claim
        assert proc.wait(timeout=120) in (0, 130, -signal.SIGINT)
        gone = time.monotonic() + 30
        while (still := alive(family)) and time.monotonic() < gone:
            time.sleep(0.2)
        assert still == [], f"still running after Ctrl-C: {still}"
        pid_file = dev.data_dir / "postgres" / "postmaster.pid"
        assert not pid_file.exists(), "the embedded Postgres was left running"
