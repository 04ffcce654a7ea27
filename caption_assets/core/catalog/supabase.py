"""``SupabaseCatalog``: the catalog over Supabase's REST API (PostgREST) with supabase-py.

Every state change is ``client.schema("captionacc").rpc(fn, params)`` on the same SQL functions the
Postgres adapter calls with ``select captionacc.fn(...)`` (deploy/supabase/migrations), with the
service-role key, so row-level security does not apply and the functions granted only to
``service_role`` can be called. Reads the Postgres adapter does with a plain select are table selects.
The operations themselves are ``Catalog``'s, written once for both adapters.

Errors: PostgREST forwards the SQLSTATE a function raised as ``code`` (CA001..CA005, 42501, ...),
which ``error_for_sqlstate`` maps exactly as for the Postgres adapter. Errors that carry no SQLSTATE
(PostgREST's own ``PGRST*`` codes, a gateway's 502/503/504, rate limiting) are judged by their HTTP
status. Transient failures are retried with the catalog's one policy (``catalog_retrying``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

import httpx
from postgrest import SyncPostgrestClient
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client

from caption_assets.core import errors
from caption_assets.core.catalog.base import Catalog, CatalogSession, Param
from caption_assets.core.catalog.postgres import error_for_sqlstate
from caption_assets.core.catalog.rows import UnexpectedAnswerError, columns

T = TypeVar("T")
R = TypeVar("R", bound=Mapping[str, object])

SCHEMA = "captionacc"
# a database error code; PostgREST's own codes are PGRSTnnn and a body-less answer's code is the status
_SQLSTATE_RE = re.compile(r"^[0-9A-Z]{5}$")


class PostgrestHTTPError(Exception):
    """A PostgREST (or API gateway) answer with HTTP status >= 400, parsed from its body.

    supabase-py's ``APIError`` drops the HTTP status, which is what tells a gateway's 503 apart from
    a refused request when the body has no SQLSTATE; this keeps it.
    """

    def __init__(
        self, status: int, code: str | None, message: str, details: Any = None, hint: Any = None
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        super().__init__(f"HTTP {status}{' ' + code if code else ''}: {message}")


def raise_for_postgrest_status(response: httpx.Response) -> None:
    """httpx response hook on the PostgREST session: turn an error answer into
    ``PostgrestHTTPError`` before supabase-py parses it into an ``APIError``."""
    if response.status_code < 400:
        return
    response.read()
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("code" in body or "message" in body):
        code = body.get("code")
        raise PostgrestHTTPError(
            response.status_code,
            None if code is None else str(code),
            str(body.get("message") or response.reason_phrase),
            body.get("details"),
            body.get("hint"),
        )
    # a proxy's HTML page or an empty body: only the status and a bounded excerpt say anything
    excerpt = response.text.strip()[:200]
    message = response.reason_phrase + (f": {excerpt}" if excerpt else "")
    raise PostgrestHTTPError(response.status_code, None, message)


def _install_status_hook(session: httpx.Client) -> None:
    hooks = session.event_hooks
    if raise_for_postgrest_status not in hooks["response"]:
        hooks["response"] = [*hooks["response"], raise_for_postgrest_status]
        session.event_hooks = hooks


def error_for_response(status: int | None, code: str | None, message: str) -> errors.CaptionAssetsError:
    """Map one PostgREST error answer to the project's taxonomy. A SQLSTATE wins: it is what the SQL
    function raised, and both adapters map it the same way. Without one the HTTP status decides:
    429 and 5xx are transient (gateway, PostgREST's PGRST000..003 while the database is away)."""
    if code and _SQLSTATE_RE.fullmatch(code):
        return error_for_sqlstate(code, message)
    if status is None and code and code.isdigit():
        status = int(code)  # supabase-py's APIError for a body-less answer carries the status as code
    if status is not None and (status == 429 or status >= 500):
        return errors.CatalogUnavailableError(message)
    if status in (401, 403):
        return errors.PermanentError(f"permission denied: {message}")
    return errors.PermanentError(message)


def _error_of(exc: BaseException, message: str) -> errors.CaptionAssetsError | None:
    """The mapped error for a failure of one request, None when it is not a catalog answer."""
    if isinstance(exc, httpx.TransportError):  # connect/read/write errors and every timeout
        return errors.CatalogUnavailableError(message)
    if isinstance(exc, PostgrestHTTPError):
        return error_for_response(exc.status, exc.code, message)
    if isinstance(exc, APIError):  # the hook was bypassed (a 2xx we could not parse, say)
        return error_for_response(None, exc.code, message)
    return None


def is_transient(exc: BaseException) -> bool:
    """Retrying can help: the network, a timeout, the server's capacity or a concurrent transaction;
    never a constraint, a permission or one of our CA* refusals."""
    return isinstance(_error_of(exc, ""), errors.CatalogUnavailableError)


def _detail(exc: BaseException) -> str:
    if isinstance(exc, PostgrestHTTPError):
        if exc.code and _SQLSTATE_RE.fullmatch(exc.code):
            return exc.message
        return f"HTTP {exc.status}{' ' + exc.code if exc.code else ''}: {exc.message}"
    if isinstance(exc, APIError):
        return exc.message or str(exc.code)
    return f"{type(exc).__name__}: {exc}"


class _Session(CatalogSession):
    """The PostgREST client; each call is one HTTP request. ``.retry(False)``: supabase-py would
    retry GETs itself, on top of the catalog's retry policy."""

    def __init__(self, rest: SyncPostgrestClient) -> None:
        self._rest = rest

    def _rpc(self, fn: str, params: Mapping[str, Param]) -> Any:
        # JSON values (postgrest-py annotates the body as dict[str, str], but sends it as JSON)
        body: dict[str, Any] = {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in params.items()
        }
        return self._rest.rpc(fn, body).retry(False).execute().data

    def call(self, fn: str, params: Mapping[str, Param]) -> object:
        return self._rpc(fn, params)

    def call_row(self, fn: str, params: Mapping[str, Param], row: type[R]) -> R:
        data = self._rpc(fn, params)
        if not isinstance(data, dict):
            raise UnexpectedAnswerError(data)
        return cast(R, data)

    def call_rows(self, fn: str, params: Mapping[str, Param], row: type[R]) -> list[R]:
        return _rows(self._rpc(fn, params), row)

    def call_ids(self, fn: str, params: Mapping[str, Param]) -> list[str]:
        # ``returns setof uuid``: PostgREST sends a JSON array of the ids
        data = self._rpc(fn, params)
        if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
            raise UnexpectedAnswerError(data)
        return cast(list[str], data)

    def select(self, table: str, row: type[R], where: Mapping[str, str]) -> list[R]:
        query = self._rest.table(table).select(",".join(columns(row)))
        for column, value in where.items():
            query = query.eq(column, value)
        return _rows(query.retry(False).execute().data, row)


def _rows(data: Any, row: type[R]) -> list[R]:
    """JSON rows: a list of objects, whose keys the row type names (PostgREST sends the columns)."""
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UnexpectedAnswerError(data)
    return cast(list[R], data)


class SupabaseCatalog(Catalog):
    """The catalog on a Supabase project whose database has the ``captionacc`` migrations and
    whose API exposes the ``captionacc`` schema (Settings -> API -> Exposed schemas).

    Thread-safe: supabase-py's PostgREST client sends each request on one shared ``httpx.Client``.
    """

    _logger = logging.getLogger(__name__)

    def __init__(
        self,
        url: str,
        service_role_key: str,
        *,
        client: Client | None = None,
        max_attempts: int = 4,
        timeout: float = 30.0,
        retry_initial_wait: float = 0.1,
        retry_max_wait: float = 2.0,
    ) -> None:
        """``client``: a supabase-py client to use instead of building one from ``url`` and
        ``service_role_key`` (it must use the service-role key; its PostgREST session gets the
        error hook this adapter relies on). ``timeout``: seconds per HTTP request."""
        self._max_attempts = max_attempts
        self._retry_initial_wait = retry_initial_wait
        self._retry_max_wait = retry_max_wait
        self._http: httpx.Client | None = None
        if client is None:
            if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
                raise errors.BadInputError(f"Supabase URL must be an http(s) URL, got {url!r}")
            if not isinstance(service_role_key, str) or not service_role_key.strip():
                # the key itself is never put in a message
                raise errors.BadInputError("the Supabase service-role key is empty")
            self._http = httpx.Client(timeout=timeout, follow_redirects=True)
            client = create_client(
                url,
                service_role_key,
                ClientOptions(
                    schema=SCHEMA,
                    httpx_client=self._http,
                    # a service key has no session to refresh or keep
                    auto_refresh_token=False,
                    persist_session=False,
                    # the catalog's retry policy (Catalog._run) is the one
                    postgrest_client_retry=False,
                ),
            )
        self._client = client
        self._rest: SyncPostgrestClient = client.schema(SCHEMA)
        _install_status_hook(self._rest.session)

    def _attempt(self, work: Callable[[CatalogSession], T]) -> T:
        return work(_Session(self._rest))

    def _is_transient(self, exc: BaseException) -> bool:
        return is_transient(exc)

    def _error_of(self, exc: BaseException, message: str) -> errors.CaptionAssetsError | None:
        return _error_of(exc, message)

    def _detail(self, exc: BaseException) -> str:
        return _detail(exc)

    def close(self) -> None:
        """Closes the HTTP connections this adapter opened (an injected client stays open)."""
        if self._http is not None:
            self._http.close()

    def __repr__(self) -> str:  # never the key
        return f"SupabaseCatalog({str(self._client.supabase_url)!r})"
