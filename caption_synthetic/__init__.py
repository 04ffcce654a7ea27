"""Generator of captioned test videos with exact ground truth.

It is used by the tests and the benchmarks and is not part of the shipped package (the demo video of
``caption-assets dev --demo`` comes from ``caption_assets.app.demo``). The ground truth is derived
from the frames actually written: a cue is "on" in native frame ``n`` when ``start <= t_n < end``
(``t_n`` the presentation time of frame ``n``), so the first and last frame of every caption are
known exactly, whatever the frame rate (constant or variable).

Rendering is fast because each cue's text is rasterised once (Pillow) and alpha-composited onto the
background with numpy per frame; backgrounds that move are slices of one pre-rendered texture.

A video can also carry text that is *not* a caption (``VideoSpec.overlays``: logos, signs, title cards,
tickers, words painted on the scene), each with its own timing and place. Overlays never enter the
ground truth: they are there to be rejected. With no overlays the pixels are those of a spec without
the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

Position = Literal["bottom", "top"]
Background = Literal["solid", "gradient", "noise", "busy", "moving"]

_TIME_BASE = Fraction(1, 90000)


@dataclass(frozen=True)
class Cue:
    """One caption: ``text`` (``\\n`` separates lines) on screen for ``start <= t < end`` seconds."""

    text: str
    start: float
    end: float
    position: Position = "bottom"
    fade_frames: int | None = None  # None: the spec's default


@dataclass(frozen=True)
class Overlay:
    """Text on screen that is not a caption, shown for ``start <= t < end`` (``end`` None: to the end).

    ``x``/``y`` place the centre of the text as shares of the frame's width and height. ``scroll``
    (frame widths per second, leftwards) makes a ticker: the text repeats along the whole width and moves,
    with ``box_color`` as a full-width band behind it. ``follows_background`` paints the text on the
    scene, so it pans with a moving background (and leaves the frame with it).
    """

    text: str
    x: float = 0.5
    y: float = 0.5
    start: float = 0.0
    end: float | None = None
    size: float = 0.05  # font size, share of the frame height
    color: tuple[int, int, int] = (255, 255, 255)
    outline_color: tuple[int, int, int] | None = (0, 0, 0)
    box_color: tuple[int, int, int] | None = None  # plate behind the text (a ticker: a full-width band)
    opacity: float = 1.0  # below 1: a translucent watermark
    scroll: float = 0.0
    follows_background: bool = False
    font_path: str | None = None  # None: the spec's font


@dataclass(frozen=True)
class VideoSpec:
    """Everything that decides the pixels of a generated video (display orientation)."""

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    duration: float = 5.0
    cues: tuple[Cue, ...] = ()
    # Variable frame rate: explicit presentation times (seconds, increasing); overrides fps.
    timestamps: tuple[float, ...] | None = None
    font_path: str | None = None  # None: Pillow's bundled default font
    font_size: int | None = None  # pixels; None: 5.5% of the shorter display side
    text_color: tuple[int, int, int] = (255, 255, 255)
    outline_color: tuple[int, int, int] | None = (0, 0, 0)
    outline_width: int | None = None  # None: font_size / 14
    box_color: tuple[int, int, int] | None = None  # opaque box behind the text
    margin: float = 0.07  # distance of the text from the top/bottom edge, share of the height
    line_spacing: float = 0.25  # extra space between lines, share of the font size
    background: Background = "gradient"
    background_color: tuple[int, int, int] = (40, 60, 90)
    fade_frames: int = 0
    rotation: int = 0  # display rotation (counter-clockwise degrees) stored as container side data
    crf: int = 20
    codec: Literal["libx264", "libvpx-vp9"] = "libx264"
    gop: int = 48
    x264_preset: str = "ultrafast"  # rendering speed first; the blockier artefacts are a fair test
    seed: int = 0
    overlays: tuple[Overlay, ...] = ()  # non-caption text, drawn under the captions


@dataclass
class CaptionTruth:
    text: str
    first_frame: int  # inclusive, native frame index in presentation order
    last_frame: int  # inclusive
    start_seconds: float  # presentation time of first_frame
    end_seconds: float  # presentation time of the frame after last_frame (or the video end)
    position: str
    faded: bool


@dataclass
class GroundTruth:
    width: int
    height: int
    frame_count: int
    duration_seconds: float
    frame_times: list[float]
    captions: list[CaptionTruth] = field(default_factory=list)
    # cues that no written frame shows (shorter than a frame interval): reported, never expected
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> GroundTruth:
        raw = json.loads(text)
        raw["captions"] = [CaptionTruth(**c) for c in raw["captions"]]
        return cls(**raw)


def frame_times(spec: VideoSpec) -> list[float]:
    """Presentation time of every frame the generator writes, snapped to the stream time base."""
    if spec.timestamps is not None:
        raw = list(spec.timestamps)
    else:
        raw = [n / spec.fps for n in range(int(round(spec.duration * spec.fps)))]
    ticks = [round(t / _TIME_BASE) for t in raw]
    if any(b <= a for a, b in zip(ticks, ticks[1:])):
        raise ValueError("frame timestamps must be strictly increasing")
    return [float(t * _TIME_BASE) for t in ticks]


def _load_font(spec: VideoSpec, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if spec.font_path:
        return ImageFont.truetype(spec.font_path, size)
    return ImageFont.load_default(size=size)


def _font_size(spec: VideoSpec) -> int:
    return spec.font_size or max(12, round(min(spec.width, spec.height) * 0.055))


@dataclass
class _Sprite:
    """A cue's text rasterised once: premultiplied RGB and alpha, and where it goes."""

    rgb: np.ndarray  # float32 HxWx3, already multiplied by alpha
    alpha: np.ndarray  # float32 HxWx1 in 0..1
    x: int
    y: int
    period: int = 0  # a ticker's: width of one repeat of its text, in pixels


