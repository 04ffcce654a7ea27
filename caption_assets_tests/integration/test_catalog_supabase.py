"""The Supabase adapter against a PostgREST stand-in on 127.0.0.1 backed by the embedded Postgres.

No PostgREST binary is available here, so a pytest-httpserver listener plays it:

- The request shapes are recorded, not written down: stock supabase-py (default options) is run
  against a listener first, and every request the adapter makes later must carry exactly the same
  protocol headers (profile headers, apikey, bearer token, content type, accept) and method.
- Each ``/rest/v1/rpc/<fn>`` call is executed the way PostgREST does it: the JSON body becomes the
  function's named arguments (``json_to_record``), as ``service_role`` with its JWT claims, on a fresh
  migrated database; the answer is the function's result as JSON (object for a composite, array for
  a set, scalar, 204 for void), errors are PostgREST's error JSON with its SQLSTATE -> HTTP status
  table. Body keys must be exactly the function's argument names.
- Table reads (``GET /rest/v1/<table>?select=..&col=eq.v``) run as the same role.

So the answers are what the SQL functions really return, and the Postgres adapter on the same
database must see the same rows as equal dataclasses.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pytest_httpserver import HTTPServer
from supabase import create_client
from werkzeug import Request, Response

import caption_assets.core.catalog.base as base_module
from caption_assets.core import errors
from caption_assets.core.catalog.base import VideoMetadata, error_details
from caption_assets.core.catalog.postgres import PostgresCatalog
from caption_assets.core.catalog.supabase import SupabaseCatalog

pytestmark = pytest.mark.integration

# not a credential: only the loopback stand-in ever sees it
KEY = "service-role-key-of-the-loopback-stand-in"
RECORD_VIDEO = "6f1c2a1e-8d1b-4f7e-9a55-0c3b2d1e4f00"
# headers that name the client's platform/version or belong to the transport, not to PostgREST
TRANSPORT_HEADERS = {"host", "content-length", "user-agent", "accept-encoding", "connection", "x-client-info"}


@dataclass(frozen=True)
class Shape:
    method: str
    path: str
    headers: dict[str, str]
    query: list[tuple[str, str]]
    body: Any


def shape_of(request: Request) -> Shape:
    raw = request.get_data()
    return Shape(
        method=request.method,
        path=request.path,
        headers={k.lower(): v for k, v in request.headers.items() if k.lower() not in TRANSPORT_HEADERS},
        query=list(request.args.items(multi=True)),
        body=json.loads(raw) if raw else None,
    )


@pytest.fixture(scope="module")
def recorded_shapes() -> dict[str, Shape]:
    """What stock supabase-py sends for an rpc and for a table select on schema captionacc."""
    recorded: dict[str, Shape] = {}

    def record(kind: str, answer: Any) -> Any:
        def handler(request: Request) -> Response:
            recorded[kind] = shape_of(request)
            return Response(json.dumps(answer), content_type="application/json")

        return handler

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        server.expect_request("/rest/v1/rpc/acquire_server_lock").respond_with_handler(record("rpc", True))
        server.expect_request("/rest/v1/video_database_state").respond_with_handler(record("select", []))
        client = create_client(server.url_for("/").rstrip("/"), KEY)
        try:
            rest = client.schema("captionacc")
            rest.rpc(
                "acquire_server_lock",
                {"p_video_id": RECORD_VIDEO, "p_database": "layout", "p_holder": "rec", "p_ttl_seconds": 60},
            ).execute()
            rest.table("video_database_state").select("lock_holder,lock_kind,expires_at").eq(
                "video_id", RECORD_VIDEO
            ).eq("database", "layout").execute()
        finally:
            client.postgrest.aclose()
        server.check_handler_errors()
    finally:
        server.stop()
    return recorded


# ---- the PostgREST stand-in ----------------------------------------------------------------------


def postgrest_status(code: str, role: str) -> int:
    """PostgREST's SQLSTATE -> HTTP status table (docs: references/errors, "HTTP Status Codes")."""
    if code.startswith("08") or (code.startswith("53") and code != "53400"):
        return 503
    if code in ("23503", "23505"):
        return 409
    if code == "42501":
        return 401 if role == "anon" else 403
    if code in ("42883", "42P01"):
        return 404
    if code == "P0001":
        return 400
    if code[:2] in ("0L", "0P", "28"):
        return 403
    if code[:2] in (
        "09",
        "25",
        "2D",
        "38",
        "39",
        "3B",
        "40",
        "53",
        "54",
        "55",
        "57",
        "58",
        "F0",
        "HV",
        "P0",
        "XX",
    ):
        return 500
    return 400


