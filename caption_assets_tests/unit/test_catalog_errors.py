"""Input validation, error mapping and the retry policy of the Postgres adapter, without a server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caption_assets.core import errors
from caption_assets.core.catalog.postgres import PostgresCatalog, error_for_sqlstate, is_transient
from caption_assets.core.keys import validate_uuid

pytestmark = pytest.mark.unit

VID = "6f1c2a1e-8d1b-4f7e-9a55-0c3b2d1e4f00"


def test_validate_uuid_normalises_and_rejects() -> None:
    assert validate_uuid(VID.upper(), "video id") == VID
    for bad in [
        "",
        "../../etc/passwd",
        VID.replace("-", ""),
        "{" + VID + "}",
        f"urn:uuid:{VID}",
        VID + "\n",
        None,
        42,
        uuid.UUID(VID),  # the one rule of core/keys.py: ids are text
    ]:
        with pytest.raises(errors.BadInputError, match="video id must be a UUID"):
            validate_uuid(bad, "video id")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("CA001", errors.StatusTransitionError),
        ("CA002", errors.NotFoundError),
        ("CA003", errors.TenantNotFoundError),
        ("CA004", errors.PermanentError),
        ("CA005", errors.BadInputError),
        ("23505", errors.BadInputError),
        ("23514", errors.BadInputError),
        ("22P02", errors.BadInputError),
        ("42501", errors.PermanentError),
        ("08006", errors.CatalogUnavailableError),
        ("40001", errors.CatalogUnavailableError),
        ("57014", errors.CatalogUnavailableError),
        ("XX000", errors.PermanentError),
        (None, errors.PermanentError),
    ],
)
def test_error_for_sqlstate(code: str | None, expected: type[Exception]) -> None:
    err = error_for_sqlstate(code, f"set layout_status for video {VID}")
    assert type(err) is expected and VID in str(err)


def test_transient_classification() -> None:
    assert is_transient(psycopg.OperationalError("connection lost"))
    assert is_transient(psycopg.errors.SerializationFailure("x"))
    assert is_transient(psycopg.errors.DeadlockDetected("x"))
    assert is_transient(psycopg.errors.QueryCanceled("statement timeout"))
    assert is_transient(psycopg.errors.AdminShutdown("x"))
    assert not is_transient(psycopg.errors.UniqueViolation("x"))
    assert not is_transient(psycopg.errors.CheckViolation("x"))
    assert not is_transient(psycopg.errors.InsufficientPrivilege("x"))
    assert not is_transient(psycopg.errors.RaiseException("x"))
    assert not is_transient(ValueError("x"))


class FakeConn:
    def execute(self, query: str, params: tuple[Any, ...] = ()) -> FakeConn:
        return self

    def fetchone(self) -> dict[str, Any]:
        return {"begin_processing": 3}


class FakePool:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0
        self.checks = 0

    @contextmanager
    def connection(self) -> Iterator[FakeConn]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        yield FakeConn()

    def check(self) -> None:
        self.checks += 1


def fake_catalog(failures: list[BaseException], attempts: int = 4) -> tuple[PostgresCatalog, FakePool]:
    cat = PostgresCatalog.__new__(PostgresCatalog)
    pool = FakePool(failures)
    cat._pool = pool  # type: ignore[assignment]
    cat._max_attempts = attempts
    cat._retry_initial_wait = 0.0
    cat._retry_max_wait = 0.0
    return cat, pool


def test_transient_errors_are_retried_until_success() -> None:
    cat, pool = fake_catalog(
        [psycopg.OperationalError("server closed the connection"), psycopg.errors.SerializationFailure("x")]
    )
    assert cat.begin_processing(VID, "layout_status") == 3
    assert pool.calls == 3 and pool.checks == 1  # idle connections checked after a connection error


def test_retries_exhausted_name_video_and_operation() -> None:
    cat, pool = fake_catalog([psycopg.OperationalError("timeout")] * 10, attempts=3)
    with pytest.raises(errors.CatalogUnavailableError) as info:
        cat.begin_processing(VID, "layout_status")
    assert pool.calls == 3
    assert VID in str(info.value) and "begin_processing layout_status" in str(info.value)


def test_constraint_and_permission_errors_are_not_retried() -> None:
    for exc, expected in [
        (psycopg.errors.CheckViolation("violates check constraint"), errors.BadInputError),
        (psycopg.errors.InsufficientPrivilege("permission denied"), errors.PermanentError),
    ]:
        cat, pool = fake_catalog([exc])
        with pytest.raises(expected) as info:
            cat.begin_processing(VID, "layout_status")
        assert pool.calls == 1
        assert VID in str(info.value) and "begin_processing" in str(info.value)


@given(st.text(max_size=60).filter(lambda s: not validate_uuid.__globals__["_UUID_RE"].fullmatch(s)))
def test_non_uuid_ids_never_reach_sql(value: str) -> None:
    cat, pool = fake_catalog([])
    for call in (
        lambda: cat.get_video(value),
        lambda: cat.set_status(value, "layout_status", "done"),
        lambda: cat.begin_processing(value, "layout_status"),
        lambda: cat.acquire_server_lock(value, "layout", "h", 10),
        lambda: cat.release_server_lock(value, "layout", "h"),
        lambda: cat.approve_layout(value),
        lambda: cat.mark_deleted(value),
        lambda: cat.get_tenant(value),
        lambda: cat.finish_ocr_request(value),
        lambda: cat.insert_video(value, VID, "k"),
    ):
        with pytest.raises(errors.BadInputError):
            call()
    assert pool.calls == 0


def test_bad_choices_never_reach_sql() -> None:
    cat, pool = fake_catalog([])
    with pytest.raises(errors.BadInputError, match=VID):
        cat.set_status(VID, "layout_status", "finished")  # type: ignore[arg-type]
    with pytest.raises(errors.BadInputError, match=VID):
        cat.set_status(VID, "frames_status", "done")  # type: ignore[arg-type]
    with pytest.raises(errors.BadInputError):
        cat.ensure_tenant("t", "gold")  # type: ignore[arg-type]
    assert pool.calls == 0
