"""`caption-assets process` stopped by a person (Ctrl-C, SIGTERM) or killed: the run ends, the
video is settled ``error`` with the cause, its locks are free and no copy of the video is left in
a temporary directory; after a SIGKILL the next `process` repairs what the dead one left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from caption_assets.app.platform import DAGSTER_PG_URL_ENV
from caption_assets.core.catalog.embedded import stop_embedded
from caption_assets_tests.e2e.test_cli import CLI, cli_env  # noqa: F401  (fixture)

pytestmark = [pytest.mark.recovery, pytest.mark.slow]


@pytest.fixture
def env(cli_env, tmp_path) -> dict[str, str]:  # noqa: F811
    # a private system temp dir: nothing of `process` may stay in it
    (tmp_path / "systmp").mkdir()
    return {**cli_env, "TMPDIR": str(tmp_path / "systmp")}


@contextmanager
def _process(env: dict[str, str], video: Path, out: Path, log: Path) -> Iterator[subprocess.Popen]:
    with log.open("w") as err:
        proc = subprocess.Popen(
            [CLI, "process", str(video), "--out", str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _until(
    predicate: Callable[[], object], proc: subprocess.Popen, log: Path, what: str, timeout: float = 180
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert proc.poll() is None, f"process exited before {what}: {log.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-3000:]}")


def _step_started(env: dict[str, str], step: str) -> Callable[[], str | None]:
    """The run id once ``step`` of a started run has begun, read from the Dagster instance."""

    def check() -> str | None:
        with psycopg.connect(env[DAGSTER_PG_URL_ENV].replace("+psycopg2", "")) as conn:
            try:
                row = conn.execute(
                    "select e.run_id from event_logs e join runs r on r.run_id = e.run_id "
                    "where r.status = 'STARTED' and e.dagster_event_type = 'STEP_START' "
                    "and e.step_key = %s",
                    (step,),
                ).fetchone()
            except psycopg.errors.UndefinedTable:  # the process has not created its storage yet
                return None
        return row[0] if row else None

    return check


def _run_status(env: dict[str, str], run_id: str) -> str:
    with psycopg.connect(env[DAGSTER_PG_URL_ENV].replace("+psycopg2", "")) as conn:
        return conn.execute("select status from runs where run_id = %s", (run_id,)).fetchone()[0]


def _videos(catalog_dsn: str) -> list[tuple]:
    with psycopg.connect(catalog_dsn) as conn:
        return conn.execute(
            "select id::text, layout_status, boundaries_status, layout_error_details, "
            "boundaries_error_details from captionacc.videos order by uploaded_at"
        ).fetchall()


def _locks_held(catalog_dsn: str) -> int:
    with psycopg.connect(catalog_dsn) as conn:
        return conn.execute(
            "select count(*) from captionacc.video_database_state where lock_holder is not null"
        ).fetchone()[0]


def _temp_dirs(env: dict[str, str]) -> list[Path]:
    process_dirs = list((Path(env["CAPTION_ASSETS_DATA_DIR"]) / "tmp").glob("*"))
    # not our work: onnxruntime's 51-byte session id file (.ses) and platformdirs' fallback
    # runtime dir (runtime-{uid}) where XDG_RUNTIME_DIR is unset
    system = [
        p for p in Path(env["TMPDIR"]).iterdir() if p.name != ".ses" and not p.name.startswith("runtime-")
    ]
    return process_dirs + system


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_run_and_settles_the_video(env, catalog_dsn, rendered, tmp_path, signum) -> None:
    log = tmp_path / "process.log"
    with _process(env, rendered("multi_30s").path, tmp_path / "out", log) as proc:
        run_id = _until(_step_started(env, "full_frames"), proc, log, "the run's first step")
        proc.send_signal(signum)
        rc = proc.wait(timeout=30)
    stderr = log.read_text()
    assert rc == 128 + signum, stderr[-3000:]
    assert "Traceback" not in stderr
    assert f"error: interrupted ({signal.Signals(signum).name})" in stderr
    assert _run_status(env, run_id) == "CANCELED"
    ((video_id, layout, _, details, _),) = _videos(catalog_dsn)
    assert layout == "error" and video_id in stderr
    assert "interrupted" in details["message"] and "run it again" in details["message"]
    assert details["run_id"] == run_id
    assert _locks_held(catalog_dsn) == 0
    assert _temp_dirs(env) == []
    assert not (tmp_path / "out").exists()


def test_sigkill_is_repaired_by_the_next_process(env, catalog_dsn, rendered, tmp_path) -> None:
    log = tmp_path / "killed.log"
    with _process(env, rendered("multi_30s").path, tmp_path / "out", log) as proc:
        # during cropped_frames the run holds both locks and a temp copy of the video
        run_id = _until(_step_started(env, "cropped_frames"), proc, log, "cropped_frames")
        _until(lambda: _locks_held(catalog_dsn) == 2, proc, log, "the captions locks")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _videos(catalog_dsn)[0][2] == "processing" and _temp_dirs(env)

    log = tmp_path / "next.log"
    with _process(env, rendered("short_bottom").path, tmp_path / "out", log) as proc:
        rc = proc.wait(timeout=240)
    stderr = log.read_text()
    assert rc == 0, stderr[-3000:]
    assert f"repaired: run {run_id}" in stderr
    killed, fresh = _videos(catalog_dsn)
    assert killed[2] == "error"
    assert killed[4]["run_id"] == run_id and "is gone" in killed[4]["message"]
    assert fresh[1:3] == ("done", "done")
    assert _run_status(env, run_id) == "FAILURE"
    assert _locks_held(catalog_dsn) == 0
    assert _temp_dirs(env) == []


@pytest.fixture
def own_data_dir() -> Iterator[Path]:
    # outside pytest's basetemp (mode 0700): the embedded server runs as another system user
    path = Path(tempfile.mkdtemp(prefix="caption-assets-cli-"))
    path.chmod(0o755)
    yield path
    stop_embedded(path)
    shutil.rmtree(path, ignore_errors=True)


def test_catalog_killed_mid_run_fails_fast_in_one_line(rendered, tmp_path, own_data_dir) -> None:
    # the command's own embedded Postgres (not the session's shared server): it is killed here
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CAPTION_ASSETS_DATABASE_URL", DAGSTER_PG_URL_ENV, "DAGSTER_HOME")
    }
    env["CAPTION_ASSETS_DATA_DIR"] = str(own_data_dir / "data")
    (tmp_path / "systmp").mkdir()
    env["TMPDIR"] = str(tmp_path / "systmp")
    log = tmp_path / "process.log"
    pgdata = own_data_dir / "data" / "postgres"
    with _process(env, rendered("multi_30s").path, tmp_path / "out", log) as proc:
        _until(lambda: "full_frames: started" in log.read_text(), proc, log, "the first step")
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        # bounded, not timed: without the watch the steps' retries take minutes
        rc = proc.wait(timeout=60)
    stderr = log.read_text()
    assert rc == 1, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "catalog database stopped answering" in errors[0]
    assert "Traceback" not in stderr and "Retrying failed database connection" not in stderr
    assert len(lines) < 15, stderr
    assert _temp_dirs(env) == []
