"""Artifact store on a local directory (the default; also what tests and the CLI use).

The key ``{tenant}/client/videos/{video}/video.mp4`` is the file ``root/{tenant}/client/...``.
Writes go to a hidden temporary file next to the target and are renamed into place, so a reader
never sees a half-written artifact and a crash leaves no partial object under its real name.
"""

from __future__ import annotations

import builtins
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from caption_assets.core.errors import BadInputError
from caption_assets.core.keys import ensure_operations_key, ensure_within_tenant, is_operations_key
from caption_assets.core.store.base import ArtifactStore, ObjectNotFoundError, StoreError

_COPY_BUFFER = 1024 * 1024


class LocalStore(ArtifactStore):
    def __init__(self, root: Path, tenant_exists: Callable[[str], bool] | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self.tenant_exists = tenant_exists

    def __repr__(self) -> str:
        return f"LocalStore(root={str(self.root)!r})"

    # paths --------------------------------------------------------------------------------------
    def path_of(self, key: str) -> Path:
        """The file that holds ``key`` (validated; the tenant checked when a callback is set)."""
        self._check_key(key)
        return self._path(key)

    def _path(self, key: str) -> Path:
        """The file of ``key``, confined to ``root/{tenant}/``. Every component below the root is
        checked with ``lstat``: a symbolic link planted inside the store (by hand, by a restored
        backup) could otherwise lead out of the root or into another tenant's prefix, and the
        key checks alone cannot see that."""
        parts = key.split("/")
        path = self.root.joinpath(*parts)
        current = self.root
        for part in parts:
            current = current / part
            if current.is_symlink():
                raise BadInputError(
                    f"key {key!r} passes through a symbolic link in the store "
                    f"({current.relative_to(self.root).as_posix()}); the store refuses links"
                )
        if not _is_within(path, self.root / parts[0]):
            raise BadInputError(f"key {key!r} resolves outside its tenant's prefix")
        return path

    def check_writable(self) -> None:
        """Fail at start, in one line, when the directory cannot take a write (read-only mount,
        permissions, a full disk) instead of at the first upload with an OSError traceback."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=self.root)
            try:
                os.write(fd, b"x")
            finally:
                os.close(fd)
                Path(probe).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(
                f"the artifact directory {self.root} cannot be written ({exc.strerror or exc}); "
                "make it writable or point CAPTION_ASSETS_DATA_DIR elsewhere"
            ) from None

    def _write(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        target = self.path_of(key)
        tmp_name: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.replace(tmp_name, target)
        except BaseException as exc:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                # a full disk or a read-only mount: one line naming the object, not a traceback
                # with the store's paths
                raise StoreError(
                    f"cannot store {key}: {exc.strerror or type(exc).__name__}", key=key
                ) from None
            raise

    def _existing(self, key: str) -> Path:
        path = self.path_of(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"{key} is not in the store at {self.root}", key=key)
        return path

    # ArtifactStore ------------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._write(key, lambda fh: fh.write(data))

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        source = Path(path)
        if not source.is_file():
            raise ObjectNotFoundError(f"cannot store {key}: local file {source} does not exist", key=key)

        def copy(fh: BinaryIO) -> None:
            with source.open("rb") as src:
                shutil.copyfileobj(src, fh, _COPY_BUFFER)

        self._write(key, copy)

    def put_stream(self, key: str, stream: BinaryIO, content_type: str | None = None) -> None:
        self._write(key, lambda fh: shutil.copyfileobj(stream, fh, _COPY_BUFFER))

    def get_bytes(self, key: str) -> bytes:
        return self._existing(key).read_bytes()

    def get_file(self, key: str, path: Path) -> Path:
        source = self._existing(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as dst, source.open("rb") as src:
                shutil.copyfileobj(src, dst, _COPY_BUFFER)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return target

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def size(self, key: str) -> int:
        path = self.path_of(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"{key} is not in the store", key=key)
        return path.stat().st_size

    def list(self, prefix: str) -> Iterator[str]:
        return iter(self._walk(prefix)[0])

    # builtins.list: in the class body ``list`` is the method above
    def _walk(self, prefix: str) -> tuple[builtins.list[str], builtins.list[Path]]:
        """The keys under ``prefix`` and the symbolic links among them (never followed)."""
        self._check_prefix(prefix)
        # S3 semantics: a prefix is a string prefix, not a directory ("a/fr" matches "a/frame_1")
        directory_part, _, _ = prefix.rpartition("/")
        start = self._path(directory_part) if directory_part else self.root
        if not start.is_dir():
            return [], []
        keys: list[str] = []
        links: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(start):
            base = Path(dirpath).relative_to(self.root).as_posix()
            for name in dirnames + filenames:
                if (Path(dirpath) / name).is_symlink() and f"{base}/{name}".startswith(prefix):
                    links.append(Path(dirpath) / name)
            # os.walk does not descend into linked directories; hidden ones hold no objects
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                key = f"{base}/{name}"
                if not key.startswith(prefix) or (Path(dirpath) / name).is_symlink():
                    continue
                try:
                    ensure_operations_key(key) if is_operations_key(key) else ensure_within_tenant(key)
                except BadInputError:
                    continue  # temporary .part files and anything not written through the store
                keys.append(key)
        keys.sort()
        return keys, links

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``, and the symbolic links there (the links, never
        what they point at). Goes through everything before reporting what it could not delete."""
        keys, links = self._walk(prefix)
        parents: set[Path] = set()
        failed: list[str] = []
        for path in [self.root.joinpath(*k.split("/")) for k in keys] + links:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                failed.append(f"{path.relative_to(self.root).as_posix()} ({exc.strerror})")
            parents.add(path.parent)
        self._prune(parents)
        if failed:
            raise StoreError(
                f"deleting {prefix!r}: {len(failed)} of {len(keys) + len(links)} entries could "
                f"not be deleted: {', '.join(failed[:3])}"
            )
        return len(keys)

    def _prune(self, directories: set[Path]) -> None:
        # empty directories left by a delete would otherwise accumulate per video and version
        for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
            current = directory
            while current != self.root and _is_within(current, self.root):
                try:
                    current.rmdir()
                except OSError:
                    break
                current = current.parent

    def presign_get(self, key: str, expires_seconds: int = 3600) -> str:
        """A ``file://`` URI of the object's path. For local use only: it grants nothing remotely,
        does not expire and works only on this machine."""
        self._check_tenant_key(key)
        return self._path(key).as_uri()

    def presign_put(self, key: str, expires_seconds: int = 3600) -> str:
        """A ``file://`` URI where the object would be written. Local use only (see presign_get)."""
        self._check_tenant_key(key)
        return self._path(key).as_uri()


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True
