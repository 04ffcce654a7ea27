"""Caption extents: split the band's timeline into caption states, exact to the native frame.

Frames stream in once. Every native frame's band is kept only until the next decision, and is
brought to analysis resolution only if a change is refined across it (most never are); the 10 Hz
samples (the frame on screen at each tenth of a second, by presentation time) get a text-pixel
signature. A state's *held* strokes are the high-contrast pixels that stayed unchanged over all its
sample pairs (two pairs at least: one pair is too often matched by moving background); a change
between two consecutive samples is proposed where held strokes vanish or new stable strokes appear
(``signature.transition``), and refined to the native frames between them: the last frame still
showing the old state and the first showing the new one, so a real gap of a frame or two becomes a
state of its own. A caption fading in over more than one sample interval is looked for from the
sample before as well, its pixels passing through the sample between. Each resulting segment keeps
a few full-resolution band images (spread over its duration; in colour when the caller makes
them, only samples being converted) for OCR, so memory stays bounded whatever the video length.

Assumptions: captions are static while shown and last at least two samples (0.2 s); a fade
takes less than three sample intervals. The scan proposes more states than there are captions (scene
cuts and motion behind a caption); whether a proposed state is a new caption is decided by its text
(``band_scan``, ``pipeline``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from caption_assets.core.processing import signature as sig
from caption_assets.core.processing.sampling import SampleClock

# makes a native frame's band in colour (BGR), called at most once, when the frame becomes a sample
Colour = Callable[[], NDArray[np.uint8]]
MAX_KEPT_PER_SEGMENT = 8  # full-resolution band images kept per segment for OCR voting


@dataclass
class Sample:
    native: int  # native frame index
    time: float
    gray: NDArray[np.uint8]  # full-resolution band luma
    smoothed: NDArray[np.uint8]  # analysis resolution, blurred
    edges: NDArray[np.bool_]
    text: NDArray[np.bool_] | None = None  # text pixels, known once the next sample arrived
    colour: NDArray[np.uint8] | None = None  # the band in colour (BGR), for reading, when given

    @property
    def image(self) -> NDArray[np.uint8]:
        """The band as the OCR should see it: in colour when the frame's colour was given."""
        return self.gray if self.colour is None else self.colour

    @property
    def text_pixels(self) -> int:
        return 0 if self.text is None else int(np.count_nonzero(self.text))


@dataclass
class _Native:
    """A native frame kept for edge refinement; its analysis image is made only when needed."""

    index: int
    time: float
    gray: NDArray[np.uint8]
    smoothed: NDArray[np.uint8] | None = None


@dataclass
class Segment:
    """One caption state: native frames ``first..last`` inclusive."""

    first: int
    start_time: float
    last: int = -1
    end_time: float = 0.0  # presentation time of the frame after ``last`` (or the video end)
    text_pixel_counts: list[int] = field(default_factory=list)
    kept: list[Sample] = field(default_factory=list)
    # what the state before held and this state's first sample still showed (a caption the change
    # did not touch, at a cut behind it)
    inherited: NDArray[np.bool_] | None = None
    # share of the previous state's held strokes still unchanged where this state began (None: the
    # previous state held no caption's worth of strokes); near 1 when only the background changed
    carried: float | None = None
    _stride: int = 1
    _seen: int = 0
    _own: NDArray[np.bool_] | None = None  # high-contrast pixels unchanged over its own sample pairs
    _pairs: int = 0

    @property
    def held(self) -> NDArray[np.bool_] | None:
        """The state's strokes: high-contrast pixels that stayed put sample after sample (moving
        background drops out within a few samples, a caption never does). Pixels that stayed put
        over one pair only are too often moving background matching by chance; until a second pair
        confirms them, what the state inherited stands in."""
        return self._own if self._pairs >= 2 else self.inherited

    def hold(self, stays: NDArray[np.bool_]) -> None:
        """Another pair of its samples: ``stays`` are the high-contrast pixels unchanged between them."""
        self._own = stays if self._own is None else self._own & stays
        self._pairs += 1

    def add_sample(self, sample: Sample) -> None:
        self.text_pixel_counts.append(sample.text_pixels)
        # keep every stride-th sample; when full, thin out and double the stride (even spread)
        if self._seen % self._stride == 0:
            self.kept.append(sample)
            if len(self.kept) > MAX_KEPT_PER_SEGMENT:
                self.kept = self.kept[::2]
                self._stride *= 2
        self._seen += 1

    @property
    def sample_count(self) -> int:
        return len(self.text_pixel_counts)

    def has_text(self, floor: int) -> bool:
        if not self.text_pixel_counts:
            return False
        return float(np.median(self.text_pixel_counts)) >= floor

    def voting_samples(self, count: int = 3) -> list[Sample]:
        """Up to ``count`` kept samples from the middle of the segment (away from fades)."""
        kept = self.kept
        if len(kept) <= count:
            return list(kept)
        if len(kept) > count + 1:
            kept = kept[1:-1]  # the first and last kept samples may be mid-fade
        positions = np.linspace(0, len(kept) - 1, count + 2)[1:-1]
        return [kept[int(round(p))] for p in positions]