def json_response(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json; charset=utf-8")


@dataclass
class Fault:
    status: int
    body: Any  # dict: PostgREST-style JSON; str: a gateway's text/html page
    delay: float = 0.0  # sleep, then answer normally (a reply the client stopped waiting for)


@dataclass
class PostgrestStandIn:
    dsn: str
    shapes: dict[str, Shape]
    server: HTTPServer
    role: str = "service_role"
    claims: dict[str, Any] = field(default_factory=lambda: {"role": "service_role"})
    calls: list[tuple[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def fail(self, name: str, status: int, body: Any, times: int = 1) -> None:
        self.faults.setdefault(name, []).extend(Fault(status, body) for _ in range(times))

    def delay(self, name: str, seconds: float, times: int = 1) -> None:
        self.faults.setdefault(name, []).extend(Fault(0, None, seconds) for _ in range(times))

    def count(self, name: str) -> int:
        return sum(1 for _, n in self.calls if n == name)

    def as_user(self, role: str, user_id: str | None = None) -> None:
        self.role = role
        self.claims = {"role": role, **({"sub": user_id} if user_id else {})}

    # -- handler --

    def handle(self, request: Request) -> Response:
        rpc = re.fullmatch(r"/rest/v1/rpc/(\w+)", request.path)
        table = re.fullmatch(r"/rest/v1/(\w+)", request.path)
        kind, name = (
            ("rpc", rpc.group(1)) if rpc else ("select", table.group(1)) if table else ("?", request.path)
        )
        shape = shape_of(request)
        with self._lock:
            self.calls.append((kind, name))
            self._check_shape(kind, name, shape)
            pending = self.faults.get(name)
            fault = pending.pop(0) if pending else None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        elif fault is not None:
            if isinstance(fault.body, dict):
                return json_response(fault.status, fault.body)
            return Response(fault.body, status=fault.status, content_type="text/html")
        try:
            with psycopg.connect(self.dsn) as conn:  # one transaction per request, like PostgREST
                if kind == "rpc":
                    return self._call_function(conn, name, shape.body)
                if kind == "select" and request.method == "GET":
                    return self._select(conn, name, shape.query)
                return json_response(404, {"code": "PGRST125", "message": f"invalid path {request.path}"})
        except psycopg.Error as exc:
            diag = exc.diag
            code = exc.sqlstate or "XX000"
            return json_response(
                postgrest_status(code, self.role),
                {
                    "code": code,
                    "details": diag.message_detail,
                    "hint": diag.message_hint,
                    "message": diag.message_primary or str(exc),
                },
            )

    def _check_shape(self, kind: str, name: str, got: Shape) -> None:
        expected = self.shapes.get(kind)
        if expected is None:
            self.violations.append(f"{got.method} {got.path}: not a PostgREST rpc or table path")
            return
        if got.method != expected.method:
            self.violations.append(f"{name}: method {got.method}, supabase-py sends {expected.method}")
        if got.headers != expected.headers:
            self.violations.append(f"{name}: headers {got.headers}, supabase-py sends {expected.headers}")
        if kind == "rpc" and (got.query or not isinstance(got.body, dict)):
            self.violations.append(f"{name}: rpc needs a JSON object body and no query, got {got}")
        if kind == "select" and (not got.query or got.query[0][0] != "select" or got.body is not None):
            self.violations.append(f"{name}: select needs ?select= first and no body, got {got}")

    def _set_role(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(self.role)))
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(self.claims),))

    def _call_function(self, conn: psycopg.Connection[Any], fn: str, body: dict[str, Any]) -> Response:
        procs = conn.execute(
            """
            select p.proargnames, p.proargmodes, p.pronargs, p.proretset, t.typtype,
                   p.prorettype = 'void'::regtype as void,
                   array(select format_type(a.t, null)
                           from unnest(p.proargtypes) with ordinality a(t, i) order by a.i) as types
              from pg_proc p join pg_type t on t.oid = p.prorettype
             where p.pronamespace = 'captionacc'::regnamespace and p.proname = %s
            """,
            (fn,),
        ).fetchall()
        if len(procs) != 1:
            self.violations.append(f"rpc {fn}: no such function in schema captionacc")
            return json_response(404, {"code": "PGRST202", "message": f"Could not find captionacc.{fn}"})
        names, modes, nargs, retset, typtype, void, types = procs[0]
        names = names or []
        in_names = (
            names[:nargs]
            if modes is None
            else [n for n, m in zip(names, modes, strict=True) if m in ("i", "b", "v")]
        )
        if set(body) != set(in_names):
            self.violations.append(f"rpc {fn}: body keys {sorted(body)} are not its arguments {in_names}")
            return json_response(
                404, {"code": "PGRST202", "message": f"Could not find captionacc.{fn}{sorted(body)}"}
            )

        call = sql.SQL("captionacc.{}({})").format(
            sql.Identifier(fn),
            sql.SQL(", ").join(sql.SQL("{0} => a.{0}").format(sql.Identifier(n)) for n in in_names),
        )
        source = sql.SQL("")
        if in_names:
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
                for n, t in zip(in_names, types, strict=True)
            )
            source = sql.SQL(" from json_to_record(%(body)s::json) as a({})").format(columns)
        comma = sql.SQL(", ") if in_names else sql.SQL(" from ")
        if void:
            query = sql.SQL("select {}{}").format(call, source)
        elif retset:
            query = sql.SQL("select coalesce(json_agg(_r), '[]'::json){}{}{} _r").format(source, comma, call)
        elif typtype == "c":
            query = sql.SQL("select to_json(_r){}{}{} _r").format(source, comma, call)
        else:
            query = sql.SQL("select to_json({}){}").format(call, source)
        self._set_role(conn)
        row = conn.execute(query, {"body": json.dumps(body)}).fetchone()
        if void:
            return Response(status=204)
        return json_response(200, row[0] if row else None)

    def _select(self, conn: psycopg.Connection[Any], table: str, query: list[tuple[str, str]]) -> Response:
        column_types = dict(
            conn.execute(
                "select attname, format_type(atttypid, atttypmod) from pg_attribute "
                "where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped",
                (f"captionacc.{table}",),
            ).fetchall()
        )
        wanted = query[0][1].split(",")
        filters = query[1:]
        unknown = [c for c in wanted + [c for c, _ in filters] if c not in column_types]
        if not column_types or unknown:
            self.violations.append(f"select {table}: unknown table or columns {unknown}")
            return json_response(
                400, {"code": "42703", "message": f"column(s) {unknown} of {table} do not exist"}
            )
        if any(not v.startswith("eq.") for _, v in filters):
            self.violations.append(f"select {table}: only eq filters are expected, got {filters}")
        where = sql.SQL(" and ").join(
            sql.SQL("{} = cast({} as {})").format(
                sql.Identifier(c), sql.Placeholder(), sql.SQL(column_types[c])
            )
            for c, _ in filters
        )
        statement = sql.SQL(
            "select coalesce(json_agg(_r), '[]'::json) from (select {} from captionacc.{}{}) _r"
        ).format(
            sql.SQL(", ").join(sql.Identifier(c) for c in wanted),
            sql.Identifier(table),
            sql.SQL(" where ") + where if filters else sql.SQL(""),
        )
        self._set_role(conn)
        row = conn.execute(statement, [v[3:] for _, v in filters]).fetchone()
        return json_response(200, row[0] if row else [])


