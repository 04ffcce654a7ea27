"""``caption-assets migrate`` creates the catalog schema in an external database, once; the other
commands pointed at a database without it say so in one line instead of a SQL error."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from caption_assets.core.catalog import migrate
from caption_assets_tests.e2e.test_cli import CLI

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _env(dsn: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CAPTION_ASSETS_DATA_DIR": str(tmp_path / "data"),
        "CAPTION_ASSETS_DATABASE_URL": dsn,
    }


def _cli(env: dict[str, str], *args: str, bound: float = 120) -> subprocess.CompletedProcess[str]:
    """The command in a session of its own. One still running after ``bound`` seconds (a `dev`
    that started Dagster instead of stopping) is stopped as Ctrl-C would, so that it takes its
    Dagster processes with it, and the test fails."""
    proc = subprocess.Popen(
        [CLI, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=bound)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=bound)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"caption-assets {' '.join(args)} was still running after {bound} s: {err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _applied(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.removeprefix("applied ") for line in done.stdout.splitlines() if line.startswith("applied ")]


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_migrate_applies_every_migration_then_none(empty_dsn, tmp_path) -> None:
    env = _env(empty_dsn, tmp_path)
    expected = [m.version for m in migrate.load_migrations()]
    assert migrate.pending_migrations(empty_dsn) == expected

    first = _cli(env, "migrate")
    assert first.returncode == 0, first.stderr
    assert _applied(first) == expected
    assert f"{len(expected)} migrations applied" in first.stdout
    assert migrate.applied_versions(empty_dsn) == expected
    assert migrate.pending_migrations(empty_dsn) == []

    second = _cli(env, "migrate")
    assert second.returncode == 0, second.stderr
    assert _applied(second) == []
    assert "up to date" in second.stdout
    assert migrate.applied_versions(empty_dsn) == expected


def test_migrate_supabase_skips_the_local_bootstrap(empty_dsn, tmp_path) -> None:
    env = _env(empty_dsn, tmp_path)
    # without the bootstrap a bare Postgres lacks Supabase's auth functions: the run stops there
    bare = _cli(env, "migrate", "--supabase")
    line = _one_line_error(bare)
    assert "migrating the database" in line and "auth" in line
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        assert conn.execute("select to_regnamespace('auth')").fetchone() == (None,)
        # what a Supabase project has before its first migration
        conn.execute(migrate.bootstrap_path().read_text(encoding="utf-8"))

    done = _cli(env, "migrate", "--supabase")
    assert done.returncode == 0, done.stderr
    expected = [m.version for m in migrate.load_migrations()]
    assert _applied(bare) + _applied(done) == expected
    assert migrate.applied_versions(empty_dsn) == expected


def test_migrate_without_a_database_url_says_what_to_set(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CAPTION_ASSETS_DATABASE_URL"}
    env["CAPTION_ASSETS_DATA_DIR"] = str(tmp_path / "data")
    line = _one_line_error(_cli(env, "migrate"))
    assert "CAPTION_ASSETS_DATABASE_URL is not set" in line
    assert not (tmp_path / "data").exists()  # no embedded server was started for it


@pytest.mark.parametrize("command", ["upload", "process", "status", "dev"])
def test_commands_before_migrate_name_the_command(empty_dsn, tmp_path, rendered, command) -> None:
    env = _env(empty_dsn, tmp_path)
    video = str(rendered("short_bottom").path)
    args = {
        "upload": ["upload", video, "--tenant", "acme"],
        "process": ["process", video, "--out", str(tmp_path / "out")],
        "status": ["status", str(uuid.uuid4())],
        "dev": ["dev", "--port", "0", "--webhook-port", "0"],
    }[command]
    line = _one_line_error(_cli(env, *args))
    assert "has no catalog schema yet" in line and "run `caption-assets migrate`" in line
    assert "does not exist" not in line
    password = conninfo_to_dict(empty_dsn).get("password")
    assert not password or password not in line
    assert migrate.applied_versions(empty_dsn) == []  # nothing was created behind the person's back

    if command == "upload":
        assert _cli(env, "migrate").returncode == 0
        done = _cli(env, *args)
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.strip()) == 36  # the new video's id


def test_a_database_behind_names_the_missing_migrations(empty_dsn, tmp_path, rendered) -> None:
    migrate.apply_migrations(empty_dsn)
    last = migrate.load_migrations()[-1].version
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("delete from captionacc.schema_migrations where version = %s", (last,))
    env = _env(empty_dsn, tmp_path)
    line = _one_line_error(_cli(env, "upload", str(rendered("short_bottom").path), "--tenant", "acme"))
    assert f"lacks the catalog migrations {last}" in line and "caption-assets migrate" in line
