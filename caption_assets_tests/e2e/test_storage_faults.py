"""The artifact directory read-only or full, as a person meets it with the command line: one
line saying what is wrong, no traceback, and work resumes once space is free."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from caption_assets.app.platform import DAGSTER_PG_URL_ENV
from caption_assets.core.catalog.embedded import stop_embedded
from caption_assets_tests.e2e.test_cli import _cli, cli_env  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def artifacts_mount(cli_env) -> Iterator[Path]:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("mounting a size-capped tmpfs needs root")
    path = Path(cli_env["CAPTION_ASSETS_DATA_DIR"]) / "artifacts"
    path.mkdir(parents=True)
    yield path
    subprocess.run(["umount", str(path)], check=False)


def _mount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)


def _one_error_line(stderr: str) -> str:
    lines = [
        line
        for line in stderr.splitlines()
        if line.strip() and "RuntimeDirWarning" not in line and not line.startswith("  return")
    ]
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr[-3000:]
    assert "Traceback" not in stderr and "Errno" not in stderr
    return lines[0]


def test_read_only_artifact_dir_is_one_line_at_start(cli_env, artifacts_mount, rendered) -> None:  # noqa: F811
    _mount(artifacts_mount, "ro,size=1m")
    done = _cli(cli_env, "upload", str(rendered("short_bottom").path), "--tenant", "acme")
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert "cannot be written (Read-only file system)" in line and str(artifacts_mount) in line


def test_full_artifact_dir_is_one_line_and_resumes_once_space_is_free(
    cli_env,
    artifacts_mount,
    rendered,  # noqa: F811
) -> None:
    video = rendered("short_bottom").path
    _mount(artifacts_mount, "size=64k")  # smaller than the video
    done = _cli(cli_env, "upload", str(video), "--tenant", "acme")
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert "No space left on device" in line and "video.mp4" in line
    assert not [p for p in artifacts_mount.rglob("*") if p.is_file()]  # no partial object left

    subprocess.run(["mount", "-o", "remount,size=4m", str(artifacts_mount)], check=True)
    again = _cli(cli_env, "upload", str(video), "--tenant", "acme")
    assert again.returncode == 0, again.stderr[-2000:]


@pytest.fixture
def full_pgdata() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a size-capped tmpfs needs root")
    # outside pytest's basetemp (mode 0700): the embedded server runs as another system user
    root = Path(tempfile.mkdtemp(prefix="caption-assets-full-"))
    root.chmod(0o755)
    pgdata = root / "data" / "postgres"
    pgdata.mkdir(parents=True)
    _mount(pgdata, "size=2m,mode=0755")  # far less than initdb writes
    yield pgdata
    stop_embedded(root / "data")
    subprocess.run(["umount", str(pgdata)], check=False)
    shutil.rmtree(root, ignore_errors=True)


def test_catalog_on_a_full_disk_is_one_line_and_starts_once_space_is_free(full_pgdata, rendered) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CAPTION_ASSETS_DATABASE_URL", DAGSTER_PG_URL_ENV, "DAGSTER_HOME")
    }
    env["CAPTION_ASSETS_DATA_DIR"] = str(full_pgdata.parent)
    video = rendered("short_bottom").path
    done = _cli(env, "upload", str(video), "--tenant", "acme")
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert "does not start" in line and "free space and run the command again" in line

    subprocess.run(["mount", "-o", "remount,size=300m", str(full_pgdata)], check=True)
    again = _cli(env, "upload", str(video), "--tenant", "acme")
    assert again.returncode == 0, again.stderr[-2000:]