@pytest.fixture
def standin(catalog_dsn: str, recorded_shapes: dict[str, Shape]) -> Iterator[PostgrestStandIn]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    stand_in = PostgrestStandIn(catalog_dsn, recorded_shapes, server)
    server.expect_request(re.compile(r"^/rest/v1/.*")).respond_with_handler(stand_in.handle)
    server.start()
    try:
        yield stand_in
        server.check_handler_errors()
        assert not stand_in.violations, "\n".join(stand_in.violations)
    finally:
        server.stop()


@pytest.fixture
def supa(standin: PostgrestStandIn) -> Iterator[SupabaseCatalog]:
    catalog = SupabaseCatalog(standin.url, KEY, timeout=5.0, retry_initial_wait=0.001, retry_max_wait=0.01)
    try:
        yield catalog
    finally:
        catalog.close()


def new_video(catalog: PostgresCatalog | SupabaseCatalog, tenant_id: str) -> str:
    vid = str(uuid.uuid4())
    catalog.insert_video(tenant_id, vid, f"{tenant_id}/client/videos/{vid}/video.mp4", "clip.mp4", 1234)
    return vid


def sql_functions_of_the_catalog() -> set[str]:
    """The captionacc functions and tables Catalog's operations (both adapters') name, kinds expanded."""
    source = Path(base_module.__file__).read_text()
    names: set[str] = set()
    for name in re.findall(r'\b(?:fn|table)=f?"([\w{}]+)"', source):
        names |= {name.replace("{kind}", k) for k in ("server", "client")}
    return names


