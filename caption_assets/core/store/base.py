"""The artifact store interface (Wasabi/S3 in production, a local directory by default).

Keys come only from ``caption_assets.core.keys``; every adapter checks that a key starts with a UUID
tenant prefix and, when given a ``tenant_exists`` callback, that the catalog knows that tenant. The
one exemption is the operations area (``keys.OPERATIONS_PREFIX``): the service role's own tables,
which are read and written like any object but never presigned, so no client ever holds a URL there.
"""

from __future__ import annotations

import abc
import gzip
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from caption_assets.core.errors import (
    BadInputError,
    NotFoundError,
    PermanentError,
    TenantNotFoundError,
)
from caption_assets.core.keys import (
    ensure_operations_key,
    ensure_prefix_within_tenant,
    ensure_within_tenant,
    is_operations_key,
    tenant_of,
)

GZIP_CONTENT_TYPE = "application/gzip"
_COPY_BUFFER = 1024 * 1024


class StoreError(PermanentError):
    """A store request failed for a reason retrying cannot fix; names bucket (if any) and key."""

    def __init__(self, message: str, *, bucket: str | None = None, key: str | None = None) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(message)


class StoreAccessDeniedError(StoreError):
    """Credentials were refused (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch)."""


class BucketNotFoundError(StoreError):
    """The configured bucket does not exist: a configuration error, not a missing artifact."""


class ObjectNotFoundError(NotFoundError):
    """The key is not in the store."""

    def __init__(self, message: str, *, bucket: str | None = None, key: str | None = None) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(message)


class ArtifactStore(abc.ABC):
    tenant_exists: Callable[[str], bool] | None = None

    @abc.abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    @abc.abstractmethod
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Stream a local file (multipart for large files on S3)."""

    @abc.abstractmethod
    def put_stream(self, key: str, stream: BinaryIO, content_type: str | None = None) -> None: ...

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abc.abstractmethod
    def get_file(self, key: str, path: Path) -> Path:
        """Download to ``path`` (parent directories created); returns ``path``."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Bytes of the stored object (what was really uploaded, whatever its catalog row says)."""

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix`` (paginated underneath), sorted."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix`` (batched); returns how many."""

    @abc.abstractmethod
    def presign_get(self, key: str, expires_seconds: int = 3600) -> str: ...

    @abc.abstractmethod
    def presign_put(self, key: str, expires_seconds: int = 3600) -> str: ...

    # gzip helpers for the .db.gz artifacts ------------------------------------------------------
    def put_gzip_file(self, key: str, path: Path) -> None:
        """Store ``path`` gzip-compressed under ``key`` (a ``.gz`` key)."""
        self._check_key(key)
        if not key.endswith(".gz"):
            raise BadInputError(f"gzip artifacts need a .gz key, got {key!r}")
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"cannot store {key}: local file {path} does not exist")
        # compress to a temporary file, not memory: captions and layout databases can be large
        fd, tmp_name = tempfile.mkstemp(prefix=".gz-", suffix=".gz")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as raw, path.open("rb") as src:
                # mtime=0 and no file name: the same database gives the same bytes
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    shutil.copyfileobj(src, gz, _COPY_BUFFER)
            self.put_file(key, tmp, GZIP_CONTENT_TYPE)
        finally:
            tmp.unlink(missing_ok=True)

    def get_gunzip_file(self, key: str, path: Path) -> Path:
        """Fetch a ``.gz`` key and write its decompressed content to ``path``."""
        self._check_key(key)
        if not key.endswith(".gz"):
            raise BadInputError(f"gzip artifacts need a .gz key, got {key!r}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, gz_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".gz", dir=path.parent)
        os.close(fd)
        gz_path = Path(gz_name)
        out_tmp = path.with_name(f".{path.name}.part")
        try:
            self.get_file(key, gz_path)
            try:
                with gzip.open(gz_path, "rb") as src, out_tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst, _COPY_BUFFER)
            except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
                raise BadInputError(f"{key} is not valid gzip data: {exc}") from exc
            # replace only when complete so a reader never sees half a database
            os.replace(out_tmp, path)
            return path
        finally:
            gz_path.unlink(missing_ok=True)
            out_tmp.unlink(missing_ok=True)

    # validation shared by adapters --------------------------------------------------------------
    def _check_key(self, key: str) -> str:
        if is_operations_key(key):
            return ensure_operations_key(key)
        return self._check_tenant_key(key)

    def _check_tenant_key(self, key: str) -> str:
        """A tenant's key only: what a presigned URL may name (the operations area is the
        service role's and is never handed to a client)."""
        ensure_within_tenant(key)
        self._check_tenant(tenant_of(key))
        return key

    def _check_prefix(self, prefix: str) -> str:
        if is_operations_key(prefix):
            return ensure_operations_key(prefix, prefix=True)
        ensure_prefix_within_tenant(prefix)
        self._check_tenant(tenant_of(prefix))
        return prefix

    def _check_tenant(self, tenant_id: str) -> None:
        check = self.tenant_exists
        if check is None:
            return
        known = self.__dict__.setdefault("_known_tenants", set())
        # only positive answers are cached: a frame upload loop must not hit the catalog per frame,
        # but a tenant created a moment later must not stay refused
        if tenant_id in known:
            return
        if not check(tenant_id):
            raise TenantNotFoundError(f"tenant {tenant_id} is not known to the catalog")
        known.add(tenant_id)
