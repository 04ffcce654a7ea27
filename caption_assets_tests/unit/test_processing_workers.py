"""Side-by-side work with back-pressure."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from caption_assets.core.processing.workers import BoundedSubmitter

pytestmark = pytest.mark.unit


def test_submit_waits_when_the_limit_is_reached_and_results_keep_their_order() -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        work: BoundedSubmitter[int] = BoundedSubmitter(pool, limit=2)
        work.submit(lambda: gate.wait(5) and 1)
        work.submit(lambda: gate.wait(5) and 2)
        third = threading.Thread(target=work.submit, args=(lambda: 3,))
        third.start()
        time.sleep(0.2)
        assert third.is_alive(), "a third call must wait while two are pending"
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
                for i in range(5):
                    work.submit(job, i)
                threading.Timer(0.2, gate.set).start()
                raise RuntimeError("the scan failed")
    assert started == [0]


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
