"""Stop a running compute call when a condition checked beside it fails (a lost lock).

The asset's lock renewal runs every third of a lock lifetime and its result is only looked at
between compute calls, so a step whose lock a person took over went on computing (and could write)
for the whole call. ``stopped_when`` checks at a short interval while the call runs and, on the
first permanent failure of the check, cancels the compute backend from the watching thread:
``ModalCompute`` cancels the remote call at once (the waiting thread raises within a poll slice);
``LocalCompute`` refuses every artifact-store operation from then on, so the in-process step stops
at its next read or write and writes nothing more (a decode in progress runs to that point: the
processing code has no cancellation check). The block then raises the check's own error (e.g.
``LockLostError``), not the backend's cancellation, so the run says why it stopped.

Assumptions: ``check`` is cheap (one catalog round trip) and thread-safe; it raises a
``TransientError`` when it cannot tell (the catalog not answering: checked again on the next beat,
the asset's final check decides) and any other exception when the condition is lost for good.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from caption_assets.core.compute.base import Compute
from caption_assets.core.errors import TransientError

DEFAULT_INTERVAL_SECONDS = 5.0


@contextmanager
def stopped_when(
    compute: Compute,
    check: Callable[[], None],
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
) -> Iterator[None]:
    """Run the block (one or more compute calls) with ``check`` called every ``interval_seconds``
    in a thread; its first non-transient exception cancels ``compute`` and is raised by the block.
    Usage in an asset: ``with stopped_when(backend, locks.check): result = backend.step(...)``."""
    if interval_seconds <= 0:
        raise ValueError("interval_seconds must be positive")
    stop = threading.Event()
    failure: list[BaseException] = []

    def watch() -> None:
        while not stop.wait(interval_seconds):
            try:
                check()
            except TransientError:
                continue
            except Exception as exc:  # the condition is gone: the call must not go on
                failure.append(exc)
                compute.cancel()
                return

    watcher = threading.Thread(target=watch, name="compute-watch", daemon=True)
    watcher.start()
    try:
        yield
    except BaseException as exc:
        if failure and failure[0] is not exc:
            raise failure[0] from exc  # the cancellation is a consequence; say the cause
        raise
    finally:
        stop.set()
        watcher.join(timeout=interval_seconds + 5)
    if failure:
        # the call finished before the cancel took effect: its result was made without the
        # condition and must not be recorded
        raise failure[0]
