"""Versioned, idempotent catalog migrations (``deploy/supabase/migrations/*.sql``).

The SQL files are the single source of truth and run unchanged on Supabase; this runner is what
applies them to the local / CI Postgres (and may be pointed at any DSN). Each file runs in its own
transaction and is recorded in ``captionacc.schema_migrations`` with its checksum; concurrent callers
(several ``dagster dev`` processes starting at once) serialise on a transaction-level advisory lock.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

MIGRATIONS_DIR_ENV = "CAPTION_ASSETS_MIGRATIONS_DIR"

# Arbitrary but fixed: every migrator of any database takes this key (advisory locks are per
# database, so this serialises migrators of one database only).
_MIGRATION_LOCK_KEY = 0x43415054_0001  # "CAPT" + 1

_LEDGER_SQL = """
create schema if not exists captionacc;
create table if not exists captionacc.schema_migrations (
    version    text primary key,
    checksum   text not null,
    applied_at timestamptz not null default now()
);
alter table captionacc.schema_migrations enable row level security;
"""


@dataclass(frozen=True)
class Migration:
    version: str  # the file name without .sql, e.g. "0001_schema"
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """A recorded migration's file changed, or the directory holds no migrations."""


def supabase_dir() -> Path:
    """``deploy/supabase`` of the repository that contains this package."""
    return Path(__file__).resolve().parents[3] / "deploy" / "supabase"


def migrations_dir() -> Path:
    override = os.environ.get(MIGRATIONS_DIR_ENV)
    return Path(override) if override else supabase_dir() / "migrations"


def bootstrap_path() -> Path:
    return migrations_dir().parent / "bootstrap_local.sql"


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    files = sorted(p for p in directory.glob("*.sql") if p.is_file())
    if not files:
        raise MigrationError(f"no migrations (*.sql) in {directory}")
    return [Migration(p.stem, p, p.read_text(encoding="utf-8")) for p in files]


def _lock(conn: psycopg.Connection) -> None:
    conn.execute("select pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))


def apply_migrations(
    dsn: str, local_bootstrap: bool = True, on_applied: Callable[[str], None] | None = None
) -> list[str]:
    """Apply the migrations not yet recorded; return the versions applied by this call.

    ``local_bootstrap`` first runs ``bootstrap_local.sql`` (Supabase's roles and ``auth.uid()``);
    leave it off against a real Supabase project, which has them already. ``on_applied`` hears
    each version as soon as it is committed, so a run that stops at a later file still tells
    what it changed.
    """
    migrations = load_migrations()
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        if local_bootstrap:
            bootstrap = bootstrap_path().read_text(encoding="utf-8")
            with conn.transaction():
                _lock(conn)
                conn.execute(bootstrap)
        with conn.transaction():
            _lock(conn)
            conn.execute(_LEDGER_SQL)
        for migration in migrations:
            with conn.transaction():
                _lock(conn)
                row = conn.execute(
                    "select checksum from captionacc.schema_migrations where version = %s",
                    (migration.version,),
                ).fetchone()
                if row is not None:
                    if row[0] != migration.checksum:
                        # a migration that already ran must never change: add a new file instead
                        raise MigrationError(
                            f"migration {migration.version} was applied with checksum {row[0]} "
                            f"but {migration.path.name} now has {migration.checksum}"
                        )
                    continue
                conn.execute(migration.sql)
                conn.execute(
                    "insert into captionacc.schema_migrations (version, checksum) values (%s, %s)",
                    (migration.version, migration.checksum),
                )
                applied.append(migration.version)
            if on_applied is not None:
                on_applied(migration.version)
    return applied


def _recorded(conn: psycopg.Connection) -> list[str] | None:
    """The versions in the ledger, None when the database has none."""
    exists = conn.execute("select to_regclass('captionacc.schema_migrations')").fetchone()
    if not exists or exists[0] is None:
        return None
    rows = conn.execute("select version from captionacc.schema_migrations order by version")
    return [r[0] for r in rows.fetchall()]


def applied_versions(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return _recorded(conn) or []


def pending_migrations(dsn: str, connect_timeout: int = 5) -> list[str]:
    """The migrations of this checkout the database still lacks: every one when it has no catalog
    schema. A schema without this runner's ledger was applied another way (``psql`` or Supabase's
    CLI, which keep their own record): nothing is pending as far as this runner can tell."""
    versions = [m.version for m in load_migrations()]
    with psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout) as conn:
        schema = conn.execute("select to_regclass('captionacc.tenants')").fetchone()
        if not schema or schema[0] is None:
            return versions
        recorded = _recorded(conn)
    if recorded is None:
        return []
    done = set(recorded)
    return [v for v in versions if v not in done]
