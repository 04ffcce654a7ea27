"""Decoding with PyAV: probe, stream frames with their presentation times, crop the band cheaply.

Everything here is in display orientation: a stored frame is rotated by the container's display matrix
(phones store upright video as landscape plus a rotation). Times come from presentation timestamps,
never from a nominal frame rate, so variable-frame-rate video is timed correctly. Native frame ``n`` is
the n-th frame in presentation order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np
from av.video.plane import VideoPlane
from numpy.typing import NDArray

from caption_assets.core.errors import AdmissionError, BadVideoError


@dataclass(frozen=True)
class DecodeLimits:
    """The most a caller lets decoding do, judged on what the stream really holds (frame sizes,
    presentation times), never on what the container declares. Sides are compared sorted, so a
    vertical video is judged like its landscape twin."""

    label: str  # for messages: "the free limit"
    max_seconds: float
    max_long_side: int
    max_short_side: int
    duration_text: str = ""  # the duration limit in words ("10 min"); seconds when not given


_decode_limits: ContextVar[DecodeLimits | None] = ContextVar("caption_assets_decode_limits", default=None)


@contextmanager
def decode_limits(limits: DecodeLimits | None) -> Iterator[None]:
    """Every probe and decode inside the block stops with ``AdmissionError`` past ``limits``."""
    token = _decode_limits.set(limits)
    try:
        yield
    finally:
        _decode_limits.reset(token)


def _check_size(name: str, width: int, height: int) -> None:
    limits = _decode_limits.get()
    if limits is None:
        return
    long_side, short_side = max(width, height), min(width, height)
    if long_side > limits.max_long_side or short_side > limits.max_short_side:
        raise AdmissionError(
            f"{name}: resolution {width}x{height} exceeds {limits.label} of "
            f"{limits.max_long_side}x{limits.max_short_side}"
        )


def _check_time(name: str, seconds: float) -> None:
    limits = _decode_limits.get()
    # one frame of slack: a 600 s limit admits a video whose last frame starts at 600.0 s
    if limits is not None and seconds > limits.max_seconds + 0.5:
        limit = limits.duration_text or f"{limits.max_seconds:g} s"
        raise AdmissionError(f"{name}: duration exceeds {limits.label} of {limit} (decoding stopped there)")


# Demuxers of still images: FFmpeg opens a PNG or JPEG (whatever its file name) as a one-frame
# "video"; such a file is a picture, not something with captions over time.
_IMAGE_DEMUXERS = {"image2", "image2pipe"}


def _reason(exc: BaseException) -> str:
    """FFmpeg's reason without the file name it appends (a worker's temporary path)."""
    return str(getattr(exc, "strerror", None) or type(exc).__name__)


# Planar YUV layouts whose planes can be cropped directly (luma first, then two chroma planes).
_PLANAR_YUV = {
    "yuv420p": (2, 2),
    "yuvj420p": (2, 2),
    "yuv422p": (2, 1),
    "yuvj422p": (2, 1),
    "yuv444p": (1, 1),
    "yuvj444p": (1, 1),
}


@dataclass(frozen=True)
class VideoInfo:
    width: int  # display orientation
    height: int
    fps: float  # average rate: frames / duration, informative only (VFR)
    duration_seconds: float
    total_frames: int
    rotation: int  # counter-clockwise degrees applied to stored frames for display
    codec: str
    coded_width: int
    coded_height: int


@dataclass(frozen=True)
class Region:
    """A rectangle in display pixels. Even-aligned when built by ``even``, as chroma crops need."""

    x: int
    y: int
    width: int
    height: int

    def even(self, frame_width: int, frame_height: int) -> Region:
        x0 = max(0, self.x) // 2 * 2
        y0 = max(0, self.y) // 2 * 2
        x1 = min(frame_width, self.x + self.width)
        y1 = min(frame_height, self.y + self.height)
        x1 = x0 + max(2, (x1 - x0) // 2 * 2)
        y1 = y0 + max(2, (y1 - y0) // 2 * 2)
        return Region(x0, y0, min(x1, frame_width // 2 * 2) - x0, min(y1, frame_height // 2 * 2) - y0)


def _open(path: Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.is_file():
        raise BadVideoError(f"{path.name}: file not found")
    if path.stat().st_size == 0:
        raise BadVideoError(f"{path.name}: the file is empty")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise BadVideoError(f"{path.name}: not a video file (cannot be opened: {_reason(exc)})") from exc
    demuxer = container.format.name
    if demuxer in _IMAGE_DEMUXERS or demuxer.endswith("_pipe"):
        container.close()
        kind = demuxer.removesuffix("_pipe").upper()
        raise BadVideoError(f"{path.name}: an image ({kind}), not a video")
    return container


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise BadVideoError(f"{name}: the file has no video stream")
    return container.streams.video[0]


def _quarter_turns(rotation: int) -> int:
    return (int(round(rotation / 90.0))) % 4


def probe(path: Path) -> VideoInfo:
    """Cheap check that ``path`` is a decodable video, plus its display geometry and timing.

    Demuxes packets (no decoding) to count frames and find the last presentation time, and decodes
    frames only until the first one comes out, so every step can call it up front.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = _video_stream(container, path.name)
        # the stream's coded size is known before any frame is decoded
        _check_size(path.name, stream.codec_context.width or 0, stream.codec_context.height or 0)
        probe_tb = float(stream.time_base) if stream.time_base else 0.0
        rotation = 0
        first_ok = False
        count = 0
        pts_min: int | None = None
        pts_max: int | None = None
        last_duration = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                count += 1
                if packet.pts is not None:
                    if pts_min is None or packet.pts < pts_min:
                        pts_min = packet.pts
                    if pts_max is None or packet.pts > pts_max:
                        pts_max = packet.pts
                        last_duration = packet.duration or 0
                        if probe_tb > 0:
                            # a 10-hour file is refused at the limit, not demuxed to its end
                            _check_time(path.name, (pts_max - pts_min) * probe_tb)
                if not first_ok:
                    for frame in stream.decode(packet):
                        _check_size(path.name, frame.width, frame.height)
                        rotation = int(frame.rotation or 0)
                        first_ok = True
                        break
            if not first_ok:
                # decoders with delay hand out their first frame only when flushed
                for frame in stream.decode(None):
                    rotation = int(frame.rotation or 0)
                    first_ok = True
                    break
        except av.error.FFmpegError as exc:
            if not first_ok:
                raise BadVideoError(
                    f"{path.name}: the video stream cannot be decoded ({_reason(exc)})"
                ) from exc
        if count == 0 or not first_ok:
            raise BadVideoError(f"{path.name}: the video stream has no decodable frames")
        coded_w = stream.codec_context.width
        coded_h = stream.codec_context.height
        if not coded_w or not coded_h:
            raise BadVideoError(f"{path.name}: the video stream has no frame size")
        tb = float(stream.time_base) if stream.time_base else 0.0
        if pts_min is not None and pts_max is not None and tb > 0:
            span = (pts_max - pts_min) * tb
            step = last_duration * tb if last_duration else (span / (count - 1) if count > 1 else 0)
            duration = span + step
        else:
            duration = float(container.duration or 0) / av.time_base
        rate = stream.average_rate or stream.guessed_rate
        if duration <= 0 and rate:
            duration = count / float(rate)
        fps = count / duration if duration > 0 else float(rate or 0)
        turns = _quarter_turns(rotation)
        width, height = (coded_h, coded_w) if turns % 2 else (coded_w, coded_h)
        return VideoInfo(
            width=width,
            height=height,
            fps=fps,
            duration_seconds=duration,
            total_frames=count,
            rotation=turns * 90,
            codec=stream.codec_context.name,
            coded_width=coded_w,
            coded_height=coded_h,
        )
    finally:
        container.close()


