"""Side-by-side work with back-pressure."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from caption_assets.core.processing.workers import BoundedSubmitter

pytestmark = pytest.mark.unit


class _WatchedSlots(threading.BoundedSemaphore):
    """The submitter's slots, telling when a caller has to wait for one."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.waiting = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if super().acquire(blocking=False):
            return True
        self.waiting.set()
        return super().acquire(blocking, timeout)


def test_submit_waits_when_the_limit_is_reached_and_results_keep_their_order() -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        work: BoundedSubmitter[int] = BoundedSubmitter(pool, limit=2)
        slots = work._slots = _WatchedSlots(2)
        work.submit(lambda: gate.wait(5) and 1)
        work.submit(lambda: gate.wait(5) and 2)
        assert not slots.waiting.is_set()  # two calls fit
        third = threading.Thread(target=work.submit, args=(lambda: 3,))
        third.start()
        assert slots.waiting.wait(5), "a third call must wait while two are pending"
        assert len(work._futures) == 2 and third.is_alive()
        gate.set()
        third.join(5)
        assert work.results() == [1, 2, 3]


def test_leaving_on_an_error_cancels_what_has_not_started() -> None:
    started: list[int] = []
    gate = threading.Event()

    def job(i: int) -> int:
        started.append(i)
        gate.wait(5)
        return i

    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(RuntimeError):
            with BoundedSubmitter(pool, limit=10) as work:
                futures = [work.submit(job, i) for i in range(5)]
                # the running job may end only once the last queued one is cancelled (a future's
                # callbacks run on cancel too): nothing else can start in between
                futures[-1].add_done_callback(lambda _: gate.set())
                raise RuntimeError("the scan failed")
    assert started == [0]
    assert [f.cancelled() for f in futures] == [False, True, True, True, True]


def test_a_forked_child_gets_working_ocr_threads() -> None:
    """A process forked after the OCR threads started must not inherit a pool without threads."""
    import os

    from caption_assets.core.processing import ocr

    assert ocr.executor().submit(lambda: 1).result(5) == 1
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if work sent to the pool runs
        try:
            os._exit(0 if ocr.executor().submit(lambda: 2).result(5) == 2 else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
