"""The decode limits of a step as part of a remote request.

In-process compute is held to the tier's limits by ``admission.enforcing`` around the call (a
context variable). A remote step runs in another process that shares no context, so the bound is
sent with the request as a plain mapping (no project class in the wire format: the deployed app
may run an older or newer version of this package) and applied again around the step there.
Assumption: both sides agree on the field names of ``processing.video.DecodeLimits``; a request
without limits decodes unbounded, exactly as before limits existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from caption_assets.core.errors import PermanentError

if TYPE_CHECKING:
    from caption_assets.core.processing.video import DecodeLimits

# keyword argument of every Modal step function that decodes
REQUEST_KEY = "decode_limits"


def limits_request() -> dict[str, Any] | None:
    """The caller's active decode bound as a request field, or None when decoding is unbounded."""
    from caption_assets.core.policy.admission import enforced_decode_limits

    bound = enforced_decode_limits()
    return None if bound is None else dataclasses.asdict(bound)


def limits_from_request(request: Mapping[str, Any] | None) -> DecodeLimits | None:
    """``DecodeLimits`` from a request field; a malformed field is refused, never ignored (an
    ignored bound would let a tenant's video decode unbounded)."""
    from caption_assets.core.processing.video import DecodeLimits

    if request is None:
        return None
    names = {f.name for f in dataclasses.fields(DecodeLimits)}
    try:
        values = {k: v for k, v in dict(request).items() if k in names}
        bound = DecodeLimits(**values)
        numbers = (bound.max_seconds, bound.max_long_side, bound.max_short_side)
        if not all(isinstance(n, (int, float)) and n > 0 for n in numbers):
            raise ValueError("limits must be positive numbers")
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"malformed decode limits in the compute request: {exc}") from None
    return bound


@contextmanager
def held_to(request: Mapping[str, Any] | None) -> Iterator[None]:
    """Every probe and decode inside the block is held to the request's limits (if any)."""
    from caption_assets.core.processing.video import decode_limits

    with decode_limits(limits_from_request(request)):
        yield