@dataclass
class DecodedFrame:
    index: int  # native frame index, presentation order
    time: float  # seconds from the first frame
    frame: av.VideoFrame


def iter_frames(path: Path, start_time: float = 0.0) -> Iterator[DecodedFrame]:
    """Every frame in presentation order with its time (seconds from the first frame).

    With ``start_time`` > 0 the container is first sought to the key frame before it; indices are then
    only meaningful relative to the caller's own bookkeeping, so the index is -1 for such streams.
    """
    container = _open(Path(path))
    try:
        stream = _video_stream(container, Path(path).name)
        stream.thread_type = "AUTO"
        tb = float(stream.time_base) if stream.time_base else 0.0
        origin: float | None = None
        if stream.start_time is not None and tb > 0:
            origin = stream.start_time * tb
        if start_time > 0 and tb > 0:
            container.seek(int(((origin or 0.0) + start_time) / tb), stream=stream, backward=True)
        index = 0
        last_time = -1.0
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and tb > 0:
                    t = frame.pts * tb
                    if origin is None:
                        origin = t
                    t -= origin
                else:
                    # no timestamps at all: fall back to the nominal rate
                    rate = float(stream.average_rate or 25)
                    t = last_time + 1.0 / rate if last_time >= 0 else 0.0
                if t <= last_time:
                    # a broken timestamp must not reorder the timeline
                    t = last_time + 1e-6
                last_time = t
                _check_size(Path(path).name, frame.width, frame.height)
                _check_time(Path(path).name, t)
                yield DecodedFrame(index if start_time <= 0 else -1, t, frame)
                index += 1
        except av.error.FFmpegError as exc:
            if index == 0:
                raise BadVideoError(
                    f"{Path(path).name}: the video stream cannot be decoded ({_reason(exc)})"
                ) from exc
            # a damaged tail: keep what decoded, like players do
    finally:
        container.close()


