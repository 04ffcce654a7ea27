"""``PostgresCatalog``: the catalog over psycopg 3 with a connection pool.

Every state change is one ``select captionacc.fn(p_arg => ...)`` (deploy/supabase/migrations), the
same functions with the same named arguments the Supabase adapter calls through ``rpc``; the
operations themselves are ``Catalog``'s. Reads are plain selects.
Transient failures (connection lost, timeouts, serialisation failures, pool exhausted) are retried
with exponential backoff and jitter; constraint, permission and refused-transition errors are not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from caption_assets.core import errors
from caption_assets.core.catalog.base import Catalog, CatalogSession, Param
from caption_assets.core.catalog.rows import UnexpectedAnswerError, columns

T = TypeVar("T")
R = TypeVar("R", bound=Mapping[str, object])


def error_for_sqlstate(sqlstate: str | None, message: str) -> errors.CaptionAssetsError:
    """Map a SQLSTATE (raised by our SQL functions or by Postgres) to the project's taxonomy.
    PostgREST passes the same code through, so both adapters share this."""
    code = sqlstate or ""
    if code == "CA001":
        return errors.StatusTransitionError(message)
    if code == "CA002":
        return errors.NotFoundError(message)
    if code == "CA003":
        return errors.TenantNotFoundError(message)
    if code == "CA004":
        return errors.PermanentError(message)
    if code == "CA005" or code.startswith(("22", "23")):
        # data exceptions and integrity constraint violations: the input was wrong
        return errors.BadInputError(message)
    if code == "42501":
        return errors.PermanentError(f"permission denied: {message}")
    if code.startswith(("08", "40", "53", "57")) or code in ("55P03", "55006"):
        return errors.CatalogUnavailableError(message)
    return errors.PermanentError(message)


def is_transient(exc: BaseException) -> bool:
    """Retrying can help: the connection, the server's capacity or a concurrent transaction."""
    if isinstance(exc, psycopg.Error):
        code = exc.sqlstate or ""
        if code.startswith("CA"):
            return False
        if isinstance(exc, psycopg.errors.TransactionRollback):  # serialization failure, deadlock
            return True
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            # connection failures, pool timeout, statement timeout, admin shutdown, too many
            # connections, lock not available
            return True
    return False


def _connection_broken(exc: BaseException | None) -> bool:
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.OperationalError):
        code = exc.sqlstate
        # no SQLSTATE: the client lost the connection; 08: connection exception; 57P0x: shutdown
        return code is None or code.startswith("08") or code.startswith("57P")
    return False


class _Session(CatalogSession):
    """One pooled connection (autocommit: each statement is its own transaction)."""

    def __init__(self, conn: psycopg.Connection[DictRow]) -> None:
        self._conn = conn

    def _rows(self, query: sql.Composed, params: Mapping[str, object]) -> list[DictRow]:
        return self._conn.execute(query, params).fetchall()

    def call(self, fn: str, params: Mapping[str, Param]) -> object:
        row = self._conn.execute(
            sql.SQL("select {}").format(_function(fn, params)), _values(params)
        ).fetchone()
        return None if row is None else next(iter(row.values()))

    def call_row(self, fn: str, params: Mapping[str, Param], row: type[R]) -> R:
        rows = self.call_rows(fn, params, row)
        if len(rows) != 1:
            raise UnexpectedAnswerError(rows)
        return rows[0]

    def call_rows(self, fn: str, params: Mapping[str, Param], row: type[R]) -> list[R]:
        query = sql.SQL("select {} from {}").format(_columns(row), _function(fn, params))
        # psycopg's rows are dict[str, Any]; the function's declared result is the row type
        return cast(list[R], self._rows(query, _values(params)))

    def call_ids(self, fn: str, params: Mapping[str, Param]) -> list[str]:
        query = sql.SQL("select id from {} as ids(id)").format(_function(fn, params))
        return [str(r["id"]) for r in self._rows(query, _values(params))]

    def select(self, table: str, row: type[R], where: Mapping[str, str]) -> list[R]:
        query = sql.SQL("select {} from captionacc.{} where {}").format(
            _columns(row),
            sql.Identifier(table),
            sql.SQL(" and ").join(
                sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in where
            ),
        )
        return cast(list[R], self._rows(query, where))


def _function(fn: str, params: Mapping[str, Param]) -> sql.Composed:
    """``captionacc.fn(p_a => %(p_a)s, ...)``: named arguments, as PostgREST calls it."""
    # psycopg sends str and lists of str untyped, so Postgres reads them as the argument's type
    # (uuid, uuid[]) as it does for literals
    arguments = sql.SQL(", ").join(
        sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in params
    )
    return sql.SQL("captionacc.{}({})").format(sql.Identifier(fn), arguments)


def _values(params: Mapping[str, Param]) -> dict[str, object]:
    return {name: Jsonb(value) if isinstance(value, dict) else value for name, value in params.items()}


def _columns(row: type[Mapping[str, object]]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns(row))


class PostgresCatalog(Catalog):
    """The catalog on any PostgreSQL with the ``captionacc`` migrations (embedded by default).

    Thread-safe: one pool per process is enough (the Dagster resource caches one).
    """

    _logger = logging.getLogger(__name__)

    def __init__(
        self,
        dsn: str,
        min_size: int = 1,
        max_size: int = 10,
        *,
        max_attempts: int = 4,
        pool_timeout: float = 10.0,
        statement_timeout_ms: int | None = 30_000,
        prepare_threshold: int | None = 5,
        retry_initial_wait: float = 0.1,
        retry_max_wait: float = 2.0,
    ) -> None:
        """``prepare_threshold=None`` when connecting through a transaction-mode pooler
        (pgbouncer / Supavisor on port 6543), which cannot keep prepared statements."""
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "row_factory": dict_row,
            "prepare_threshold": prepare_threshold,
            "application_name": "caption_assets-catalog",
        }
        if statement_timeout_ms:
            kwargs["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
        self._max_attempts = max_attempts
        self._retry_initial_wait = retry_initial_wait
        self._retry_max_wait = retry_max_wait
        # not waiting for the first connection: a catalog that is down at start-up must not
        # block Dagster's resource initialisation; the first call retries and reports instead
        self._pool: ConnectionPool[psycopg.Connection[DictRow]] = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            kwargs=kwargs,
            timeout=pool_timeout,
            name="caption_assets-catalog",
            open=True,
        )

    def _attempt(self, work: Callable[[CatalogSession], T]) -> T:
        with self._pool.connection() as conn:
            return work(_Session(conn))

    def _is_transient(self, exc: BaseException) -> bool:
        return is_transient(exc)

    def _error_of(self, exc: BaseException, message: str) -> errors.CaptionAssetsError | None:
        return error_for_sqlstate(exc.sqlstate, message) if isinstance(exc, psycopg.Error) else None

    def _detail(self, exc: BaseException) -> str:
        if isinstance(exc, psycopg.Error) and exc.diag and exc.diag.message_primary:
            return exc.diag.message_primary
        return str(exc)

    def _on_retry(self, exc: BaseException | None) -> None:
        if _connection_broken(exc):
            # idle connections may be dead too (server restart): drop them before retrying
            self._pool.check()

    def close(self) -> None:
        self._pool.close()
