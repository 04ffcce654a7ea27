"""The one builder of artifact-store keys (docs/architecture.md, storage keys).

Every key is ``{tenant}/{client|server}/videos/{video}/...`` with ``{tenant}`` and ``{video}`` as
canonical lowercase UUIDs. Keys are built only here, and every key or prefix a store is handed goes
through :func:`ensure_within_tenant` / :func:`ensure_prefix_within_tenant`, so a malformed or
foreign key is refused before it reaches a disk path or an S3 request.

Key parts are restricted to ``[A-Za-z0-9._-]`` (and may not start with a dot): that is everything the
builder produces, and it keeps unicode look-alikes, whitespace, control characters, ``..`` and
backslashes out of both file-system paths and S3 object names.

The one exception is :data:`OPERATIONS_PREFIX`: the platform's own health and usage tables
(``operations/...``), written and read with the service role only. It is no tenant's prefix, so no
tenant's credentials or listings ever reach it, and it is never presigned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from caption_assets.core.errors import BadInputError

__all__ = [
    "CROPPED_MODULOS",
    "MAX_INDEX",
    "OPERATIONS_PREFIX",
    "PREVIEWS",
    "VideoKeys",
    "ensure_prefix_within_tenant",
    "ensure_operations_key",
    "ensure_within_tenant",
    "is_operations_key",
    "key_for_file",
    "key_under",
    "operations_key",
    "tenant_of",
    "tenant_prefix",
    "validate_uuid",
]

# explicit ASCII classes: \d and \w would also accept non-ASCII digits and letters
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CANONICAL_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PART_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")

CROPPED_MODULOS: tuple[int, ...] = (16, 4, 1)
# frame indices are zero-padded to 10 digits; a larger index would break the sort order of names
MAX_INDEX = 10**10 - 1
# the pictures the assets draw for a person (core/previews.py): contact sheet of full_frames,
# zones and boxes of layout_db, band crops of cropped_frames, cue timeline of captions_db
PREVIEWS: tuple[str, ...] = ("contact_sheet", "layout", "bands", "timeline")
# S3 limits a key to 1,024 bytes; refuse earlier than the server would
MAX_KEY_LENGTH = 1024
# the service role's own objects (health and usage tables and plots), outside every tenant
OPERATIONS_PREFIX = "operations/"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_uuid(value: str, what: str) -> str:
    """Return ``value`` as a canonical lowercase UUID, or raise ``BadInputError`` naming ``what``.

    Only the hyphenated 36-character form is accepted (no braces, ``urn:uuid:`` or bare hex), so one
    id has exactly one spelling and therefore one key prefix and one catalog row; the catalog
    adapters check every id with this before any SQL is sent.
    """
    if not isinstance(value, str):
        raise BadInputError(f"{what} must be a UUID string, got {type(value).__name__} {_show(value)}")
    if _UUID_RE.fullmatch(value) is None:
        raise BadInputError(
            f"{what} must be a UUID: {_show(value)} is not a UUID (36 characters, hyphenated)"
        )
    return value.lower()


def tenant_prefix(tenant_id: str) -> str:
    """``"{tenant}/"``: the prefix every key of the tenant starts with."""
    return validate_uuid(tenant_id, "tenant id") + "/"


def _check_parts(parts: list[str], original: str, what: str) -> None:
    for part in parts:
        if part == "":
            raise BadInputError(f"{what} has an empty path part: {_show(original)}")
        if _PART_RE.fullmatch(part) is None:
            # covers '..', '.', hidden names, backslashes, whitespace, unicode and control chars
            raise BadInputError(f"{what} has a disallowed path part {_show(part)}: {_show(original)}")


def _check_parts_shape(key: str, what: str, allow_trailing_slash: bool) -> list[str]:
    """The key's parts after the checks every key shares (string, length, relative, no
    backslash, allowed characters)."""
    if not isinstance(key, str):
        raise BadInputError(f"{what} must be a string, got {type(key).__name__}")
    if key == "":
        raise BadInputError(f"{what} is empty")
    if len(key.encode("utf-8")) > MAX_KEY_LENGTH:
        raise BadInputError(f"{what} is longer than {MAX_KEY_LENGTH} bytes: {_show(key)}")
    if key.startswith("/"):
        raise BadInputError(f"{what} must be relative, not absolute: {_show(key)}")
    if "\\" in key:
        raise BadInputError(f"{what} contains a backslash: {_show(key)}")
    parts = key.split("/")
    if allow_trailing_slash and len(parts) > 1 and parts[-1] == "":
        parts = parts[:-1]
    _check_parts(parts, key, what)
    return parts


def _check_shape(key: str, what: str, allow_trailing_slash: bool) -> list[str]:
    parts = _check_parts_shape(key, what, allow_trailing_slash)
    if _CANONICAL_UUID_RE.fullmatch(parts[0]) is None:
        raise BadInputError(f"{what} does not start with a lowercase tenant UUID: {_show(key)}")
    return parts


def tenant_of(key: str) -> str:
    """The tenant id a key (or prefix) belongs to, after validating the whole key."""
    return _check_shape(key, "key", allow_trailing_slash=True)[0]


def ensure_within_tenant(key: str, tenant_id: str | None = None) -> str:
    """Return ``key`` if it is a well-formed object key inside ``{tenant}/``; raise otherwise.

    ``tenant_id=None`` checks only the shape (a UUID tenant first); stores use that form and then
    ask the catalog whether the tenant exists.
    """
    parts = _check_shape(key, "key", allow_trailing_slash=False)
    if len(parts) < 2:
        raise BadInputError(f"key names no object below the tenant prefix: {_show(key)}")
    if tenant_id is not None and parts[0] != validate_uuid(tenant_id, "tenant id"):
        raise BadInputError(f"key {_show(key)} is outside tenant {tenant_id}")
    return key


def ensure_prefix_within_tenant(prefix: str, tenant_id: str | None = None) -> str:
    """Like :func:`ensure_within_tenant` for a listing prefix (a trailing ``/`` is allowed).

    The prefix must contain at least the whole ``{tenant}/`` part, so a listing or delete can never
    span two tenants (``"0b1"`` would match every tenant whose id starts that way).
    """
    parts = _check_shape(prefix, "prefix", allow_trailing_slash=True)
    if len(parts) == 1 and not prefix.endswith("/"):
        raise BadInputError(f"prefix must include the '/' after the tenant id: {_show(prefix)}")
    if tenant_id is not None and parts[0] != validate_uuid(tenant_id, "tenant id"):
        raise BadInputError(f"prefix {_show(prefix)} is outside tenant {tenant_id}")
    return prefix


def is_operations_key(key: object) -> bool:
    """Whether ``key`` (or a prefix) names the operations area rather than a tenant's (its shape
    is checked by :func:`ensure_operations_key`)."""
    return isinstance(key, str) and key.startswith(OPERATIONS_PREFIX)


def ensure_operations_key(key: str, *, prefix: bool = False) -> str:
    """Return ``key`` if it is a well-formed object key (or, with ``prefix``, listing prefix) of
    the operations area; raise ``BadInputError`` otherwise."""
    what = "operations prefix" if prefix else "operations key"
    parts = _check_parts_shape(key, what, allow_trailing_slash=prefix)
    if parts[0] + "/" != OPERATIONS_PREFIX:
        raise BadInputError(f"{what} must start with {OPERATIONS_PREFIX!r}: {_show(key)}")
    if not prefix and len(parts) < 2:
        raise BadInputError(f"{what} names no object below {OPERATIONS_PREFIX!r}: {_show(key)}")
    return key


def operations_key(*parts: str) -> str:
    """``operations/{part}/{part}...``: the key of one operations object (parts checked like
    every key part)."""
    if not parts:
        raise BadInputError("an operations key needs at least one part below the prefix")
    return ensure_operations_key(OPERATIONS_PREFIX + "/".join(parts))


def key_under(prefix: str, relative: str) -> str:
    """``prefix`` + a relative ``a/b/c`` path, both validated; the result is a checked key."""
    ensure_prefix_within_tenant(prefix)
    if not prefix.endswith("/"):
        raise BadInputError(f"prefix must end with '/': {_show(prefix)}")
    if not isinstance(relative, str) or relative == "":
        raise BadInputError(f"relative key part is empty: {_show(relative)}")
    if relative.startswith("/") or "\\" in relative:
        raise BadInputError(f"relative key part must be a relative posix path: {_show(relative)}")
    _check_parts(relative.split("/"), relative, "relative key part")
    return ensure_within_tenant(prefix + relative)


def key_for_file(prefix: str, root: Path, path: Path) -> str:
    """The key of local file ``path`` (somewhere under directory ``root``) below ``prefix``.

    Used to mirror a work directory into the store: ``root/a/b.jpg`` -> ``{prefix}a/b.jpg``. A path
    that resolves outside ``root`` (``..``, a symlink pointing elsewhere) is refused.
    """
    root_resolved = Path(root).resolve()
    path_resolved = Path(path).resolve()
    try:
        relative = path_resolved.relative_to(root_resolved)
    except ValueError:
        raise BadInputError(f"file {path} is not inside {root}") from None
    if relative == Path("."):
        raise BadInputError(f"file {path} is the directory {root} itself")
    return key_under(prefix, PurePosixPath(*relative.parts).as_posix())


def _check_index(value: int, what: str) -> int:
    # bool is an int subclass; True as a frame index is always a bug
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInputError(f"{what} must be an int, got {type(value).__name__} {_show(value)}")
    if value < 0 or value > MAX_INDEX:
        raise BadInputError(f"{what} must be in 0..{MAX_INDEX}, got {value}")
    return value


@dataclass(frozen=True)
class VideoKeys:
    """Every key of one video. Ids are normalised to lowercase in ``__post_init__``."""

    tenant_id: str
    video_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "tenant_id", validate_uuid(self.tenant_id, "tenant id"))
        object.__setattr__(self, "video_id", validate_uuid(self.video_id, "video id"))

    # prefixes -----------------------------------------------------------------------------------
    def tenant_prefix(self) -> str:
        return f"{self.tenant_id}/"

    def client_prefix(self) -> str:
        """Everything the web app's client credentials may read: ``{tenant}/client/videos/{video}/``."""
        return f"{self.tenant_id}/client/videos/{self.video_id}/"

    def server_prefix(self) -> str:
        """Server-only artifacts (never in client credentials): ``{tenant}/server/videos/{video}/``."""
        return f"{self.tenant_id}/server/videos/{self.video_id}/"

    def full_frames_prefix(self) -> str:
        return self.client_prefix() + "full_frames/"

    def thumbnails_prefix(self) -> str:
        return self.client_prefix() + "full_frames_thumbnails/"

    def cropped_frames_prefix(self, version: int) -> str:
        _check_index(version, "cropped frames version")
        return self.client_prefix() + f"cropped_frames_v{version}/"

    def previews_prefix(self) -> str:
        return self.client_prefix() + "previews/"

    # objects ------------------------------------------------------------------------------------
    def video(self) -> str:
        return self.client_prefix() + "video.mp4"

    def full_frame(self, index: int) -> str:
        """``index`` is in tenths of a second (0, 100, 200, ... at 0.1 Hz)."""
        return self.full_frames_prefix() + f"frame_{_check_index(index, 'frame index'):010d}.jpg"

    def thumbnail(self, index: int) -> str:
        return self.thumbnails_prefix() + f"frame_{_check_index(index, 'frame index'):010d}.jpg"

    def layout_db(self) -> str:
        return self.client_prefix() + "layout.db.gz"

    def cropped_chunk(self, version: int, modulo: int, first: int) -> str:
        if isinstance(modulo, bool) or modulo not in CROPPED_MODULOS:
            raise BadInputError(f"modulo must be one of {CROPPED_MODULOS}, got {_show(modulo)}")
        first = _check_index(first, "first frame index")
        return self.cropped_frames_prefix(version) + f"modulo_{modulo}/chunk_{first:010d}.webm"

    def captions_db(self) -> str:
        return self.client_prefix() + "captions.db.gz"

    def captions_srt(self) -> str:
        return self.client_prefix() + "captions.srt"

    def captions_vtt(self) -> str:
        return self.client_prefix() + "captions.vtt"

    def preview(self, name: str) -> str:
        """``previews/{name}.png``, ``name`` one of ``PREVIEWS``."""
        if name not in PREVIEWS:
            raise BadInputError(f"preview must be one of {PREVIEWS}, got {_show(name)}")
        return self.previews_prefix() + f"{name}.png"

    def raw_ocr_db(self) -> str:
        return self.server_prefix() + "raw-ocr.db.gz"

    # mapping ------------------------------------------------------------------------------------
    def relative(self, key: str) -> str:
        """The part of ``key`` after this video's client or server prefix (``full_frames/x.jpg``).

        Raises ``BadInputError`` for a key of another video or tenant.
        """
        ensure_within_tenant(key, self.tenant_id)
        for prefix in (self.client_prefix(), self.server_prefix()):
            if key.startswith(prefix) and len(key) > len(prefix):
                return key[len(prefix) :]
        raise BadInputError(f"key {_show(key)} does not belong to video {self.video_id}")

    def key_for_file(self, root: Path, path: Path, *, server: bool = False) -> str:
        """The key of ``path`` (a file under local ``root``) below this video's prefix."""
        prefix = self.server_prefix() if server else self.client_prefix()
        return key_for_file(prefix, root, path)
