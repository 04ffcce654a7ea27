"""Transient S3 failures are retried with backoff; a store that stays down fails clearly and in
bounded time; permanent errors are not retried."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import tenacity.nap
from botocore.stub import Stubber

from caption_assets.core.errors import StoreUnavailableError, TransientError
from caption_assets.core.keys import VideoKeys
from caption_assets.core.store.base import StoreAccessDeniedError
from caption_assets.core.store.s3 import S3RetryPolicy, S3Store, make_s3_client
from caption_assets_tests.fixtures.seaweed import REGION, SeaweedS3

pytestmark = pytest.mark.recovery

T = "0b1e7a9c-5d2f-4a1b-9c3d-1234567890ab"
V = "7f3e2d1c-0b9a-4877-a665-544332211000"
K = VideoKeys(T, V)
FAST = S3RetryPolicy(attempts=4, initial_wait_seconds=0.01, max_wait_seconds=0.05, jitter_seconds=0.01)


def _offline_client() -> Any:
    # never contacted: the Stubber answers every call
    return make_s3_client("http://127.0.0.1:9", REGION, "AKTEST", "secret", max_attempts=1)


@pytest.mark.parametrize(
    "code,status", [("ServiceUnavailable", 503), ("SlowDown", 503), ("InternalError", 500)]
)
def test_first_two_calls_fail_third_succeeds(code: str, status: int) -> None:
    client = _offline_client()
    store = S3Store(client, "bucket", retry=FAST)
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error("put_object", service_error_code=code, http_status_code=status)
        stub.add_response("put_object", {"ETag": '"x"'})
        store.put_bytes(K.video(), b"v")
        stub.assert_no_pending_responses()


def test_store_that_stays_down_raises_store_unavailable_naming_bucket_and_key() -> None:
    client = _offline_client()
    store = S3Store(client, "videos-bucket", retry=FAST)
    with Stubber(client) as stub:
        for _ in range(FAST.attempts):
            stub.add_client_error("get_object", service_error_code="ServiceUnavailable", http_status_code=503)
        with pytest.raises(StoreUnavailableError) as info:
            store.get_bytes(K.layout_db())
        stub.assert_no_pending_responses()  # exactly ``attempts`` calls, no more
    message = str(info.value)
    assert "videos-bucket" in message and K.layout_db() in message and "4 attempts" in message
    assert isinstance(info.value, TransientError)


def test_access_denied_is_not_retried() -> None:
    client = _offline_client()
    store = S3Store(client, "videos-bucket", retry=FAST)
    with Stubber(client) as stub:
        stub.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(StoreAccessDeniedError, match="videos-bucket"):
            store.put_bytes(K.video(), b"v")
        stub.assert_no_pending_responses()


def test_list_retries_one_page_not_the_whole_listing() -> None:
    client = _offline_client()
    store = S3Store(client, "bucket", retry=FAST)
    first = {"Contents": [{"Key": K.full_frame(0)}], "IsTruncated": True, "NextContinuationToken": "t1"}
    second = {"Contents": [{"Key": K.full_frame(100)}], "IsTruncated": False}
    with Stubber(client) as stub:
        stub.add_response("list_objects_v2", first)
        stub.add_client_error("list_objects_v2", service_error_code="SlowDown", http_status_code=503)
        stub.add_response(
            "list_objects_v2",
            second,
            {
                "Bucket": "bucket",
                "Prefix": K.full_frames_prefix(),
                "MaxKeys": 1000,
                "ContinuationToken": "t1",
            },
        )
        assert list(store.list(K.full_frames_prefix())) == [K.full_frame(0), K.full_frame(100)]
        stub.assert_no_pending_responses()


# real HTTP endpoints on 127.0.0.1 --------------------------------------------------------------


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.requests = 0
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Always503(BaseHTTPRequestHandler):
    # HTTP/1.1 so that botocore's "Expect: 100-continue" gets its answer instead of a 1 s wait
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.server.owner.requests += 1  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def always_503() -> Iterator[_Server]:
    server = _Server(_Always503)
    yield server
    server.close()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff waits the store's retries ask for, recorded instead of slept: the time a
    failing call takes is bounded by them (and the client's own timeouts), not by the test's clock."""
    asked: list[float] = []
    monkeypatch.setattr(tenacity.nap, "time", SimpleNamespace(sleep=asked.append))
    return asked


