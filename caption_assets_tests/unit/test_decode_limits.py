"""Decoding is held to the tier's duration and resolution on what the stream holds, before and
while frames are decoded, whatever the container declares."""

from __future__ import annotations

import pytest

from caption_assets.core.errors import AdmissionError
from caption_assets.core.policy.admission import TierLimits, enforcing, on_own_machine
from caption_assets.core.processing.video import frames_at, iter_frames, probe

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def clip(rendered):
    return rendered("short_bottom")  # 5 s of generated video


def _limits(seconds: float, long_side: int, short_side: int) -> dict[str, TierLimits]:
    return {"free": TierLimits(seconds, 10 * 1024**3, long_side, short_side)}


def test_probe_refuses_a_resolution_over_the_limit_before_decoding(clip) -> None:
    w, h = clip.truth.width, clip.truth.height
    with enforcing("free", _limits(3600, max(w, h) - 2, min(w, h))):
        with pytest.raises(AdmissionError, match=rf"resolution {w}x{h} exceeds the free limit"):
            probe(clip.path)
    with enforcing("free", _limits(3600, max(w, h), min(w, h))):
        assert probe(clip.path).width == w  # at the limit is within it


def test_decoding_stops_at_the_duration_limit(clip) -> None:
    with enforcing("free", _limits(2, 7680, 7680)):
        with pytest.raises(AdmissionError, match="duration exceeds the free limit of 2 s"):
            probe(clip.path)
        decoded = []
        with pytest.raises(AdmissionError, match="decoding stopped"):
            for frame in iter_frames(clip.path):
                decoded.append(frame.time)
        assert decoded and max(decoded) <= 2.5
        with pytest.raises(AdmissionError):
            list(frames_at(clip.path, [0.0, 4.0]))


def test_no_limits_outside_the_block_or_on_own_machine(clip) -> None:
    with on_own_machine(), enforcing("free", _limits(1, 64, 64)):
        assert probe(clip.path).total_frames == clip.truth.frame_count
    assert probe(clip.path).total_frames == clip.truth.frame_count
