"""Caption extents: split the band's timeline into caption states, exact to the native frame.

Frames stream in once. Every native frame's band is kept only until the next decision, and is
brought to analysis resolution only if a change is refined across it (most never are); the 10 Hz
samples (the frame on screen at each tenth of a second, by presentation time) get a text-pixel
signature; a change between two consecutive samples is refined to the first native frame
between them that shows the new state. Each resulting segment keeps a few full-resolution band images
(spread over its duration) for OCR, so memory stays bounded whatever the video length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from caption_assets.processing import signature as sig
from caption_assets.processing.sampling import SampleClock

MAX_KEPT_PER_SEGMENT = 8  # full-resolution band images kept per segment for OCR voting


@dataclass
class Sample:
    native: int  # native frame index
    time: float
    gray: np.ndarray  # full-resolution band luma
    smoothed: np.ndarray  # analysis resolution, blurred
    edges: np.ndarray
    text: np.ndarray | None = None  # text pixels, known once the next sample arrived

    @property
    def text_pixels(self) -> int:
        return 0 if self.text is None else np.count_nonzero(self.text)


@dataclass
class Segment:
    """One caption state: native frames ``first..last`` inclusive."""

    first: int
    start_time: float
    last: int = -1
    end_time: float = 0.0  # presentation time of the frame after ``last`` (or the video end)
    text_pixel_counts: list[int] = field(default_factory=list)
    kept: list[Sample] = field(default_factory=list)
    _stride: int = 1
    _seen: int = 0

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

    def __init__(self, params: sig.SignatureParams = sig.DEFAULT_PARAMS, sample_rate: float = 10.0):
        self.params = params
        self.sample_rate = sample_rate
        self.segments: list[Segment] = []  # not yet handed out by ``closed_segments``
        self.segment_count = 0
        self.sample_count = 0
        self._clock = SampleClock(sample_rate)
        self._previous: tuple[int, float, np.ndarray] | None = None  # last native frame
        # native frames [index, time, gray, smoothed or None] from the settled sample on, for edge
        # refinement; their analysis images are made only when a change between samples is refined
        self._natives: list[list] = []
        self._settled: Sample | None = None  # last sample whose segment is decided
        self._waiting: Sample | None = None  # its successor: its mask needs the next sample

    def add_frame(self, index: int, time: float, gray: np.ndarray) -> None:
        """One native frame: its index, presentation time and the band's luma at full resolution."""
        if self._clock.advance(time) and self._previous is not None:
            # the previous frame was on screen at one or more sample times
            self._add_sample(*self._previous)
        self._natives.append([index, time, gray, None])
        self._previous = (index, time, gray)

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
            neighbours = [self._settled.smoothed] if self._settled is not None else []
            self._settle(self._waiting, neighbours)
            self._waiting = None
            self.segments[-1].last = last[0]
            self.segments[-1].end_time = end_time
        return self.segments

    def _smoothed(self, native: list) -> np.ndarray:
        if native[3] is None:
            native[3] = sig.smooth(sig.analysis_image(native[2], self.params))
        return native[3]

    def _add_sample(self, index: int, time: float, gray: np.ndarray) -> None:
        analysis = sig.analysis_image(gray, self.params)
        smoothed = sig.smooth(analysis)
        for native in self._natives:
            if native[0] == index:
                native[3] = smoothed
        sample = Sample(index, time, gray, smoothed, sig.edge_mask(analysis, self.params))
        self.sample_count += 1
        if self._waiting is not None:
            neighbours = [sample.smoothed]
            if self._settled is not None:
                neighbours.append(self._settled.smoothed)
            self._settle(self._waiting, neighbours)
        self._waiting = sample

    def _open_segment(self, first: int, start_time: float) -> None:
        self.segments.append(Segment(first=first, start_time=start_time))
        self.segment_count += 1

    def _settle(self, sample: Sample, neighbours: list[np.ndarray]) -> None:
        """Give ``sample`` its text mask and decide whether it starts a new caption state."""
        if neighbours:
            sample.text = sig.text_mask(sample.edges, sample.smoothed, neighbours, self.params)
        else:  # a one-sample video: stability cannot be judged, take the contrast alone
            sample.text = sample.edges
        previous = self._settled
        if previous is None:
            first_index, first_time = self._natives[0][0], self._natives[0][1]
            self._open_segment(first_index, first_time)
        else:
            assert previous.text is not None
            comparison = sig.compare(
                previous.smoothed, previous.text, sample.smoothed, sample.text, self.params
            )
            if comparison.changed:
                between = [n for n in self._natives if previous.native < n[0] <= sample.native]
                position = sig.first_frame_of_new_state(
                    previous.smoothed,
                    sample.smoothed,
                    [self._smoothed(n) for n in between],
                    comparison.changed_mask,
                    self.params,
                )
                first, first_time = between[position][0], between[position][1]
                closing = self.segments[-1]
                closing.last = first - 1
                closing.end_time = first_time
                self._open_segment(first, first_time)
        self.segments[-1].add_sample(sample)
        self._settled = sample
        # natives before the settled sample are no longer needed for refinement
        self._natives = [n for n in self._natives if n[0] >= sample.native]
