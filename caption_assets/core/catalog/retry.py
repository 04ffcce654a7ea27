"""The catalog adapters' one retry policy: exponential backoff with jitter on transient failures."""

from __future__ import annotations

import logging
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)


def catalog_retrying(
    op: str,
    subject: str,
    *,
    is_transient: Callable[[BaseException], bool],
    logger: logging.Logger,
    max_attempts: int,
    initial_wait: float,
    max_wait: float,
    on_retry: Callable[[BaseException | None], None] | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` that re-raises the last error and logs every retry with the
    operation and its subject (the video), so a flapping catalog shows up in the run's logs."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning(
            "catalog %s for %s: transient failure (attempt %d/%d), retrying: %s",
            op,
            subject,
            state.attempt_number,
            max_attempts,
            exc,
        )
        if on_retry is not None:
            on_retry(exc)

    return Retrying(
        stop=stop_after_attempt(max_attempts),
        # jitter in proportion to the base wait (tenacity's default jitter is a whole second)
        wait=wait_exponential_jitter(multiplier=initial_wait, jitter=initial_wait, max=max_wait),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