# ---- the recorded shapes -------------------------------------------------------------------------


def test_recorded_shapes_are_postgrest_calls_on_captionacc(recorded_shapes: dict[str, Shape]) -> None:
    rpc, select = recorded_shapes["rpc"], recorded_shapes["select"]
    assert rpc.method == "POST" and rpc.path == "/rest/v1/rpc/acquire_server_lock" and rpc.query == []
    assert rpc.body == {
        "p_video_id": RECORD_VIDEO,
        "p_database": "layout",
        "p_holder": "rec",
        "p_ttl_seconds": 60,
    }
    for shape in (rpc, select):
        assert shape.headers["content-profile"] == "captionacc"
        assert shape.headers["accept-profile"] == "captionacc"
        assert shape.headers["apikey"] == KEY
        assert shape.headers["authorization"] == f"Bearer {KEY}"
    assert rpc.headers["content-type"] == "application/json"
    assert select.method == "GET" and select.path == "/rest/v1/video_database_state" and select.body is None
    assert select.query == [
        ("select", "lock_holder,lock_kind,expires_at"),
        ("video_id", f"eq.{RECORD_VIDEO}"),
        ("database", "eq.layout"),
    ]


# ---- every operation, compared with the Postgres adapter on the same database --------------------


def test_every_operation_matches_the_postgres_adapter(
    supa: SupabaseCatalog, catalog: PostgresCatalog, standin: PostgrestStandIn
) -> None:
    tenant = supa.ensure_tenant("acme", tier="premium", auto_approve=False)
    assert tenant == catalog.get_tenant_by_name("acme") == supa.get_tenant(tenant.id)
    assert supa.get_tenant_by_name("acme") == tenant and supa.ensure_tenant("acme") == tenant
    assert supa.get_tenant(str(uuid.uuid4())) is None and supa.get_tenant_by_name("nobody") is None

    vid = new_video(supa, tenant.id)
    video = supa.get_video(vid)
    assert video is not None and video == catalog.get_video(vid)
    assert (video.layout_status, video.original_filename, video.size_bytes) == ("wait", "clip.mp4", 1234)
    assert supa.get_video(str(uuid.uuid4())) is None

    other = new_video(catalog, tenant.id)
    pending = supa.pending_uploads(limit=10)
    assert pending == catalog.pending_uploads(limit=10) and [p.video_id for p in pending] == [vid, other]
    first = pending[0]
    assert supa.pending_uploads(after=(first.wait_since, first.video_id)) == pending[1:]

    assert supa.begin_processing(vid, "layout_status") == 0
    supa.record_metadata(
        vid, VideoMetadata(duration_seconds=12, width=640, height=360, fps=25, total_frames=300)
    )
    supa.set_cropped_frames_version(vid, 2)
    supa.set_status(vid, "layout_status", "annotate")
    supa.approve_layout(vid)
    approved = supa.approved_layouts(since=None)
    assert approved == catalog.approved_layouts(since=None) and [a.video_id for a in approved] == [vid]
    assert supa.approved_layouts(since=approved[0].layout_approved_at) == []
    # claims: each piece of work goes to exactly one caller, whichever adapter asks
    assert supa.claim_approved_layouts(limit=10, video_ids=[vid]) == approved
    assert catalog.claim_approved_layouts(video_ids=[vid]) == []
    fresh = new_video(supa, tenant.id)
    waiting = [p for p in catalog.pending_uploads(limit=10) if p.video_id == fresh]
    assert supa.claim_pending_uploads(limit=10, video_ids=[fresh]) == waiting
    assert catalog.claim_pending_uploads(video_ids=[fresh]) == []
    soon = datetime.now(UTC) + timedelta(hours=1)
    claims = supa.unstarted_claims(soon)
    assert claims == catalog.unstarted_claims(soon)
    assert {(c.video_id, c.work) for c in claims} == {(vid, "captions"), (fresh, "layout")}
    (fresh_claim,) = [c for c in claims if c.video_id == fresh]
    assert supa.release_claim(fresh_claim) and not catalog.release_claim(fresh_claim)
    assert catalog.claim_pending_uploads(video_ids=[fresh]) == waiting

    assert supa.begin_processing(vid, "text_status") == 0
    details = error_details("OCR found no text", "EmptyOcr", "run-1", frames=300)
    supa.set_status(vid, "text_status", "error", details)
    video = supa.get_video(vid)
    assert video == catalog.get_video(vid)
    assert video is not None
    assert (video.duration_seconds, video.width, video.fps, video.total_frames) == (12.0, 640, 25.0, 300)
    assert isinstance(video.duration_seconds, float) and video.current_cropped_frames_version == 2
    assert video.layout_status == "done" and video.layout_approved_at is not None
    assert video.text_status == "error"
    assert supa.begin_processing(vid, "text_status") == 1  # a retry counts
    in_processing = supa.videos_in_processing()
    assert in_processing == catalog.videos_in_processing()
    assert [(p.video_id, p.columns) for p in in_processing] == [(vid, ("text_status",))]
    supa.mark_deleted(vid)
    assert supa.get_video(vid) == catalog.get_video(vid) and supa.get_video(vid).deleted_at is not None  # type: ignore[union-attr]
    unknown = str(uuid.uuid4())
    refused = supa.refused_videos([vid, other, unknown])
    assert refused == catalog.refused_videos([vid, other, unknown])
    assert refused == {vid: "video deleted", unknown: "unknown video"}
    supa.set_tenant_active(tenant.id, False)
    assert catalog.get_tenant(tenant.id).active is False  # type: ignore[union-attr]
    assert supa.refused_videos([other]) == {other: "tenant inactive"}
    supa.set_tenant_active(tenant.id, True)

    # error details are stored as JSON, as the web app reads them
    with psycopg.connect(standin.dsn) as conn:
        stored = conn.execute(
            "select layout_error_details, boundaries_error_details from captionacc.videos where id = %s",
            (other,),
        ).fetchone()
    assert stored == (None, None)
    supa.set_status(other, "layout_status", "error", details)
    assert supa.get_video(other).layout_error_details == details  # type: ignore[union-attr]

    # the same SQL as the Postgres adapter: every function and table Catalog names, and nothing else
    supa.acquire_client_lock(other, "layout", "web", 30)
    supa.release_client_lock(other, "layout", "web")
    supa.acquire_server_lock(other, "layout", "run", 30)
    supa.release_server_lock(other, "layout", "run")
    supa.clear_stale_locks()
    request_id = supa.request_caption_ocr(other, 3)
    supa.claim_ocr_requests()
    supa.finish_ocr_request(request_id)

    # retention: archive, purge candidates, purge marks and tenant deletion through both adapters
    archived_at = supa.set_video_archived(other)
    assert archived_at is not None and catalog.set_video_archived(other) == archived_at
    assert supa.set_video_archived(other, archived=False) is None
    later = datetime.now(UTC) + timedelta(days=1)
    candidates = supa.videos_to_purge(later, later, limit=10)
    assert candidates == catalog.videos_to_purge(later, later, limit=10)
    assert [(c.video_id, c.reason) for c in candidates] == [(vid, "deleted")]
    assert candidates[0].deleted_at == supa.get_video(vid).deleted_at  # type: ignore[union-attr]
    assert supa.videos_to_purge(later, after=vid) == [] and supa.videos_to_purge(None) == []
    assert supa.mark_videos_purged([vid]) == [vid] == catalog.mark_videos_purged([vid])
    assert supa.videos_to_purge(later) == []
    gone = supa.ensure_tenant("gone")
    gone_videos = sorted([new_video(supa, gone.id), new_video(catalog, gone.id)])
    assert supa.delete_tenant(gone.id) == gone_videos == catalog.delete_tenant(gone.id)
    assert supa.get_tenant(gone.id).active is False  # type: ignore[union-attr]

    called = {name for _, name in standin.calls}
    assert called == sql_functions_of_the_catalog()


