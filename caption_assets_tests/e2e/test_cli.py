"""The ``caption-assets`` command as a person runs it: a separate process, real catalog and
Dagster instance storage in Postgres, local artifact directory."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from caption_assets.app.platform import DAGSTER_PG_URL_ENV, dagster_storage_url

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLI = str(Path(sys.executable).with_name("caption-assets"))


@pytest.fixture
def cli_env(pg_server, catalog_dsn, tmp_path) -> dict[str, str]:
    name = f"dagster_cli_{tmp_path.name[-12:]}".lower().replace("-", "_")
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return {
        **os.environ,
        "CAPTION_ASSETS_DATA_DIR": str(tmp_path / "data"),
        "CAPTION_ASSETS_DATABASE_URL": catalog_dsn,
        DAGSTER_PG_URL_ENV: dagster_storage_url(pg_server.url(name)),
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize("auto_approve", [True, False])
def test_process_writes_captions_and_prints_json(cli_env, rendered, tmp_path, catalog, auto_approve) -> None:
    video = rendered("short_bottom")
    out = tmp_path / "out"
    tenant_name = "local" if auto_approve else "reviewed"
    if not auto_approve:
        catalog.ensure_tenant(tenant_name, auto_approve=False)
    done = _cli(
        cli_env, "process", str(video.path), "--out", str(out), "--format", "json", "--tenant", tenant_name
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cues = json.loads(done.stdout)
    assert [c["text"] for c in cues] == [c.text for c in video.truth.captions]
    assert abs(cues[0]["start_native_frame"] - video.truth.captions[0].first_frame) <= 1
    assert {p.name for p in out.iterdir()} == {"captions.db", "captions.srt", "captions.vtt"}
    assert video.truth.captions[0].text in (out / "captions.vtt").read_text()
    for step in ("full_frames", "layout_db", "cropped_frames", "captions_db"):
        assert f"{step}: done" in done.stderr
    # stderr is a pipe here: each step's progress as plain lines, its last one before its end line
    lines = done.stderr.splitlines()
    for step, what in (
        ("full_frames", "frames decoded"),
        ("layout_db", "frames read"),
        ("cropped_frames", "frames scanned"),
        ("captions_db", "caption states joined"),
    ):
        end = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{step}: done"))
        last = re.fullmatch(rf"\s*{step}: (\d+)/(\d+) {what}.*", lines[end - 1])
        assert last is not None and last[1] == last[2], lines[end - 1]
    # the runs went through the configured Dagster instance (they show in the UI)
    with psycopg.connect(cli_env[DAGSTER_PG_URL_ENV].replace("+psycopg2", "")) as conn:
        jobs = {r[0] for r in conn.execute("select pipeline_name from runs where status = 'SUCCESS'")}
    # one run when layouts approve themselves; else the person running `process` approves between two
    assert jobs == ({"video_job"} if auto_approve else {"layout_job", "captions_job"})
    tenant = catalog.get_tenant_by_name(tenant_name)
    assert tenant is not None and tenant.auto_approve == auto_approve


@pytest.mark.parametrize("kind", ["not_a_video", "missing", "empty", "image"])
def test_bad_input_exits_non_zero_with_one_line(cli_env, not_a_video, tmp_path, kind) -> None:
    path = {
        "not_a_video": not_a_video,
        "missing": tmp_path / "nope.mp4",
        "empty": tmp_path / "e.mp4",
        "image": tmp_path / "photo.mp4",
    }[kind]
    if kind == "empty":
        path.write_bytes(b"")
    if kind == "image":
        from PIL import Image

        Image.new("RGB", (320, 240), (200, 10, 10)).save(path, format="PNG")
    done = _cli(cli_env, "process", str(path), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert path.name in lines[0]
    assert not (tmp_path / "out").exists()


def test_upload_prints_the_id_of_a_waiting_row(cli_env, rendered, catalog) -> None:
    done = _cli(
        cli_env, "upload", str(rendered("short_bottom").path), "--tenant", "acme", "--tier", "premium"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    video = catalog.get_video(done.stdout.strip())
    assert video is not None and video.layout_status == "wait"
    assert catalog.get_tenant(video.tenant_id).tier == "premium"
    bad = _cli(cli_env, "upload", str(rendered("short_bottom").path), "--tenant", "acme", "--tier", "gold")
    assert bad.returncode == 1 and "unknown tier" in bad.stderr


def test_process_on_own_machine_ignores_hosted_tier_limits(cli_env, rendered, tmp_path, catalog) -> None:
    # the free tier set far below the video: a hosted free tenant's upload of it is refused
    # (integration/test_local_admission.py); the person's own `process` is not
    limits = {"free": {"max_duration_seconds": 1, "max_size_bytes": 1024, "max_width": 64, "max_height": 64}}
    env = {**cli_env, "CAPTION_ASSETS_TIER_LIMITS": json.dumps(limits)}
    done = _cli(env, "process", str(rendered("short_bottom").path), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert catalog.get_tenant_by_name("local").tier == "free"
    assert (tmp_path / "out" / "captions.srt").exists()