def to_rgb(frame: av.VideoFrame, rotation: int) -> NDArray[np.uint8]:
    """The full frame as RGB in display orientation."""
    # PyAV types to_ndarray by what any format could give; rgb24 is one byte per channel
    rgb = cast("NDArray[np.uint8]", frame.to_ndarray(format="rgb24"))
    turns = _quarter_turns(rotation)
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _coded_window(region: Region, turns: int, coded_w: int, coded_h: int) -> tuple[int, int, int, int]:
    """Rows y0:y1 and columns x0:x1 of the stored frame that hold display ``region``."""
    x, y, w, h = region.x, region.y, region.width, region.height
    # np.rot90(A, k): display = rot90(coded, k); invert the index maps per quarter turn
    if turns == 0:
        return y, y + h, x, x + w
    if turns == 1:
        return x, x + w, coded_w - y - h, coded_w - y
    if turns == 2:
        return coded_h - y - h, coded_h - y, coded_w - x - w, coded_w - x
    return coded_h - x - w, coded_h - x, y, y + h


def plane_rows(plane: VideoPlane) -> NDArray[np.uint8]:
    """The bytes of one 8-bit plane as rows (line padding included): a view, writes reach the frame."""
    # through memoryview: numpy's stubs (for Python 3.11) do not see PyAV's planes as buffers
    return np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)


def _plane(frame: av.VideoFrame, index: int) -> NDArray[np.uint8]:
    plane = frame.planes[index]
    return plane_rows(plane)[:, : plane.width]


def crop_gray(frame: av.VideoFrame, region: Region, rotation: int) -> NDArray[np.uint8]:
    """Luma of display ``region`` (uint8, a copy), read straight from the decoded plane."""
    turns = _quarter_turns(rotation)
    y0, y1, x0, x1 = _coded_window(region, turns, frame.width, frame.height)
    if frame.format.name in _PLANAR_YUV or frame.format.name in ("nv12", "nv21"):
        luma = _plane(frame, 0)[y0:y1, x0:x1]
    else:
        luma = cast("NDArray[np.uint8]", frame.to_ndarray(format="gray"))[y0:y1, x0:x1]
    return np.ascontiguousarray(np.rot90(luma, turns)) if turns else luma.copy()


def crop_bgr(frame: av.VideoFrame, region: Region, rotation: int) -> NDArray[np.uint8]:
    """Display ``region`` in colour (BGR, what the OCR models take), converted from the 4:2:0 planes
    of that window only: converting the whole frame costs ~10x more at 1080p. Text that differs
    from its background in hue more than in brightness (yellow over a light sky) keeps its strokes
    in colour where luma alone blurs them."""
    if frame.format.name not in ("yuv420p", "yuvj420p") or frame.width % 2 or frame.height % 2:
        # other planes to cut, or no whole chroma samples at the edge: convert it all
        whole = cast("NDArray[np.uint8]", frame.to_ndarray(format="bgr24"))
        turns = _quarter_turns(rotation)
        upright = np.rot90(whole, turns) if turns else whole
        return np.ascontiguousarray(
            upright[region.y : region.y + region.height, region.x : region.x + region.width]
        )
    # the window grown to even bounds, where each chroma sample covers whole luma pairs
    x0, y0 = region.x - region.x % 2, region.y - region.y % 2
    x1, y1 = region.x + region.width, region.y + region.height
    x1, y1 = x1 + x1 % 2, y1 + y1 % 2
    y, u, v = crop_yuv420(frame, Region(x0, y0, x1 - x0, y1 - y0), rotation)
    i420 = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(-1, y.shape[1])
    bgr = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
    dy, dx = region.y - y0, region.x - x0
    return np.ascontiguousarray(bgr[dy : dy + region.height, dx : dx + region.width])