def test_lock_answers_name_the_holder(
    supa: SupabaseCatalog, catalog: PostgresCatalog, catalog_dsn: str
) -> None:
    tenant = supa.ensure_tenant("locks")
    vid = new_video(supa, tenant.id)
    won = supa.acquire_server_lock(vid, "layout", "run-a", 60)
    assert won.acquired and won.holder == "run-a" and won.kind == "server" and won.expires_at is not None
    renewed = supa.acquire_server_lock(vid, "layout", "run-a", 120)
    assert renewed.acquired and renewed.expires_at > won.expires_at  # type: ignore[operator]

    lost = supa.acquire_server_lock(vid, "layout", "run-b", 60)
    assert (lost.acquired, lost.holder, lost.kind, lost.expires_at) == (
        False,
        "run-a",
        "server",
        renewed.expires_at,
    )
    seen_by_postgres = catalog.acquire_server_lock(vid, "layout", "run-c", 60)
    assert seen_by_postgres == lost
    with pytest.raises(errors.LockHeldError, match=f"layout lock of video {vid} is held by run-a until 20"):
        supa.require_server_lock(vid, "layout", "run-b", 60)
    assert not supa.acquire_client_lock(vid, "layout", "web-session", 60).acquired  # kinds exclude each other

    assert supa.release_server_lock(vid, "layout", "run-b") is False
    assert supa.release_server_lock(vid, "layout", "run-a") is True
    free = supa.acquire_server_lock(vid, "captions", "run-b", 60)
    assert free.acquired and free.holder == "run-b"

    short = supa.acquire_client_lock(vid, "layout", "web-session", 60)
    assert short.acquired
    assert supa.clear_stale_locks() == []  # not expired yet
    # its lifetime runs out: the expiry is moved into the past rather than waited for
    with psycopg.connect(catalog_dsn) as conn:
        (expired_at,) = conn.execute(
            "update captionacc.video_database_state set expires_at = now() - interval '1 second' "
            "where video_id = %s and database = 'layout' returning expires_at",
            (vid,),
        ).fetchone()
    stale = supa.clear_stale_locks()
    assert [(s.video_id, s.database, s.holder, s.expires_at) for s in stale] == [
        (vid, "layout", "web-session", expired_at)
    ]
    assert supa.acquire_server_lock(vid, "layout", "run-c", 60).acquired


