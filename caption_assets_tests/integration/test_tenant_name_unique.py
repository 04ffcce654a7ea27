"""Tenant names are unique in SQL ignoring case and surrounding spaces (migration 0007), and the
migration applies to a catalog that already holds such duplicates (the oldest keeps its name)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import psycopg
import pytest

from caption_assets.core.catalog import migrate

pytestmark = pytest.mark.integration

_MIGRATION = "0007_tenant_name_unique"


def test_folded_duplicate_insert_fails(empty_dsn: str) -> None:
    migrate.apply_migrations(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("insert into captionacc.tenants (name) values ('acme ')")
        with pytest.raises(psycopg.errors.UniqueViolation, match="tenants_name_folded_key"):
            conn.execute("insert into captionacc.tenants (name) values ('Acme')")
        # the orchestrator's entry point returns the one tenant instead of failing or adding one
        (tenant_id,) = conn.execute("select id from captionacc.tenants").fetchone()
        assert conn.execute("select id from captionacc.ensure_tenant('  ACME')").fetchone() == (tenant_id,)
        assert conn.execute("select count(*) from captionacc.tenants").fetchone() == (1,)


def test_migration_renames_existing_duplicates_deterministically(
    empty_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = tmp_path / "supabase" / "migrations"
    shutil.copytree(migrate.migrations_dir(), migrations)
    shutil.copy(migrate.bootstrap_path(), tmp_path / "supabase" / "bootstrap_local.sql")
    later = sorted(p for p in migrations.glob("*.sql") if p.stem >= _MIGRATION)
    held_back = tmp_path / "held_back"
    held_back.mkdir()
    for path in later:
        shutil.move(str(path), held_back / path.name)
    monkeypatch.setenv(migrate.MIGRATIONS_DIR_ENV, str(migrations))
    migrate.apply_migrations(empty_dsn)

    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        # the probe's three spellings, oldest first; a video keeps its tenant through the rename
        ids = [
            conn.execute(
                "insert into captionacc.tenants (name, created_at) values (%s, %s) returning id",
                (name, f"2024-01-0{day} 00:00:00+00"),
            ).fetchone()[0]
            for day, name in ((1, "LOCAL"), (2, "local"), (3, "local "))
        ]
        video_id = uuid.uuid4()
        conn.execute(
            "insert into captionacc.videos (id, tenant_id, storage_key) values (%s, %s, %s)",
            (video_id, ids[2], f"{ids[2]}/client/videos/{video_id}/video.mp4"),
        )

    for path in later:
        shutil.move(str(held_back / path.name), migrations / path.name)
    assert _MIGRATION in migrate.apply_migrations(empty_dsn)

    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        names = dict(conn.execute("select id, name from captionacc.tenants").fetchall())
        assert names == {
            ids[0]: "LOCAL",
            ids[1]: f"local [duplicate {ids[1]}]",
            ids[2]: f"local [duplicate {ids[2]}]",
        }
        assert conn.execute(
            "select tenant_id from captionacc.videos where id = %s", (video_id,)
        ).fetchone() == (ids[2],)
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("insert into captionacc.tenants (name) values (' Local')")