def _rasterise(
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    size: int,
    color: tuple[int, int, int],
    outline: tuple[int, int, int] | None,
    stroke: int,
    box: tuple[int, int, int] | None,
    spacing: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied RGB and alpha (float32) of centred multi-line text on a padded canvas."""
    pad = stroke + max(2, size // 5)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox(
        (0, 0), text, font=font, spacing=spacing, align="center", stroke_width=stroke
    )
    left, top = math.floor(left), math.floor(top)
    w, h = math.ceil(right) - left + 2 * pad, math.ceil(bottom) - top + 2 * pad
    image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if box is not None:
        draw.rectangle((0, 0, w - 1, h - 1), fill=(*box, 255))
    draw.multiline_text(
        (pad - left, pad - top),
        text,
        font=font,
        fill=(*color, 255),
        spacing=spacing,
        align="center",
        stroke_width=stroke,
        stroke_fill=(*outline, 255) if outline is not None else None,
    )
    rgba = np.asarray(image, dtype=np.float32) / 255.0
    alpha = rgba[:, :, 3:4]
    return rgba[:, :, :3] * 255.0 * alpha, alpha


def _render_sprite(spec: VideoSpec, cue: Cue) -> _Sprite:
    size = _font_size(spec)
    font = _load_font(spec, size)
    stroke = 0
    if spec.outline_color is not None:
        stroke = spec.outline_width if spec.outline_width is not None else max(1, round(size / 14))
    rgb, alpha = _rasterise(
        cue.text,
        font,
        size,
        spec.text_color,
        spec.outline_color,
        stroke,
        spec.box_color,
        round(size * spec.line_spacing),
    )
    h, w = alpha.shape[:2]
    if w > spec.width or h > spec.height:
        raise ValueError(f"cue {cue.text!r} does not fit a {spec.width}x{spec.height} frame")
    x = (spec.width - w) // 2
    margin = round(spec.height * spec.margin)
    y = margin if cue.position == "top" else spec.height - margin - h
    return _Sprite(rgb=rgb, alpha=alpha, x=x, y=max(0, y))


def _render_overlay(spec: VideoSpec, overlay: Overlay) -> _Sprite:
    """An overlay's text rasterised once; a ticker's sprite holds enough repeats of its text to cover
    the width at any scroll offset (``_place_overlay`` picks the window)."""
    size = max(8, round(overlay.size * spec.height))
    font = ImageFont.truetype(overlay.font_path, size) if overlay.font_path else _load_font(spec, size)
    stroke = max(1, round(size / 14)) if overlay.outline_color is not None else 0
    box = None if overlay.scroll else overlay.box_color
    rgb, alpha = _rasterise(
        overlay.text, font, size, overlay.color, overlay.outline_color, stroke, box, round(size * 0.25)
    )
    if overlay.scroll:
        # a gap of a few characters between repeats, as tickers separate their items
        gap = np.zeros((alpha.shape[0], 2 * size, 1), np.float32)
        period_rgb = np.concatenate([rgb, np.zeros((*gap.shape[:2], 3), np.float32)], axis=1)
        period_alpha = np.concatenate([alpha, gap], axis=1)
        period = period_alpha.shape[1]
        repeats = spec.width // period + 2
        rgb, alpha = np.tile(period_rgb, (1, repeats, 1)), np.tile(period_alpha, (1, repeats, 1))
        if overlay.box_color is not None:
            band = np.array(overlay.box_color, np.float32)
            rgb = rgb + band * (1.0 - alpha)
            alpha = np.ones_like(alpha)
    else:
        period = 0
    h, w = alpha.shape[:2]
    x = round(overlay.x * spec.width - w / 2)
    y = round(overlay.y * spec.height - h / 2)
    return _Sprite(rgb=rgb * overlay.opacity, alpha=alpha * overlay.opacity, x=x, y=y, period=period)


class _BackgroundSource:
    """Frames of the background; moving kinds are windows into one larger pre-rendered texture."""

    def __init__(self, spec: VideoSpec) -> None:
        self.spec = spec
        rng = np.random.default_rng(spec.seed)
        h, w = spec.height, spec.width
        base = np.array(spec.background_color, dtype=np.float32)
        self.speed = 0
        if spec.background == "solid":
            self.texture = np.broadcast_to(base, (h, w, 3)).astype(np.uint8)
        elif spec.background == "gradient":
            ramp = np.linspace(0.6, 1.4, w, dtype=np.float32)[None, :, None]
            vert = np.linspace(0.8, 1.2, h, dtype=np.float32)[:, None, None]
            self.texture = np.clip(base * ramp * vert, 0, 255).astype(np.uint8)
        elif spec.background == "noise":
            # smooth coloured noise, panning: a textured scene, not per-frame static
            small = rng.uniform(0, 255, (h // 8 + 2, (2 * w) // 8 + 2, 3)).astype(np.float32)
            big = np.asarray(
                Image.fromarray(small.astype(np.uint8)).resize((2 * w + 16, h + 16), Image.BICUBIC)
            )
            self.texture = big[:h, :]
            self.speed = max(1, w // 320)
        elif spec.background in ("busy", "moving"):
            # high-contrast clutter (rectangles, lines, bright spots) that pans under the captions
            tw = 2 * w
            image = Image.new("RGB", (tw, h), tuple(int(c) for c in base))
            draw = ImageDraw.Draw(image)
            n = 400 if spec.background == "busy" else 60
            scale = max(1, min(w, h) // 360)
            for _ in range(n):
                colour = tuple(int(c) for c in rng.integers(0, 256, 3))
                x0, y0 = int(rng.integers(0, tw)), int(rng.integers(0, h))
                kind = rng.integers(0, 3)
                if kind == 0:
                    x1 = x0 + int(rng.integers(8, 120)) * scale
                    y1 = y0 + int(rng.integers(8, 120)) * scale
                    draw.rectangle((x0, y0, x1, y1), fill=colour)
                elif kind == 1:
                    x1 = x0 + int(rng.integers(-200, 200)) * scale
                    y1 = y0 + int(rng.integers(-200, 200)) * scale
                    draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(1, 6)) * scale)
                else:
                    r = int(rng.integers(3, 30)) * scale
                    draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=colour)
            self.texture = np.asarray(image)
            self.speed = max(2, w // 200) if spec.background == "busy" else max(1, w // 640)
        else:
            raise ValueError(f"unknown background {spec.background!r}")

    def offset(self, n: int) -> int:
        """Left edge of frame ``n``'s window into the texture."""
        if self.speed == 0:
            return 0
        span = self.texture.shape[1] - self.spec.width
        # bounce back and forth so any duration works with a finite texture
        pos = (n * self.speed) % (2 * span) if span > 0 else 0
        return pos if pos <= span else 2 * span - pos

    def frame(self, n: int) -> np.ndarray:
        if self.speed == 0:
            return self.texture
        offset = self.offset(n)
        return self.texture[:, offset : offset + self.spec.width]


def _cue_alpha(k: int, length: int, fade: int) -> float:
    """Opacity of a cue in its k-th frame (0-based) of ``length``; every shown frame has alpha > 0."""
    if fade <= 0:
        return 1.0
    return min(1.0, (k + 1) / (fade + 1), (length - k) / (fade + 1))


def _blend(frame: np.ndarray, sprite: _Sprite, x: int, y: int, a: float) -> None:
    """Alpha-composite ``sprite`` at ``x, y`` onto ``frame`` in place, clipped to the frame."""
    h, w = sprite.alpha.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(frame.shape[1], x + w), min(frame.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    rows, cols = slice(y0 - y, y1 - y), slice(x0 - x, x1 - x)
    window = frame[y0:y1, x0:x1]
    mixed = window * (1.0 - sprite.alpha[rows, cols] * a) + sprite.rgb[rows, cols] * a
    window[...] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def _place_overlay(
    overlay: Overlay, sprite: _Sprite, t: float, background_offset: int, width: int
) -> tuple[_Sprite, int]:
    """The part of an overlay's sprite frame ``t`` shows and its left edge on screen."""
    if overlay.scroll:
        start = round(overlay.scroll * width * t) % sprite.period
        window = slice(start, start + width)
        return _Sprite(sprite.rgb[:, window], sprite.alpha[:, window], 0, sprite.y), 0
    if overlay.follows_background:
        return sprite, sprite.x - background_offset
    return sprite, sprite.x


def _stored_frame(display: np.ndarray, rotation: int) -> np.ndarray:
    # the player rotates the stored frame counter-clockwise by `rotation` to show `display`
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(display, -k)) if k else display


def render_video(spec: VideoSpec, path: Path) -> GroundTruth:
    """Write the video described by ``spec`` to ``path`` and return its exact ground truth."""
    times = frame_times(spec)
    if not times:
        raise ValueError("a video needs at least one frame")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sprites = [_render_sprite(spec, cue) for cue in spec.cues]
    # frames each cue covers, from the actual timestamps
    shown: list[list[int]] = [
        [n for n, t in enumerate(times) if cue.start <= t < cue.end] for cue in spec.cues
    ]
    if spec.timestamps is not None:
        last_interval = times[-1] - times[-2] if len(times) > 1 else 1 / 30
    else:
        last_interval = 1 / spec.fps
    video_end = times[-1] + last_interval

    background = _BackgroundSource(spec)
    k = (spec.rotation // 90) % 4
    coded_w, coded_h = (spec.height, spec.width) if k % 2 else (spec.width, spec.height)
    active: dict[int, list[int]] = {}
    for index, frames in enumerate(shown):
        for n in frames:
            active.setdefault(n, []).append(index)
    overlay_sprites = [_render_overlay(spec, overlay) for overlay in spec.overlays]

    with av.open(str(path), mode="w") as container:
        rate = Fraction(spec.fps).limit_denominator(1001) if spec.timestamps is None else None
        stream = container.add_stream(spec.codec, rate=rate or 30)
        stream.width, stream.height = coded_w, coded_h
        stream.pix_fmt = "yuv420p"
        stream.time_base = _TIME_BASE
        stream.codec_context.time_base = _TIME_BASE
        stream.codec_context.gop_size = spec.gop
        if spec.codec == "libx264":
            stream.options = {"crf": str(spec.crf), "preset": spec.x264_preset}
        else:
            stream.options = {"crf": str(spec.crf), "b": "0", "deadline": "realtime", "cpu-used": "8"}
        if spec.rotation:
            stream.set_display_rotation(spec.rotation)
        for n, t in enumerate(times):
            frame = background.frame(n)
            overlays_on = [
                i for i, o in enumerate(spec.overlays) if o.start <= t and (o.end is None or t < o.end)
            ]
            if n in active or overlays_on:
                frame = frame.copy()
                # overlays first: captions are drawn on top of whatever else is on screen
                for i in overlays_on:
                    part, x = _place_overlay(
                        spec.overlays[i], overlay_sprites[i], t, background.offset(n), spec.width
                    )
                    _blend(frame, part, x, part.y, 1.0)
                for index in active.get(n, ()):
                    sprite = sprites[index]
                    cue = spec.cues[index]
                    fade = spec.fade_frames if cue.fade_frames is None else cue.fade_frames
                    cue_frames = shown[index]
                    a = _cue_alpha(n - cue_frames[0], len(cue_frames), fade)
                    _blend(frame, sprite, sprite.x, sprite.y, a)
            out = av.VideoFrame.from_ndarray(_stored_frame(frame, spec.rotation), format="rgb24")
            out.pts = round(t / _TIME_BASE)
            out.time_base = _TIME_BASE
            for packet in stream.encode(out):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

    truth = GroundTruth(
        width=spec.width,
        height=spec.height,
        frame_count=len(times),
        duration_seconds=video_end,
        frame_times=times,
    )
    for cue, frames in zip(spec.cues, shown):
        if not frames:
            truth.skipped.append(cue.text)
            continue
        after = frames[-1] + 1
        fade = spec.fade_frames if cue.fade_frames is None else cue.fade_frames
        truth.captions.append(
            CaptionTruth(
                text=cue.text,
                first_frame=frames[0],
                last_frame=frames[-1],
                start_seconds=times[frames[0]],
                end_seconds=times[after] if after < len(times) else video_end,
                position=cue.position,
                faded=fade > 0,
            )
        )
    truth.captions.sort(key=lambda c: (c.first_frame, c.position))
    return truth


# ---------------------------------------------------------------------------------------------
# overlays: the kinds of on-screen text a caption extractor must leave out

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]


def logo(text: str, corner: Corner = "top-right", size: float = 0.04, opacity: float = 0.8) -> Overlay:
    """A channel logo or watermark: the same text in a corner for the whole video."""
    vertical, horizontal = corner.split("-")
    return Overlay(
        text,
        x=0.1 if horizontal == "left" else 0.9,
        y=0.07 if vertical == "top" else 0.93,
        size=size,
        opacity=opacity,
    )


SIGN_WORDS = ("EXIT", "SALE 50%", "OPEN 24h", "Platform 3", "NO PARKING", "Bakery", "Gate B12", "HOTEL")


def signs(
    start: float, end: float, every: float = 3.0, seed: int = 0, words: tuple[str, ...] = SIGN_WORDS
) -> tuple[Overlay, ...]:
    """Changing words on plates in the middle third of the frame, one after another, each at its own
    place (never a centred line at caption height)."""
    rng = np.random.default_rng(seed)
    out, t, i = [], start, 0
    while t + 0.5 < end:
        out.append(
            Overlay(
                words[i % len(words)],
                x=float(rng.uniform(0.2, 0.8)),
                y=float(rng.uniform(0.38, 0.62)),
                start=round(t, 3),
                end=round(min(end, t + every), 3),
                size=float(rng.uniform(0.05, 0.08)),
                color=(250, 250, 250),
                outline_color=None,
                box_color=tuple(int(c) for c in rng.integers(20, 140, 3)),  # type: ignore[arg-type]
            )
        )
        t += every
        i += 1
    return tuple(out)


def title_card(text: str, start: float = 0.0, length: float = 2.5, size: float = 0.1) -> Overlay:
    """Large centred text in the middle of the frame at the start of the video."""
    return Overlay(text, x=0.5, y=0.5, start=start, end=start + length, size=size)


def ticker(
    text: str,
    edge: Literal["bottom", "top"] = "bottom",
    speed: float = 0.15,
    size: float = 0.04,
    y: float | None = None,
    band: tuple[int, int, int] | None = (150, 20, 20),
) -> Overlay:
    """News-style text scrolling leftwards along an edge band for the whole video (``speed`` in frame
    widths per second); ``y`` (centre, share of the height) moves it off the edge, e.g. to the height
    where captions usually are."""
    centre = y if y is not None else (1.0 - size * 0.9 if edge == "bottom" else size * 0.9)
    return Overlay(text, x=0.5, y=centre, size=size, scroll=speed, box_color=band, outline_color=None)


def scene_words(
    words: tuple[str, ...] = ("CAFE", "Main St", "PHARMACY", "No 17"), seed: int = 0
) -> tuple[Overlay, ...]:
    """Words painted on the scene (shop fronts, street names): they pan with a moving background."""
    rng = np.random.default_rng(seed)
    return tuple(
        Overlay(
            w,
            x=float(rng.uniform(0.1, 1.6)),
            y=float(rng.uniform(0.2, 0.75)),
            size=float(rng.uniform(0.03, 0.06)),
            color=tuple(int(c) for c in rng.integers(0, 256, 3)),
            outline_color=None,  # type: ignore[arg-type]
            follows_background=True,
        )
        for w in words
    )


# ---------------------------------------------------------------------------------------------
# presets: the kinds of video the tests and benchmarks need

_LINES = [
    "Welcome back to the channel.",
    "Today we are cooking a simple soup.",
    "First, chop two onions finely.",
    "Add a spoon of butter to the pan.",
    "Stir for about five minutes!",
    "Does it smell good? It should.",
    "Now pour in one litre of stock.",
    "Season with salt & pepper (to taste).",
    "Let it simmer for 20 minutes.",
    "Meanwhile, toast some bread.",
    "That's it - enjoy your meal!",
    "See you next week, everyone.",
    "Don't forget to subscribe.",
    "Questions? Leave a comment below.",
    "It costs about $3.50 per bowl.",
    "Serve hot, with fresh herbs.",
]


def _sequence(
    texts: list[str], start: float, length: float, gap: float, position: Position = "bottom"
) -> list[Cue]:
    cues, t = [], start
    for text in texts:
        cues.append(Cue(text, round(t, 4), round(t + length, 4), position))
        t += length + gap
    return cues


def _short_bottom() -> VideoSpec:
    return VideoSpec(duration=5.0, cues=(Cue("Hello, this is a test.", 1.0, 4.0),))


def _no_text() -> VideoSpec:
    return VideoSpec(duration=5.0, cues=(), background="moving")


def _multi_30s() -> VideoSpec:
    cues = [
        Cue("Welcome back to the channel.", 0.5, 3.0),
        Cue("Today we are cooking a simple soup.", 3.0, 5.5),  # back-to-back, no gap
        Cue("First, chop two onions finely.", 6.0, 8.4),
        Cue("Yes!", 9.0, 9.4),  # short cue
        Cue("Add a spoon of butter to the pan.", 10.0, 12.5),
        Cue("Stir for about five minutes.", 12.5, 14.8),  # back-to-back
        Cue("Stir for about five minutes.", 15.6, 17.9),  # same text after a gap
        Cue("Now pour in one litre of stock,\nthen let it simmer.", 18.5, 21.5),  # two lines
        Cue("Season with salt & pepper (to taste).", 22.0, 24.7),
        Cue("That's it - enjoy your meal!", 25.2, 29.0),
    ]
    return VideoSpec(duration=30.0, cues=tuple(cues), background="noise", seed=3)


def _dense_2min() -> VideoSpec:
    cues: list[Cue] = []
    t = 0.3
    for i in range(60):
        length = 0.35 if i % 9 == 4 else 1.4 + (i % 4) * 0.2
        gap = 0.0 if i % 3 == 0 else 0.25
        cues.append(Cue(_LINES[i % len(_LINES)], round(t, 3), round(t + length, 3)))
        t += length + gap
    return VideoSpec(duration=120.0, cues=tuple(c for c in cues if c.end < 119.5), seed=5, background="busy")


def _uhd_4k() -> VideoSpec:
    return VideoSpec(
        width=3840,
        height=2160,
        duration=6.0,
        crf=26,
        cues=(Cue("Four thousand pixels wide.", 0.5, 2.5), Cue("Still sharp at 4K!", 3.0, 5.5)),
    )


def _sd_480p() -> VideoSpec:
    return VideoSpec(
        width=854,
        height=480,
        duration=8.0,
        background="noise",
        cues=(Cue("Standard definition works too.", 0.5, 3.5), Cue("Small text, big ideas.", 4.0, 7.5)),
    )


def _vertical() -> VideoSpec:
    # stored landscape with display rotation, as phones write it
    return VideoSpec(
        width=720,
        height=1280,
        duration=6.0,
        rotation=90,
        font_size=44,
        cues=(Cue("Shot on a phone,", 0.5, 2.5), Cue("held upright.", 2.5, 5.5)),
    )


def _vfr() -> VideoSpec:
    # 6 s alternating between 24 and 60 fps stretches, as screen recorders and phones do
    times: list[float] = []
    t = 0.0
    while t < 6.0:
        times.append(round(t, 6))
        t += 1 / 60 if int(t) % 2 else 1 / 24
    return VideoSpec(
        duration=6.0,
        timestamps=tuple(times),
        cues=(Cue("Variable frame rate.", 0.4, 2.3), Cue("Timings follow timestamps.", 2.7, 5.2)),
    )


def _demo() -> VideoSpec:
    return VideoSpec(
        duration=20.0,
        background="noise",
        seed=11,
        cues=tuple(_sequence(_LINES[:7], 0.8, 2.2, 0.4)),
    )


PRESETS = {
    "short_bottom": _short_bottom,
    "no_text": _no_text,
    "multi_30s": _multi_30s,
    "dense_2min": _dense_2min,
    "uhd_4k": _uhd_4k,
    "sd_480p": _sd_480p,
    "vertical": _vertical,
    "vfr": _vfr,
    "demo": _demo,
}


def preset(name: str) -> VideoSpec:
    """The spec of a named preset (``PRESETS``)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None


def render_preset(name: str, path: Path) -> GroundTruth:
    """Render a named preset to ``path``; the ground truth is also written to ``path.json``."""
    truth = render_video(preset(name), path)
    Path(str(path) + ".json").write_text(truth.to_json())
    return truth
