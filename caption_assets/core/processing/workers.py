"""Side-by-side work on a few threads, with back-pressure.

The heavy libraries used here (libvpx, onnxruntime, OpenCV) release the GIL, so threads give real
parallelism while the caller keeps decoding. A producer that outruns its workers is made to wait, so
the images waiting for a worker stay few whatever the video's length.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Generic, TypeVar

R = TypeVar("R")


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class BoundedSubmitter(Generic[R]):
    """Submits calls to ``executor``; at most ``limit`` are pending at once (``submit`` blocks).

    ``results`` returns in submission order. Leaving the ``with`` block on an error cancels what has
    not started and waits for what has, so no worker outlives the step that started it.
    """

    def __init__(self, executor: Executor, limit: int) -> None:
        self._executor = executor
        self._slots = threading.BoundedSemaphore(max(1, limit))
        self._futures: list[Future[R]] = []

    def submit(self, fn: Callable[..., R], *args: object) -> Future[R]:
        self._slots.acquire()
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)
        return future

    def results(self) -> list[R]:
        return [future.result() for future in self._futures]

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()
        for future in self._futures:
            if not future.cancelled():
                future.exception()  # waits; the error itself is the caller's to report

    def __enter__(self) -> BoundedSubmitter[R]:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.cancel()