def test_caption_ocr_requests_round_trip(supa: SupabaseCatalog, standin: PostgrestStandIn) -> None:
    tenant = supa.ensure_tenant("ocr")
    a, b = new_video(supa, tenant.id), new_video(supa, tenant.id)
    ids = {(b, 7): supa.request_caption_ocr(b, 7), (a, 2): supa.request_caption_ocr(a, 2)}
    assert supa.request_caption_ocr(b, 7) == ids[(b, 7)]  # still queued: no duplicate
    claimed = supa.claim_ocr_requests(limit=10)
    assert [(r.video_id, r.caption_id, r.status) for r in claimed] == sorted(
        [(a, 2, "processing"), (b, 7, "processing")]
    )
    assert {r.id for r in claimed} == set(ids.values()) and supa.claim_ocr_requests() == []
    supa.finish_ocr_request(ids[(a, 2)])
    supa.finish_ocr_request(ids[(b, 7)], error="no text in the region")
    with psycopg.connect(standin.dsn) as conn:
        rows = dict(conn.execute("select id::text, status from captionacc.caption_ocr_requests").fetchall())
    assert rows == {ids[(a, 2)]: "completed", ids[(b, 7)]: "error"}


# ---- error mapping ------------------------------------------------------------------------------


def test_refusals_from_the_sql_functions_map_and_are_not_retried(
    supa: SupabaseCatalog, standin: PostgrestStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = supa.ensure_tenant("refusals")
    vid = new_video(supa, tenant.id)
    with caplog.at_level(logging.WARNING, logger="caption_assets.core.catalog.supabase"):
        with pytest.raises(
            errors.StatusTransitionError, match=f"set layout_status=done for video {vid}: .*wait to done"
        ):
            supa.set_status(vid, "layout_status", "done")  # CA001
        missing_tenant = str(uuid.uuid4())
        with pytest.raises(
            errors.TenantNotFoundError, match=f"insert_video for video .*tenant {missing_tenant} not found"
        ):
            new_video(supa, missing_tenant)  # CA003
        unknown = str(uuid.uuid4())
        with pytest.raises(errors.NotFoundError, match=f"begin_processing layout_status for video {unknown}"):
            supa.begin_processing(unknown, "layout_status")  # CA002
        with pytest.raises(errors.BadInputError, match="older than the current"):
            supa.set_cropped_frames_version(vid, 3)
            supa.set_cropped_frames_version(vid, 1)  # CA005
    assert standin.count("set_video_status") == 1 and standin.count("insert_video") == 2
    assert standin.count("begin_processing") == 1
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


def test_permission_denied_from_postgres_is_permanent(
    supa: SupabaseCatalog, standin: PostgrestStandIn
) -> None:
    tenant = supa.ensure_tenant("rls")
    vid = new_video(supa, tenant.id)
    # the same function, called with a key whose user is not a member of the video's tenant
    standin.as_user("authenticated", str(uuid.uuid4()))
    with pytest.raises(
        errors.PermanentError, match=f"set layout_status=wait for video {vid}: permission denied"
    ):
        supa.set_status(vid, "layout_status", "wait")  # 42501, HTTP 403
    assert standin.count("set_video_status") == 1


@pytest.mark.parametrize(
    "body",
    [
        {
            "code": "PGRST001",
            "details": None,
            "hint": None,
            "message": "Database client error. Retrying the connection.",
        },
        "<html><body>503 Service Temporarily Unavailable</body></html>",
    ],
    ids=["postgrest", "gateway"],
)
def test_503_is_retried_then_succeeds(
    supa: SupabaseCatalog, standin: PostgrestStandIn, caplog: pytest.LogCaptureFixture, body: Any
) -> None:
    tenant = supa.ensure_tenant("flaky")
    vid = new_video(supa, tenant.id)
    standin.fail("begin_processing", 503, body, times=2)
    with caplog.at_level(logging.WARNING, logger="caption_assets.core.catalog.supabase"):
        assert supa.begin_processing(vid, "layout_status") == 0
    assert standin.count("begin_processing") == 3
    retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retried) == 2 and vid in retried[0] and "begin_processing layout_status" in retried[0]
    assert supa.get_video(vid).layout_status == "processing"  # type: ignore[union-attr]


