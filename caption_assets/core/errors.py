"""Error taxonomy shared by every layer.

The split that matters operationally: a ``PermanentError`` means retrying cannot help (bad input,
unknown tenant, a limit exceeded) and the video goes to ``error`` at once; a ``TransientError`` means
the same call may succeed later (network, timeouts, capacity, a held lock) and Dagster's RetryPolicy
or tenacity retries it.
"""

from __future__ import annotations

import re

# an absolute path (POSIX) as libraries print it, quoted or not: "/tmp/caption_assets_x/video.mp4"
_ABSOLUTE_PATH = re.compile(r"""(?<![\w.:/])/(?:[^\s'"/]+/)+([^\s'"/]+)""")


def without_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its last part: error details reach tenants,
    and a worker's temporary directories (or a server's layout) are none of their business."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


def shorten(text: str, limit: int = 80) -> str:
    """``text`` bounded for a message: a name of 10 kB must not be echoed whole."""
    return text if len(text) <= limit else f"{text[: limit - 1]}\u2026 ({len(text)} characters)"


class CaptionAssetsError(Exception):
    """Base class for every error this project raises on purpose."""


class PermanentError(CaptionAssetsError):
    """Retrying cannot help; a person has to change the input or the configuration."""


class TransientError(CaptionAssetsError):
    """The same call may succeed later."""


class BadInputError(PermanentError):
    """Untrusted input was rejected: ids, paths, files."""


class BadVideoError(BadInputError):
    """The file is not a decodable video (no video stream, no frames, unreadable container)."""


class NotFoundError(PermanentError):
    """A tenant, video or object the caller named does not exist (or is deleted)."""


class TenantNotFoundError(NotFoundError):
    """The tenant id or name is unknown to the catalog."""


class AdmissionError(PermanentError):
    """The video exceeds a limit of its tenant's tier."""


class StatusTransitionError(PermanentError):
    """The catalog refused a status change that is not an allowed transition."""


class LockHeldError(TransientError):
    """A server lock is held by someone else; try again after ``expires_at``."""

    def __init__(self, video_id: str, database: str, holder: str | None, expires_at: object) -> None:
        self.video_id = video_id
        self.database = database
        self.holder = holder
        self.expires_at = expires_at
        super().__init__(f"{database} lock of video {video_id} is held by {holder} until {expires_at}")


class StoreUnavailableError(TransientError):
    """The object store did not answer (after retries)."""


class CatalogUnavailableError(TransientError):
    """The catalog did not answer (after retries)."""
