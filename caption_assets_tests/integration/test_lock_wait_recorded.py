"""A step that got its locks only after someone else's was freed says how long it waited (the
operations tables count it as a lock wait); one that found them free waited 0 s."""

from __future__ import annotations

from typing import Any

import pytest

from caption_assets.core.catalog.base import LockResult
from caption_assets.defs.assets.runtime import video_locks

pytestmark = pytest.mark.integration


class RefusedOnce:
    """The catalog, except that the first server-lock request finds the lock held."""

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog
        self.refused = 0

    def acquire_server_lock(self, *args: Any, **kwargs: Any) -> LockResult:
        if not self.refused:
            self.refused += 1
            return LockResult(acquired=False, holder="editor@web", kind="client", expires_at=None)
        return self._catalog.acquire_server_lock(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)


def test_a_lock_wait_is_measured(platform, not_a_video) -> None:
    video_id = platform.upload(not_a_video)
    with video_locks(platform.catalog, video_id, "run-1", databases=("layout",), ttl_seconds=60) as free:
        pass
    assert free.waited_seconds == 0.0

    contended = RefusedOnce(platform.catalog)
    with video_locks(contended, video_id, "run-2", databases=("layout",), ttl_seconds=60) as locks:  # type: ignore[arg-type]
        pass
    assert contended.refused == 1
    assert locks.waited_seconds > 0