def test_persistent_503_names_the_operation(supa: SupabaseCatalog, standin: PostgrestStandIn) -> None:
    tenant = supa.ensure_tenant("down")
    vid = new_video(supa, tenant.id)
    standin.fail("acquire_server_lock", 503, {"code": "PGRST000", "message": "Could not connect"}, times=10)
    with pytest.raises(
        errors.CatalogUnavailableError,
        match=f"acquire server lock layout for video {vid} failed after 4 attempts: HTTP 503 PGRST000",
    ):
        supa.acquire_server_lock(vid, "layout", "run-a", 60)
    assert standin.count("acquire_server_lock") == 4


@pytest.mark.parametrize(
    ("status", "body", "expected", "attempts"),
    [
        (
            400,
            {"code": "CA001", "message": "layout_status cannot go from wait to done"},
            errors.StatusTransitionError,
            1,
        ),
        (400, {"code": "CA003", "message": "tenant not found"}, errors.TenantNotFoundError, 1),
        (403, {"code": "42501", "message": "permission denied for video"}, errors.PermanentError, 1),
        (409, {"code": "23505", "message": "duplicate key value"}, errors.BadInputError, 1),
        (404, {"code": "PGRST202", "message": "Could not find the function"}, errors.PermanentError, 1),
        (401, {"code": "PGRST301", "message": "JWT expired"}, errors.PermanentError, 1),
        (429, "Too Many Requests", errors.CatalogUnavailableError, 4),
        (
            504,
            {"code": "PGRST003", "message": "Timed out acquiring connection from connection pool."},
            errors.CatalogUnavailableError,
            4,
        ),
        (500, {"code": "40001", "message": "could not serialize access"}, errors.CatalogUnavailableError, 4),
        (502, "", errors.CatalogUnavailableError, 4),
    ],
)
def test_postgrest_error_answers_map_to_the_taxonomy(
    supa: SupabaseCatalog,
    standin: PostgrestStandIn,
    status: int,
    body: Any,
    expected: type[Exception],
    attempts: int,
) -> None:
    vid = str(uuid.uuid4())
    standin.fail("set_video_status", status, body, times=attempts)
    with pytest.raises(expected, match=f"set layout_status=processing for video {vid}") as raised:
        supa.set_status(vid, "layout_status", "processing")
    assert type(raised.value) is expected
    assert standin.count("set_video_status") == attempts


