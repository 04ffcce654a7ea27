"""Artifact store on S3 (Wasabi in production, SeaweedFS in tests) through a boto3 client.

The Dagster resource builds the client with dagster-aws ``S3Resource(...).get_client()``; tests and
the CLI can use :func:`make_s3_client`. Either way this adapter:

- retries transient failures (throttling, 5xx, connection resets, timeouts) with exponential
  backoff and jitter (tenacity), on top of at most a couple of boto3 attempts, so the worst-case
  time of one call stays bounded; when they run out it raises ``StoreUnavailableError``;
- fails at once on errors retrying cannot fix (access denied, bad credentials, missing bucket,
  missing key), with a message naming bucket and key;
- streams large uploads as multipart uploads and downloads into a temporary file;
- signs presigned URLs with SigV4 even when the client was created without an explicit signature
  version (boto3 then presigns S3 URLs with the legacy SigV2 scheme).
"""

from __future__ import annotations

import builtins
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol, TypedDict, TypeVar, cast

import boto3
import botocore
import botocore.exceptions
from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from caption_assets.core.errors import AdmissionError, BadInputError, StoreUnavailableError
from caption_assets.core.store.base import (
    ArtifactStore,
    BucketNotFoundError,
    ObjectNotFoundError,
    StoreAccessDeniedError,
    StoreError,
)

MiB = 1024 * 1024
T = TypeVar("T")

_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidToken",
        "ExpiredToken",
        "InvalidSecurity",
        "403",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
        "502",
        "504",
        "429",
    }
)
_TRANSIENT_BOTO_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.ConnectionError,  # endpoint unreachable, connect timeout
    botocore.exceptions.HTTPClientError,  # connection closed/reset, read timeout, streaming errors
    botocore.exceptions.IncompleteReadError,
    ConnectionError,  # the builtin: resets surfacing from socket reads outside botocore
    TimeoutError,
)


# boto3 has no type information here: the client is ``Any``, and the parts of its responses this
# adapter reads are typed where they come in (cast to these shapes, as the S3 API documents them)
class _StreamingBody(Protocol):
    def read(self) -> bytes: ...

    def __enter__(self) -> _StreamingBody: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class _GetObjectOutput(TypedDict):
    Body: _StreamingBody


class _HeadObjectOutput(TypedDict):
    ContentLength: int


class _ListedObject(TypedDict):
    Key: str


class _ListObjectsPage(TypedDict, total=False):
    Contents: list[_ListedObject]
    IsTruncated: bool
    NextContinuationToken: str


class _DeleteError(TypedDict, total=False):
    Key: str
    Code: str
    Message: str


class _DeleteObjectsOutput(TypedDict, total=False):
    Errors: list[_DeleteError]


class _ErrorDetail(TypedDict, total=False):
    Code: str
    Message: str


class _ResponseMetadata(TypedDict, total=False):
    HTTPStatusCode: int


class _ErrorResponse(TypedDict, total=False):
    """``botocore.exceptions.ClientError.response``."""

    Error: _ErrorDetail
    ResponseMetadata: _ResponseMetadata


@dataclass(frozen=True)
class S3RetryPolicy:
    """Retries around each S3 call. Worst case per call is about ``max_delay_seconds`` plus one
    request timeout."""

    attempts: int = 5
    initial_wait_seconds: float = 0.25
    max_wait_seconds: float = 4.0
    jitter_seconds: float = 0.25
    max_delay_seconds: float = 30.0


def make_s3_client(
    endpoint_url: str | None,
    region: str,
    access_key: str | None,
    secret_key: str | None,
    *,
    max_attempts: int = 2,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    max_pool_connections: int = 16,
) -> Any:
    """A boto3 S3 client for S3-compatible services: SigV4, path-style addressing.

    boto3's own retries stay small (``max_attempts`` in total) because the store retries with
    backoff itself. Checksums are computed only when an operation requires them: third-party S3
    services (Wasabi, SeaweedFS) do not all accept the newer default of a CRC trailer on every
    upload.
    """
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )


def _presign_with_sigv4(signature_version: Any, **_: Any) -> str | None:
    # botocore registers a handler that turns S3 presigning into SigV2 unless the client config
    # names a signature version explicitly (dagster-aws's S3Resource does not); this one runs first
    if isinstance(signature_version, str) and signature_version.endswith("-query"):
        if signature_version.startswith(("v4a", "v4-s3express")):
            return None
        return "s3v4-query"
    return None