def test_endpoint_answering_503_fails_in_bounded_time(always_503: _Server, waits: list[float]) -> None:
    client = make_s3_client(always_503.endpoint, REGION, "AKTEST", "secret", max_attempts=1)
    policy = S3RetryPolicy(attempts=3, initial_wait_seconds=0.05, max_wait_seconds=0.2, jitter_seconds=0.05)
    store = S3Store(client, "videos-bucket", retry=policy)
    with pytest.raises(StoreUnavailableError) as info:
        store.put_bytes(K.video(), b"v")
    assert "videos-bucket" in str(info.value) and K.video() in str(info.value)
    # 3 store attempts, each a single boto3 attempt, and nothing more
    assert always_503.requests == 3
    assert len(waits) == 2 and all(0 < w <= policy.max_wait_seconds + policy.jitter_seconds for w in waits)


def test_unreachable_endpoint_is_transient_and_bounded(waits: list[float]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # the port is closed now: connections are refused at once, no connect timeout is waited out
    client = make_s3_client(f"http://127.0.0.1:{port}", REGION, "AKTEST", "secret", max_attempts=1)
    store = S3Store(client, "videos-bucket", retry=FAST)
    with pytest.raises(StoreUnavailableError, match="videos-bucket") as info:
        store.exists(K.video())
    assert K.video() in str(info.value)
    assert f"gave up after {FAST.attempts} attempts" in str(info.value)
    assert "EndpointConnectionError" in str(info.value)
    assert len(waits) == FAST.attempts - 1
    assert all(0 < w <= FAST.max_wait_seconds + FAST.jitter_seconds for w in waits)


# a flaky proxy in front of the real SeaweedFS ---------------------------------------------------


class _FlakyProxy(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` requests, then forwards to SeaweedFS unchanged (the
    Host header too, so SigV4 signatures made for the proxy's address still verify)."""

    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        owner = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with owner.lock:
            owner.requests += 1
            fail = owner.requests <= owner.failures
        if fail:
            payload = b"<Error><Code>ServiceUnavailable</Code><Message>flaky</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", owner.upstream_port, timeout=30)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                upstream.putheader(name, value)
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            data = response.read()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            upstream.close()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky_proxy(seaweed_s3: SeaweedS3) -> Iterator[_Server]:
    server = _Server(_FlakyProxy)
    server.failures = 2  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.upstream_port = int(seaweed_s3.endpoint.rsplit(":", 1)[1])  # type: ignore[attr-defined]
    yield server
    server.close()


def test_real_server_behind_two_503s_gets_the_whole_file(
    flaky_proxy: _Server, seaweed_s3: SeaweedS3, s3_bucket: str, tmp_path: Path
) -> None:
    client = make_s3_client(
        flaky_proxy.endpoint, REGION, seaweed_s3.access_key, seaweed_s3.secret_key, max_attempts=1
    )
    store = S3Store(client, s3_bucket, retry=FAST)
    source = tmp_path / "layout.db.gz"
    source.write_bytes(bytes(range(256)) * 4000)
    store.put_file(K.layout_db(), source)
    assert flaky_proxy.requests == 3
    direct = S3Store(seaweed_s3.client(), s3_bucket)
    assert direct.get_bytes(K.layout_db()) == source.read_bytes()
    # a retried download leaves exactly the object at the target
    flaky_proxy.failures = flaky_proxy.requests + 2  # type: ignore[attr-defined]
    out = store.get_file(K.layout_db(), tmp_path / "out" / "layout.db.gz")
    assert out.read_bytes() == source.read_bytes()
    assert [p.name for p in out.parent.iterdir()] == ["layout.db.gz"]
