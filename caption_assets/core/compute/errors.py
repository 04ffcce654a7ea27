"""Errors of remote compute (Modal), sorted into the project's two kinds.

Transient ones are retried by the asset's ``RetryPolicy``; permanent ones end the video in ``error``
at once. Each carries the step and, when a call was made, the remote function-call id so a person
can find the call in Modal's dashboard.
"""

from __future__ import annotations

from caption_assets.core.errors import PermanentError, TransientError


class _ComputeContext(Exception):
    """Adds ``step`` and ``call_id`` to whichever project error it is mixed into."""

    def __init__(self, message: str, *, step: str | None = None, call_id: str | None = None) -> None:
        self.step = step
        self.call_id = call_id
        super().__init__(message)


class ComputeUnavailableError(_ComputeContext, TransientError):
    """Modal could not be reached or did not answer (network, service errors)."""


class ComputeCapacityError(ComputeUnavailableError):
    """No capacity right now (resource exhausted, rate limit, no GPU of the asked type)."""


class ComputeTimeoutError(_ComputeContext, TransientError):
    """The remote function ran past its timeout, or the call did not finish within the wait limit
    (then it was cancelled)."""


class ComputeCancelledError(_ComputeContext, PermanentError):
    """The call was cancelled on request (the Dagster run was terminated); not worth a retry."""


class ComputeConfigurationError(_ComputeContext, PermanentError):
    """The app or function is not deployed, or Modal refused the credentials: a person has to
    deploy or fix the configuration, so retrying the same call cannot help."""


class RemoteStepError(_ComputeContext, PermanentError):
    """The step's code raised on the remote side (a bug, or input the code cannot handle).
    ``remote_type`` names the remote exception; its message is part of this one's."""

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        call_id: str | None = None,
        remote_type: str = "",
    ) -> None:
        self.remote_type = remote_type
        super().__init__(message, step=step, call_id=call_id)