class ExtentTracker:
    """Feed native frames of one band in presentation order; read the segments ``finish`` returns."""

    def __init__(self, params: sig.SignatureParams = sig.DEFAULT_PARAMS, sample_rate: float = 10.0) -> None:
        self.params = params
        self.sample_rate = sample_rate
        self.segments: list[Segment] = []  # not yet handed out by ``closed_segments``
        self.segment_count = 0
        self.sample_count = 0
        self._clock = SampleClock(sample_rate)
        self._previous: tuple[int, float, NDArray[np.uint8], Colour | None] | None = None  # last native
        # native frames from the settled sample on, for edge refinement; their analysis images are
        # made only when a change between samples is refined
        self._natives: list[_Native] = []
        self._before: Sample | None = None  # the sample settled before ``_settled``
        self._settled: Sample | None = None  # last sample whose segment is decided
        self._waiting: Sample | None = None  # its successor: its mask needs the next sample

    def add_frame(
        self, index: int, time: float, gray: NDArray[np.uint8], colour: Colour | None = None
    ) -> None:
        """One native frame: its index, presentation time and the band's luma at full resolution;
        ``colour`` makes the band in colour, called only for the frames that become samples (the
        pixel analysis needs luma alone, reading is better in colour)."""
        if self._clock.advance(time) and self._previous is not None:
            # the previous frame was on screen at one or more sample times
            self._add_sample(*self._previous)
        self._natives.append(_Native(index, time, gray))
        self._previous = (index, time, gray, colour)

    def closed_segments(self) -> list[Segment]:
        """The segments decided since the last call (all but the current one), handed over: the
        tracker keeps no reference to them, so their images can be read and freed during the scan."""
        if len(self.segments) < 2:  # the usual case, asked after every frame: no lists made
            return []
        closed, self.segments = self.segments[:-1], self.segments[-1:]
        return closed

    def finish(self, end_time: float) -> list[Segment]:
        """Close the stream; ``end_time`` is the video end (after the last frame's duration).
        Returns the segments not handed out by ``closed_segments``."""
        if self._previous is not None:
            last = self._previous
            self._clock.close(end_time)
            # the last frame always becomes a sample, so the final state is observed
            if self._waiting is None or self._waiting.native != last[0]:
                self._add_sample(*last)
            assert self._waiting is not None
            self._settle(self._waiting, None)
            self._waiting = None
            self.segments[-1].last = last[0]
            self.segments[-1].end_time = end_time
        return self.segments

    def _smoothed(self, native: _Native) -> NDArray[np.uint8]:
        if native.smoothed is None:
            native.smoothed = sig.smooth(sig.analysis_image(native.gray, self.params))
        return native.smoothed

    def _add_sample(self, index: int, time: float, gray: NDArray[np.uint8], colour: Colour | None) -> None:
        analysis = sig.analysis_image(gray, self.params)
        smoothed = sig.smooth(analysis)
        for native in self._natives:
            if native.index == index:
                native.smoothed = smoothed
        edges = sig.edge_mask(analysis, self.params)
        sample = Sample(index, time, gray, smoothed, edges, colour=colour() if colour else None)
        self.sample_count += 1
        if self._waiting is not None:
            self._settle(self._waiting, sample)
        self._waiting = sample

    def _open_segment(self, first: int, start_time: float) -> None:
        self.segments.append(Segment(first=first, start_time=start_time))
        self.segment_count += 1

    def _settle(self, sample: Sample, after: Sample | None) -> None:
        """Give ``sample`` its text mask and decide whether it starts a new caption state (``after``
        is the next sample, None at the end of the video)."""
        previous = self._settled
        neighbours = [s.smoothed for s in (after, previous) if s is not None]
        if neighbours:
            sample.text = sig.text_mask(sample.edges, sample.smoothed, neighbours, self.params)
        else:  # a one-sample video: stability cannot be judged, take the contrast alone
            sample.text = sample.edges
        if previous is None:
            first_index, first_time = self._natives[0].index, self._natives[0].time
            self._open_segment(first_index, first_time)
        else:
            current = self.segments[-1]
            after_smoothed = None if after is None else after.smoothed
            after_edges = None if after is None else after.edges
            change = sig.transition(
                current.held,
                previous.smoothed,
                sample.smoothed,
                sample.edges,
                after_smoothed,
                after_edges,
                self.params,
            )
            start = previous
            if not change.changed and self._before is not None and self._before.native >= current.first:
                # a caption fading in over two or more sample intervals never differs enough from one
                # sample to the next while being stable after: look from the sample before too
                slow = sig.transition(
                    None,
                    self._before.smoothed,
                    sample.smoothed,
                    sample.edges,
                    after_smoothed,
                    after_edges,
                    self.params,
                    via=previous.smoothed,
                )
                if slow.changed:
                    change, start = slow, self._before
            if change.changed:
                between = [n for n in self._natives if start.native < n.index <= sample.native]
                last_old, first_new = sig.state_bounds(
                    start.smoothed, sample.smoothed, [self._smoothed(n) for n in between], change
                )
                if last_old + 1 < first_new and between[last_old + 1].index > current.first:
                    # frames showing neither state: a state of their own
                    self._close_at(between[last_old + 1])
                if between[first_new].index > self.segments[-1].first:
                    self._close_at(between[first_new])
                # what the old state held and b still shows (a caption the change did not touch,
                # at a cut behind it) stands for the new state until it has samples of its own,
                # so a one-sample state can still be seen to end
                if current.held is not None and self.segments[-1] is not current:
                    still = sig.unchanged(previous.smoothed, sample.smoothed, self.params)
                    self.segments[-1].inherited = current.held & still
                    if last_old + 1 == first_new:
                        self.segments[-1].carried = sig.kept_share(current.held, still, self.params)
            else:
                stays = sample.edges & sig.unchanged(previous.smoothed, sample.smoothed, self.params)
                current.hold(stays)
        self.segments[-1].add_sample(sample)
        self._before, self._settled = previous, sample
        # natives from the sample before the settled one on are kept for refinement (slow fades)
        self._natives = [n for n in self._natives if previous is None or n.index >= previous.native]

    def _close_at(self, native: _Native) -> None:
        """End the current segment before ``native`` and open the next one there."""
        closing = self.segments[-1]
        closing.last = native.index - 1
        closing.end_time = native.time
        self._open_segment(native.index, native.time)
