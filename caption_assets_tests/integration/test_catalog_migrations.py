"""Versioned, idempotent migrations; concurrent migrators; the embedded server and its URLs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import psycopg
import pytest

from caption_assets.core.catalog import migrate
from caption_assets.core.catalog.embedded import ensure_embedded, pgdata_dir, stop_embedded

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_migrations_are_versioned_and_idempotent(empty_dsn: str) -> None:
    expected = [m.version for m in migrate.load_migrations()]
    assert expected[:3] == ["0001_schema", "0002_functions", "0003_rls"]
    assert migrate.apply_migrations(empty_dsn) == expected
    assert migrate.apply_migrations(empty_dsn) == []
    assert migrate.applied_versions(empty_dsn) == expected


def test_concurrent_migrators_apply_each_migration_once(empty_dsn: str) -> None:
    results: list[list[str]] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(6)

    def run() -> None:
        try:
            barrier.wait()
            results.append(migrate.apply_migrations(empty_dsn))
        except BaseException as exc:  # collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    applied = sorted(v for r in results for v in r)
    assert applied == sorted(m.version for m in migrate.load_migrations())


def test_changed_migration_is_refused_and_new_one_applied(
    empty_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = tmp_path / "supabase" / "migrations"
    shutil.copytree(migrate.migrations_dir(), migrations)
    shutil.copy(migrate.bootstrap_path(), tmp_path / "supabase" / "bootstrap_local.sql")
    monkeypatch.setenv(migrate.MIGRATIONS_DIR_ENV, str(migrations))
    migrate.apply_migrations(empty_dsn)

    (migrations / "9999_extra.sql").write_text("create table captionacc.extra (id int);\n")
    assert migrate.apply_migrations(empty_dsn) == ["9999_extra"]

    (migrations / "0001_schema.sql").write_text("-- edited after it ran\n")
    with pytest.raises(migrate.MigrationError, match="0001_schema"):
        migrate.apply_migrations(empty_dsn)


def test_failed_migration_rolls_back_and_is_not_recorded(
    empty_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = tmp_path / "supabase" / "migrations"
    shutil.copytree(migrate.migrations_dir(), migrations)
    shutil.copy(migrate.bootstrap_path(), tmp_path / "supabase" / "bootstrap_local.sql")
    (migrations / "9999_broken.sql").write_text(
        "create table captionacc.half_done (id int);\nselect no_such_function();\n"
    )
    monkeypatch.setenv(migrate.MIGRATIONS_DIR_ENV, str(migrations))
    with pytest.raises(psycopg.Error):
        migrate.apply_migrations(empty_dsn)
    assert "9999_broken" not in migrate.applied_versions(empty_dsn)
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("select to_regclass('captionacc.half_done')").fetchone() == (None,)


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from caption_assets.core.catalog.embedded import ensure_embedded
    urls = ensure_embedded(Path(sys.argv[1]))
    print(urls.catalog_url)
    """
)


def test_ensure_embedded_from_concurrent_processes_then_stop() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="caption-assets-embedded-"))
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(data_dir)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        for p, (_out, err) in zip(procs, outputs):
            assert p.returncode == 0, err
        assert len({out.strip() for out, _ in outputs}) == 1

        urls = ensure_embedded(data_dir)
        assert urls.dagster_url.startswith("postgresql+psycopg2://")
        assert "/dagster?host=" in urls.dagster_url
        with psycopg.connect(urls.catalog_url) as conn:
            (count,) = conn.execute("select count(*) from captionacc.schema_migrations").fetchone()
            assert count == len(migrate.load_migrations())
            dbs = {r[0] for r in conn.execute("select datname from pg_database").fetchall()}
            assert {"caption_assets", "dagster"} <= dbs
        assert ensure_embedded(data_dir) == urls  # reused, not restarted
    finally:
        stopped = stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
    assert stopped
    assert not (pgdata_dir(data_dir) / "postmaster.pid").exists()


def test_dagster_instance_accepts_the_embedded_url(pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import dagster as dg

    (tmp_path / "dagster.yaml").write_text(
        f'storage:\n  postgres:\n    postgres_url: "{pg_server.urls.dagster_url}"\n'
    )

    @dg.op
    def one() -> int:
        return 1

    @dg.job
    def tiny() -> None:
        one()

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = tiny.execute_in_process(instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None
        instance.add_dynamic_partitions("videos", ["v1"])
        assert instance.get_dynamic_partitions("videos") == ["v1"]