def test_timeouts_are_retried(standin: PostgrestStandIn) -> None:
    with SupabaseCatalog(standin.url, KEY, timeout=0.5, retry_initial_wait=0.001) as supa:
        tenant = supa.ensure_tenant("slow")
        standin.delay("ensure_tenant", 1.0)
        assert supa.ensure_tenant("slow") == tenant
    assert standin.count("ensure_tenant") == 3


def test_unreachable_catalog_is_unavailable() -> None:
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    vid = str(uuid.uuid4())
    with SupabaseCatalog(f"http://127.0.0.1:{port}", KEY, max_attempts=2, retry_initial_wait=0.001) as supa:
        with pytest.raises(
            errors.CatalogUnavailableError,
            match=f"get_video for video {vid} failed after 2 attempts: ConnectError",
        ):
            supa.get_video(vid)


def test_bad_ids_are_rejected_before_any_request(supa: SupabaseCatalog, standin: PostgrestStandIn) -> None:
    bad = "../../etc/passwd"
    calls = [
        lambda: supa.get_video(bad),
        lambda: supa.get_tenant(bad),
        lambda: supa.insert_video(bad, str(uuid.uuid4()), "k"),
        lambda: supa.insert_video(str(uuid.uuid4()), bad, "k"),
        lambda: supa.set_status(bad, "layout_status", "wait"),
        lambda: supa.set_status(str(uuid.uuid4()), "layout_status; drop table x", "wait"),  # type: ignore[arg-type]
        lambda: supa.begin_processing(bad, "layout_status"),
        lambda: supa.record_metadata(bad, VideoMetadata(1.0, 1, 1, 1.0, 1)),
        lambda: supa.approve_layout(bad),
        lambda: supa.set_cropped_frames_version(bad, 1),
        lambda: supa.mark_deleted(bad),
        lambda: supa.acquire_server_lock(bad, "layout", "h", 10),
        lambda: supa.acquire_server_lock(str(uuid.uuid4()), "other", "h", 10),  # type: ignore[arg-type]
        lambda: supa.release_server_lock(bad, "layout", "h"),
        lambda: supa.request_caption_ocr(bad, 1),
        lambda: supa.finish_ocr_request(bad),
        lambda: supa.pending_uploads(after=(time.time(), bad)),  # type: ignore[arg-type]
        lambda: supa.set_video_archived(bad),
        lambda: supa.videos_to_purge(None, after=bad),
        lambda: supa.mark_videos_purged([str(uuid.uuid4()), bad]),
        lambda: supa.delete_tenant(bad),
        lambda: supa.ensure_tenant(""),
        lambda: supa.ensure_tenant("x", tier="gold"),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(errors.BadInputError):
            call()
    assert standin.calls == []
    assert KEY not in repr(supa)


def test_configuration_is_checked_without_echoing_the_key() -> None:
    with pytest.raises(errors.BadInputError, match="http"):
        SupabaseCatalog("ftp://example.invalid", KEY)
    with pytest.raises(errors.BadInputError, match="key is empty") as raised:
        SupabaseCatalog("http://127.0.0.1:9", " ")
    assert KEY not in str(raised.value)
