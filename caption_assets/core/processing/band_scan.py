"""The caption-state scan of the band(s), with each state read as soon as the scan has decided it.

Native frames stream in once; per zone an ``ExtentTracker`` splits the timeline into caption states
exact to the frame, and every closed state with text goes to the OCR threads while decoding goes on.
Only the state's voting images travel with it, and at most a few states wait for a thread, so memory
stays bounded whatever the video's length.

The pixel scan proposes more states than there are captions (a scene cut or a burst of motion behind
a caption is a change of pixels too); the text decides. A zone's states are read in order, each with
the previous reading at hand: where the previous state showed text and the new one has no new
text pixels outside the previous boxes (static texture beside a caption is text-like in every state
of a shot: only pixels that were not text in the previous state count), those boxes are recognised
once on the new state; the same caption read again (``reading.same_caption``) is kept as that cheap
reading, which assembly then joins to its neighbour. Anything else (other text, a new line, no
earlier text) is read in full: detection on the band, recognition voted over several frames.
Reading in order would keep one OCR thread busy at a time; a state whose predecessor is still being
read runs its detection meanwhile, so the cores share the work (the detection is the dearer half of a
full read), at the cost of a wasted detection where the cheap reading then holds; a state that shows
no new strokes at all (none outside any boxes, then) waits for the cheap reading instead.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

import numpy as np

from caption_assets.core.processing import ocr
from caption_assets.core.processing.extents import ExtentTracker, Segment
from caption_assets.core.processing.raw_ocr import RawReading
from caption_assets.core.processing.reading import (
    Reading,
    first_detection,
    read_caption,
    read_lines,
    same_caption,
)
from caption_assets.core.processing.signature import (
    analysis_scale,
    min_text_pixels,
    new_strokes,
    strokes_outside,
)
from caption_assets.core.processing.video import DecodedFrame, Region, crop_bgr, crop_gray
from caption_assets.core.processing.workers import BoundedSubmitter, cpu_count

# share of a caption's strokes that must stay unchanged across a proposed change for the caption to
# be taken as unchanged without reading it again: a new caption over the old one's place keeps by
# chance well under half of its strokes, compression noise and the blur at stroke rims lose a few
CARRIED = 0.9
# states waiting for an OCR thread, per core: enough to keep the threads busy, few band images held
_PENDING_PER_CORE = 3


@dataclass(frozen=True)
class _ReadJob:
    """What reading one state needs: its voting band images, not the whole segment."""

    zone: int
    first: int
    last: int
    start: float
    end: float
    samples: int
    frames: list[np.ndarray]
    text_mask: np.ndarray | None
    mask_scale: float
    carried: float | None  # Segment.carried
    # text pixels of the state read before (its middle sample's), when it came right before this one
    previous_text: np.ndarray | None = None


def _read_job(
    segment: Segment,
    zone: int,
    band_width: int,
    after_read: bool = True,
    previous_text: np.ndarray | None = None,
) -> _ReadJob | None:
    """None for a state without caption text (nothing to read). ``after_read``: the state right
    before this one was read too. When it was not (a state without text came between), the strokes
    this state carried over are that state's (a logo, a sign), not the last reading's caption, so
    they say nothing about whether that reading still holds."""
    if not segment.kept:
        return None
    if not segment.has_text(min_text_pixels(segment.kept[0].smoothed.shape)):
        return None
    voters = segment.voting_samples()
    middle = voters[len(voters) // 2]
    return _ReadJob(
        zone,
        segment.first,
        segment.last,
        segment.start_time,
        segment.end_time,
        segment.sample_count,
        [s.image for s in voters],
        middle.text,
        analysis_scale(band_width),
        segment.carried if after_read else None,
        previous_text,
    )


@dataclass(frozen=True)
class _Read:
    raw: RawReading
    reading: Reading
    seconds: float  # CPU seconds of this state's OCR


def _read(job: _ReadJob, previous: Future[_Read] | None) -> _Read:
    """Runs on an OCR thread; decides once the zone's previous state (``previous``) was read. CPU time, not
    wall time: the single-threaded engine runs on this thread, and while decoding and encoding share
    the cores a reading's wall time measures the scheduler more than the OCR."""
    started = time.thread_time()
    # only strokes that came since the previous state count: static texture beside the caption
    # (grass, a wall) is text-like in every state of the shot and says nothing new
    fresh = new_strokes(job.text_mask, job.previous_text) if job.text_mask is not None else None
    detected = None
    if (
        previous is not None
        and not previous.done()
        and (job.carried is None or job.carried < CARRIED)
        and (fresh is None or strokes_outside(fresh, [], job.mask_scale))
    ):
        # the zone's states are read in order: while the one before is still being read, this
        # thread detects the text of this one instead of idling, unless the previous reading most
        # likely holds without a detection: its strokes carried over, or no caption's worth of
        # new strokes came anywhere (then none came outside the previous boxes either, and the
        # cheap reading is tried first). Wasted when the cheap reading holds after all, but the
        # reading is the same either way
        detected = first_detection(job.frames)
    prior = previous.result().reading if previous is not None else None
    reading = None
    if prior is not None and prior.text and prior.lines:
        outside = fresh is not None and strokes_outside(
            fresh, [b for line in prior.lines for b in line], job.mask_scale
        )
        if not outside and job.carried is not None and job.carried >= CARRIED:
            # the previous caption's strokes all stayed where this state began: the pixels behind
            # it changed, not the caption
            reading = Reading(prior.text, prior.confidence, 0, prior.lines)
        elif not outside:
            again = read_lines(job.frames[len(job.frames) // 2 :][:1], prior.lines)
            if same_caption(again.text, prior.text):
                # confirmed: this reading is one more vote for the caption's text (assembly pools
                # the reads of all states of one caption)
                reading = again
    if reading is None:
        reading = read_caption(job.frames, job.text_mask, job.mask_scale, detected)
    raw = RawReading(
        job.zone,
        job.first,
        job.last,
        job.start,
        job.end,
        job.samples,
        reading.text,
        reading.confidence,
        reading.reads,
    )
    return _Read(raw, reading, time.thread_time() - started)


class BandScan:
    """Feed every decoded native frame to ``add``; ``finish`` returns the readings of the states
    with text, in zone and time order. Use as a context manager: leaving it on an error stops the
    OCR work it started."""

    def __init__(self, zones: list[Region], rotation: int) -> None:
        self.zones = zones
        self.rotation = rotation
        self.trackers = [ExtentTracker() for _ in zones]
        self.frames = 0
        self.states_found = 0  # states with text handed to the OCR threads (progress reports)
        self._started = time.perf_counter()
        self._reader: BoundedSubmitter[_Read] = BoundedSubmitter(
            ocr.executor(), _PENDING_PER_CORE * cpu_count()
        )
        self._last: list[Future[_Read] | None] = [None for _ in zones]  # each zone's latest read
        self._after_read = [False for _ in zones]  # whether each zone's last state was read
        self._last_text: list[np.ndarray | None] = [None for _ in zones]  # its text pixels

    def __enter__(self) -> BandScan:
        self._reader.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._reader.__exit__(*exc)

    def add(self, decoded: DecodedFrame) -> None:
        for number, (zone, tracker) in enumerate(zip(self.zones, self.trackers)):
            gray = crop_gray(decoded.frame, zone, self.rotation)
            colour = partial(crop_bgr, decoded.frame, zone, self.rotation)
            tracker.add_frame(decoded.index, decoded.time, gray, colour)
            self._hand_over(tracker.closed_segments(), number)
        self.frames += 1

    def finish(self, end_time: float) -> tuple[list[RawReading], dict[str, float], dict[str, float]]:
        """Readings with text, the scan's counts (segments, states read, frames recognised) and
        its timings (seconds)."""
        scanned = time.perf_counter()
        counts: dict[str, float] = {"frames": self.frames}
        for number, tracker in enumerate(self.trackers):
            self._hand_over(tracker.finish(end_time), number)
            counts[f"zone{number}_segments"] = tracker.segment_count
        results = self._reader.results()
        readings = [r.raw for r in results]
        counts.update(segments_read=len(readings), ocr_reads=sum(r.reads for r in readings))
        timings = {
            "scan_seconds": round(scanned - self._started, 3),
            "ocr_after_scan_seconds": round(time.perf_counter() - scanned, 3),
            "ocr_cpu_seconds": round(sum(r.seconds for r in results), 3),
        }
        return sorted((r for r in readings if r.text), key=lambda r: (r.zone, r.first)), counts, timings

    def _hand_over(self, segments: list[Segment], number: int) -> None:
        for segment in segments:
            job = _read_job(
                segment, number, self.zones[number].width, self._after_read[number], self._last_text[number]
            )
            self._after_read[number] = job is not None
            # a state without text between: its strokes (a sign) are not the caption's
            self._last_text[number] = job.text_mask if job is not None else None
            if job is not None:
                self.states_found += 1
                self._last[number] = self._reader.submit(_read, job, self._last[number])