class S3Store(ArtifactStore):
    def __init__(
        self,
        client: Any,
        bucket: str,
        tenant_exists: Callable[[str], bool] | None = None,
        multipart_threshold: int = 8 * MiB,
        multipart_chunksize: int = 8 * MiB,
        max_concurrency: int = 4,
        retry: S3RetryPolicy | None = None,
    ) -> None:
        if not bucket:
            raise BadInputError("S3Store needs a bucket name")
        self.client = client
        self.bucket = bucket
        self.tenant_exists = tenant_exists
        self.retry = retry or S3RetryPolicy()
        self.multipart_threshold = multipart_threshold
        self.transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
            use_threads=max_concurrency > 1,
        )
        # s3transfer reads each part of a *stream* into memory before sending it; this caps how
        # many such parts exist at once (default 10 parts = 80 MiB per upload). boto3's
        # TransferConfig does not take it as an argument, s3transfer reads the attribute.
        self.transfer_config.max_in_memory_upload_chunks = max(2, max_concurrency)
        self._bucket_checked = False
        client.meta.events.register_first(
            "choose-signer.s3", _presign_with_sigv4, unique_id="caption-assets-presign-sigv4"
        )

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, endpoint={self.client.meta.endpoint_url!r})"

    # error handling -----------------------------------------------------------------------------
    def _where(self, key: str | None) -> str:
        return f"s3://{self.bucket}/{key}" if key is not None else f"s3://{self.bucket}"

    def _translate(self, exc: BaseException, action: str, key: str | None) -> BaseException:
        """Map a boto error to the project's taxonomy (transient -> StoreUnavailableError)."""
        where = self._where(key)
        if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, BaseException):
            exc = exc.__context__
        if isinstance(exc, RetriesExceededError) and isinstance(exc.last_exception, BaseException):
            exc = exc.last_exception
        if isinstance(exc, botocore.exceptions.ClientError):
            response = cast(_ErrorResponse, exc.response)
            error = response.get("Error", {}) or {}
            code = str(error.get("Code", ""))
            message = error.get("Message") or str(exc)
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code == "NoSuchBucket":
                return BucketNotFoundError(
                    f"{action} {where}: bucket {self.bucket!r} does not exist ({message})",
                    bucket=self.bucket,
                    key=key,
                )
            if code in _ACCESS_CODES or status == 403:
                return StoreAccessDeniedError(
                    f"{action} {where}: access refused with {code or status} ({message}); "
                    f"check the access key, secret and the bucket policy of {self.bucket!r}",
                    bucket=self.bucket,
                    key=key,
                )
            if code in _NOT_FOUND_CODES:
                return ObjectNotFoundError(
                    f"{action} {where}: no such key {key!r} in bucket {self.bucket!r}",
                    bucket=self.bucket,
                    key=key,
                )
            if code in _TRANSIENT_CODES or status >= 500 or status == 429:
                return StoreUnavailableError(f"{action} {where}: {code or status} {message}")
            return StoreError(f"{action} {where}: {code or status} {message}", bucket=self.bucket, key=key)
        if isinstance(exc, _TRANSIENT_BOTO_ERRORS):
            return StoreUnavailableError(f"{action} {where}: {type(exc).__name__}: {exc}")
        return exc

    def _call(
        self,
        action: str,
        key: str | None,
        fn: Callable[[], T],
        *,
        before_retry: Callable[[], object] | None = None,
        retryable: bool = True,
    ) -> T:
        policy = self.retry

        def before_sleep(state: RetryCallState) -> None:
            if before_retry is not None:
                before_retry()

        retrying = Retrying(
            retry=retry_if_exception_type(StoreUnavailableError),
            stop=stop_after_attempt(policy.attempts if retryable else 1)
            | stop_after_delay(policy.max_delay_seconds),
            wait=wait_exponential_jitter(
                multiplier=policy.initial_wait_seconds,
                max=policy.max_wait_seconds,
                jitter=policy.jitter_seconds,
            ),
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    try:
                        return fn()
                    except Exception as exc:
                        translated = self._translate(exc, action, key)
                        if translated is exc:
                            raise
                        raise translated from exc
        except StoreUnavailableError as exc:
            raise StoreUnavailableError(
                f"{exc} (gave up after {attempts} attempt{'s' if attempts != 1 else ''}; "
                f"bucket {self.bucket!r}, key {key!r})"
            ) from exc
        raise AssertionError("unreachable: tenacity either returned or raised")

    def _missing(self, action: str, key: str) -> BaseException:
        """The error for a 404 on ``key``: HEAD answers a bare 404 for a missing bucket and a missing
        key alike, so the bucket is checked once per store to tell a configuration error apart."""
        if not self._bucket_checked:
            try:
                self._call("check bucket", None, lambda: self.client.head_bucket(Bucket=self.bucket))
            except ObjectNotFoundError:
                return BucketNotFoundError(
                    f"{action} {self._where(key)}: bucket {self.bucket!r} does not exist",
                    bucket=self.bucket,
                    key=key,
                )
            self._bucket_checked = True
        return ObjectNotFoundError(
            f"{action} {self._where(key)}: no such key {key!r} in bucket {self.bucket!r}",
            bucket=self.bucket,
            key=key,
        )

    # writes -------------------------------------------------------------------------------------
    def _extra(self, content_type: str | None) -> dict[str, str]:
        return {"ContentType": content_type} if content_type else {}

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._check_key(key)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise BadInputError(f"put_bytes {key}: data must be bytes, got {type(data).__name__}")
        payload = bytes(data)
        self._call(
            "put",
            key,
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=payload, **self._extra(content_type)
            ),
        )

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        self._check_key(key)
        source = Path(path)
        if not source.is_file():
            raise ObjectNotFoundError(f"cannot store {key}: local file {source} does not exist", key=key)
        size = source.stat().st_size
        if size < self.multipart_threshold:
            with source.open("rb") as fh:
                self._put_seekable(key, fh, content_type, size)
            return
        extra = self._extra(content_type)
        # by file name s3transfer reads each part from disk lazily as it is sent, so memory stays at
        # a few read buffers however large the video is (a file object would be read part by part
        # into memory ahead of sending)
        self._call(
            "put",
            key,
            lambda: self.client.upload_file(
                str(source), self.bucket, key, ExtraArgs=extra or None, Config=self.transfer_config
            ),
        )

    def put_stream(self, key: str, stream: BinaryIO, content_type: str | None = None) -> None:
        """Upload from a binary stream (multipart when large). A seekable stream is rewound and
        retried on transient errors; a non-seekable one gets a single attempt, since the bytes
        already sent cannot be read again."""
        self._check_key(key)
        seekable = False
        try:
            seekable = bool(stream.seekable())
        except (AttributeError, OSError):
            seekable = False
        if seekable:
            self._put_seekable(key, stream, content_type, None)
            return
        self._call(
            "put",
            key,
            lambda: self.client.upload_fileobj(
                stream,
                self.bucket,
                key,
                ExtraArgs=self._extra(content_type) or None,
                Config=self.transfer_config,
            ),
            retryable=False,
        )

    def _put_seekable(self, key: str, fh: BinaryIO, content_type: str | None, size: int | None) -> None:
        start = fh.tell()
        extra = self._extra(content_type)
        if size is not None and size < self.multipart_threshold:
            # one PutObject straight from the file: no transfer-manager thread pool per small frame
            def upload() -> object:
                return self.client.put_object(Bucket=self.bucket, Key=key, Body=fh, **extra)
        else:

            def upload() -> object:
                # multipart above the threshold; at most a few parts are in memory at a time
                return self.client.upload_fileobj(
                    fh, self.bucket, key, ExtraArgs=extra or None, Config=self.transfer_config
                )

        self._call("put", key, upload, before_retry=lambda: fh.seek(start))

    # reads --------------------------------------------------------------------------------------
    def get_bytes(self, key: str) -> bytes:
        self._check_key(key)

        def read() -> bytes:
            response = cast(_GetObjectOutput, self.client.get_object(Bucket=self.bucket, Key=key))
            with response["Body"] as body:
                return body.read()

        return self._call("get", key, read)

    def get_file(self, key: str, path: Path) -> Path:
        self._check_key(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:

                def download() -> None:
                    fh.seek(0)
                    fh.truncate()
                    self.client.download_fileobj(self.bucket, key, fh, Config=self.transfer_config)

                try:
                    self._call("get", key, download)
                except ObjectNotFoundError:
                    raise self._missing("get", key) from None
            # renamed only when complete: a failed download leaves no partial file at ``path``
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def exists(self, key: str) -> bool:
        self._check_key(key)
        try:
            self._call("head", key, lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except ObjectNotFoundError:
            error = self._missing("head", key)
            if isinstance(error, BucketNotFoundError):
                raise error from None
            return False
        return True

    def size(self, key: str) -> int:
        self._check_key(key)

        def head() -> _HeadObjectOutput:
            return cast(_HeadObjectOutput, self.client.head_object(Bucket=self.bucket, Key=key))

        try:
            response = self._call("head", key, head)
        except ObjectNotFoundError:
            raise self._missing("head", key) from None
        return int(response["ContentLength"])

    def list(self, prefix: str) -> Iterator[str]:
        self._check_prefix(prefix)
        return self._iter_keys(prefix)

    def _iter_keys(self, prefix: str) -> Iterator[str]:
        # pages are fetched one by one, each with its own retries, so a long listing survives a
        # transient error without starting over
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": 1000}
            if token:
                kwargs["ContinuationToken"] = token

            # bound at definition: a closure over a loop variable reads it only when called
            def list_page(request: dict[str, Any] = kwargs) -> _ListObjectsPage:
                return cast(_ListObjectsPage, self.client.list_objects_v2(**request))

            page = self._call("list", prefix, list_page)
            for item in page.get("Contents", []) or []:
                yield item["Key"]
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
            if not token:
                raise StoreError(
                    f"list {self._where(prefix)}: truncated page without a continuation token",
                    bucket=self.bucket,
                    key=prefix,
                )

    def delete_prefix(self, prefix: str) -> int:
        self._check_prefix(prefix)
        deleted = 0
        batch: list[str] = []
        for key in self._iter_keys(prefix):
            batch.append(key)
            if len(batch) == 1000:  # the DeleteObjects limit
                deleted += self._delete_batch(prefix, batch)
                batch = []
        if batch:
            deleted += self._delete_batch(prefix, batch)
        return deleted

    # builtins.list: in the class body ``list`` is the method above
    def _delete_batch(self, prefix: str, keys: builtins.list[str]) -> int:
        request = {"Objects": [{"Key": k} for k in keys], "Quiet": True}

        def delete() -> _DeleteObjectsOutput:
            return cast(_DeleteObjectsOutput, self.client.delete_objects(Bucket=self.bucket, Delete=request))

        response = self._call("delete", prefix, delete)
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise StoreError(
                f"delete {self._where(prefix)}: {len(errors)} of {len(keys)} keys not deleted, "
                f"first {first.get('Key')!r}: {first.get('Code')} {first.get('Message')}",
                bucket=self.bucket,
                key=first.get("Key"),
            )
        return len(keys)

    # presigned URLs -----------------------------------------------------------------------------
    def _presign(
        self, method: str, key: str, expires_seconds: int, signed: dict[str, Any] | None = None
    ) -> str:
        self._check_tenant_key(key)
        if isinstance(expires_seconds, bool) or not isinstance(expires_seconds, int):
            raise BadInputError("expires_seconds must be an int")
        if not 1 <= expires_seconds <= 7 * 24 * 3600:  # SigV4's maximum is 7 days
            raise BadInputError(f"expires_seconds must be 1..604800, got {expires_seconds}")
        url = self.client.generate_presigned_url(
            method,
            Params={"Bucket": self.bucket, "Key": key, **(signed or {})},
            ExpiresIn=expires_seconds,
        )
        return cast(str, url)

    def presign_get(self, key: str, expires_seconds: int = 3600) -> str:
        return self._presign("get_object", key, expires_seconds)

    def presign_put(
        self,
        key: str,
        expires_seconds: int = 3600,
        *,
        size_bytes: int | None = None,
        content_type: str | None = None,
        max_size_bytes: int | None = None,
    ) -> str:
        """A URL for one PUT of ``key``. With ``size_bytes`` and ``content_type`` both are signed
        into the URL: the server refuses a body of another length or type (the signature no
        longer matches), so a browser cannot send more than it announced, and an announced size
        over ``max_size_bytes`` (the tier's limit) gets no URL at all."""
        signed: dict[str, Any] = {}
        if size_bytes is not None:
            if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 0:
                raise BadInputError(f"size_bytes must be a non-negative int, got {size_bytes!r}")
            if max_size_bytes is not None and size_bytes > max_size_bytes:
                from caption_assets.core.policy.admission import format_size

                raise AdmissionError(
                    f"{key}: an upload of {format_size(size_bytes)} exceeds the limit of "
                    f"{format_size(max_size_bytes)}"
                )
            signed["ContentLength"] = size_bytes
        elif max_size_bytes is not None:
            raise BadInputError("a size limit needs the announced size_bytes to sign")
        if content_type is not None:
            signed["ContentType"] = content_type
        return self._presign("put_object", key, expires_seconds, signed)
