"""Per-tier limits checked before the expensive steps. Pure functions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from caption_assets.core.errors import AdmissionError

if TYPE_CHECKING:
    from caption_assets.core.processing.video import DecodeLimits

# Tier limits protect a hosted platform's shared machines from its tenants. A person processing
# their own file on their own machine (`caption-assets process`) has no tier to respect; the work
# runs in-process, so a context variable scopes the exemption to exactly that work.
_on_own_machine: ContextVar[bool] = ContextVar("caption_assets_on_own_machine", default=False)
# What the innermost ``enforcing`` block holds decoding to, for compute that decodes elsewhere (a
# Modal container does not share this process's context, so the bound travels in its request).
_enforced: ContextVar[DecodeLimits | None] = ContextVar("caption_assets_enforced_decode_limits", default=None)


@contextmanager
def on_own_machine() -> Iterator[None]:
    """Admit everything started inside the block: no hosted-tier limits apply."""
    token = _on_own_machine.set(True)
    try:
        yield
    finally:
        _on_own_machine.reset(token)


@dataclass(frozen=True)
class TierLimits:
    max_duration_seconds: float
    max_size_bytes: int
    max_width: int
    max_height: int


# one entry per tier of ``Tier`` (core/catalog/base.py, where the tiers are written)
DEFAULT_LIMITS: dict[str, TierLimits] = {
    "free": TierLimits(15 * 60, 2 * 1024**3, 1920, 1920),
    "premium": TierLimits(2 * 3600, 10 * 1024**3, 3840, 3840),
    "enterprise": TierLimits(6 * 3600, 50 * 1024**3, 7680, 7680),
}


def format_duration(seconds: float, measured: bool = False) -> str:
    """Minutes (one decimal for a ``measured`` duration, whole for a limit that is), seconds below a
    minute: a limit of 2 s must not print as "0 min"."""
    if seconds < 60:
        return f"{seconds:.1f} s" if measured else f"{seconds:g} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if measured or minutes != int(minutes) else f"{minutes:.0f} min"


def format_size(size_bytes: float) -> str:
    """Bytes in the largest binary unit that keeps the figure >= 1 (a limit of 100 KiB must not
    read "0 MiB"), with a decimal only where it carries information."""
    value, unit = float(size_bytes), "bytes"
    for next_unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    if unit == "bytes":
        return f"{int(value)} bytes"
    return f"{value:.0f} {unit}" if value >= 100 or value == int(value) else f"{value:.1f} {unit}"


def violations(
    tier: str,
    limits: dict[str, TierLimits],
    size_bytes: int | None = None,
    duration_seconds: float | None = None,
    width: int | None = None,
    height: int | None = None,
) -> list[str]:
    """Which of the tier's limits the video exceeds, in words a person can act on. Unknown
    values are not checked (the caller checks again once they are known). Width and height limits
    apply to the longer and shorter side, so a vertical video is judged like its landscape twin."""
    if _on_own_machine.get():
        return []
    limit = limits.get(tier)
    if limit is None:
        return [f"tier {tier!r} has no limits configured"]
    found: list[str] = []
    if size_bytes is not None and size_bytes > limit.max_size_bytes:
        found.append(
            f"file size {format_size(size_bytes)} exceeds the {tier} limit of "
            f"{format_size(limit.max_size_bytes)}"
        )
    if duration_seconds is not None and duration_seconds > limit.max_duration_seconds:
        found.append(
            f"duration {format_duration(duration_seconds, measured=True)} exceeds the {tier} limit of "
            f"{format_duration(limit.max_duration_seconds)}"
        )
    if width is not None and height is not None:
        long_side, short_side = max(width, height), min(width, height)
        if long_side > max(limit.max_width, limit.max_height) or short_side > min(
            limit.max_width, limit.max_height
        ):
            found.append(
                f"resolution {width}x{height} exceeds the {tier} limit of "
                f"{limit.max_width}x{limit.max_height}"
            )
    return found


def admit(tier: str, limits: dict[str, TierLimits], **measures: float | int | None) -> None:
    problems = violations(tier, limits, **measures)  # type: ignore[arg-type]
    if problems:
        raise AdmissionError("; ".join(problems) + ". Upgrade the tier or upload a smaller video.")


@contextmanager
def enforcing(tier: str, limits: dict[str, TierLimits]) -> Iterator[None]:
    """Hold every probe and decode inside the block to the tier's duration and resolution, on
    what the stream holds rather than what its container declares (a header may say 10 s of
    640x360 in front of an hour of 8K). Nothing is held on a person's own machine."""
    from caption_assets.core.processing.video import DecodeLimits, decode_limits

    limit = limits.get(tier)
    if limit is None:
        raise AdmissionError(f"tier {tier!r} has no limits configured")
    bound = (
        None
        if _on_own_machine.get()
        else DecodeLimits(
            label=f"the {tier} limit",
            max_seconds=limit.max_duration_seconds,
            duration_text=format_duration(limit.max_duration_seconds),
            max_long_side=max(limit.max_width, limit.max_height),
            max_short_side=min(limit.max_width, limit.max_height),
        )
    )
    token = _enforced.set(bound)
    try:
        with decode_limits(bound):
            yield
    finally:
        _enforced.reset(token)


def enforced_decode_limits() -> DecodeLimits | None:
    """The decode bound of the innermost ``enforcing`` block around the caller; None outside one
    or on a person's own machine."""
    return _enforced.get()