# a frame (or a crop of one) as its Y, U and V planes
YuvPlanes = tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]


def crop_yuv420(frame: av.VideoFrame, region: Region, rotation: int) -> YuvPlanes:
    """Y, U, V planes (4:2:0) of an even-aligned display ``region``, without RGB conversion."""
    turns = _quarter_turns(rotation)
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    y0, y1, x0, x1 = _coded_window(region, turns, frame.width, frame.height)
    planes = [_plane(frame, 0)[y0:y1, x0:x1]]
    for i in (1, 2):
        planes.append(_plane(frame, i)[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2])
    y, u, v = (np.ascontiguousarray(np.rot90(p, turns)) if turns else p.copy() for p in planes)
    return y, u, v


def _keyframe_times(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, origin: float, tb: float
) -> list[float]:
    """Presentation times (seconds from ``origin``) of the key frames, from a demux pass (no decoding)."""
    times: list[float] = []
    for packet in container.demux(stream):
        if packet.size and packet.is_keyframe and packet.pts is not None:
            times.append(packet.pts * tb - origin)
    return sorted(times)


def frames_at(path: Path, times: list[float]) -> Iterator[tuple[float, av.VideoFrame]]:
    """For each target time (seconds from the first frame, ascending): the frame on screen then, i.e.
    the last frame whose presentation time is <= the target (the first frame for earlier targets).

    Keyframe-aware: decoding jumps (seek) to the key frame before a target only when that key frame
    lies after the current decoding position; targets inside the GOP being decoded are reached by
    decoding on. A few samples of a long video so decode a few GOPs instead of the whole file, and
    a video with rare key frames is simply decoded straight through.
    """
    targets = sorted(times)
    if not targets:
        return
    container = _open(Path(path))
    try:
        stream = _video_stream(container, Path(path).name)
        stream.thread_type = "AUTO"
        tb = float(stream.time_base) if stream.time_base else 0.0
        if tb <= 0:  # no timestamps: nothing to seek by, decode through
            frames = ((d.time, d.frame) for d in iter_frames(path))
            yield from _pick(frames, targets)
            return
        origin = stream.start_time * tb if stream.start_time is not None else None
        if origin is None:
            for frame in container.decode(stream):
                origin = frame.pts * tb if frame.pts is not None else 0.0
                break
        assert origin is not None
        keys = _keyframe_times(container, stream, origin, tb)

        def key_before(target: float) -> float:
            return max((k for k in keys if k <= target + 1e-9), default=keys[0] if keys else 0.0)

        i = 0
        seek_key = key_before(targets[0])
        while i < len(targets):
            container.seek(int(round((origin + seek_key) / tb)), stream=stream, backward=True)
            previous: av.VideoFrame | None = None
            jumped = False
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = frame.pts * tb - origin
                _check_size(Path(path).name, frame.width, frame.height)
                _check_time(Path(path).name, t)
                while i < len(targets) and t > targets[i] + 1e-9:
                    yield targets[i], previous if previous is not None else frame
                    i += 1
                if i >= len(targets):
                    break
                previous = frame
                # the next target's GOP starts after this frame: jump there instead of decoding on
                key = key_before(targets[i])
                if key > t + 1e-9 and key > seek_key + 1e-9:
                    seek_key, jumped = key, True
                    break
            else:
                # end of the stream: its last frame stays on screen for the remaining targets
                while i < len(targets) and previous is not None:
                    yield targets[i], previous
                    i += 1
                break
            if not jumped:
                break
    finally:
        container.close()


def _pick(
    frames: Iterator[tuple[float, av.VideoFrame]], targets: list[float]
) -> Iterator[tuple[float, av.VideoFrame]]:
    previous = None
    i = 0
    for t, frame in frames:
        while i < len(targets) and t > targets[i] + 1e-9:
            yield targets[i], (previous if previous is not None else frame)
            i += 1
        previous = frame
    while i < len(targets) and previous is not None:
        yield targets[i], previous
        i += 1
