"""Small PNG pictures for a person reading a materialization at a glance (no Dagster here).

Each builder returns PNG bytes at most ``MAX_WIDTH`` px wide, palette-quantized until it fits
``MAX_BYTES`` (a few tens of KB: they travel base64-encoded in the event log). The assets write
them to the store next to the video's other artifacts (``VideoKeys.preview``) and show them with
:func:`markdown_image` (Dagster 1.13 has no image metadata type; a ``data:`` URL in markdown
renders in the UI).

- :func:`contact_sheet`: the full-frame thumbnails in a grid, each labelled with its time.
- :func:`zone_overlay`: one frame with the OCR boxes (thin, ``BOX_COLOUR``) and the caption
  zone(s) (thick, ``ZONE_COLOUR``) drawn.
- :func:`band_strip`: caption-band crops stacked, each labelled with its time.
- :func:`caption_timeline`: the cues as bars over the video's duration.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "BOX_COLOUR",
    "CUE_COLOUR",
    "MAX_BYTES",
    "MAX_WIDTH",
    "ZONE_COLOUR",
    "band_strip",
    "caption_timeline",
    "contact_sheet",
    "Pen",
    "encode_png",
    "evenly",
    "markdown_image",
    "open_image",
    "zone_overlay",
]

MAX_WIDTH = 800
MAX_BYTES = 80_000
ZONE_COLOUR = (255, 0, 0)
BOX_COLOUR = (255, 215, 0)
CUE_COLOUR = (30, 110, 220)
_BACKGROUND = (24, 24, 24)
_LABEL = (240, 240, 240)

Rect = tuple[int, int, int, int]  # x, y, width, height in the source image's pixels
ImageInput = Image.Image | bytes | np.ndarray


def open_image(data: ImageInput) -> Image.Image:
    """An RGB image from encoded bytes (JPEG, PNG, ...), an RGB/gray array or an image."""
    if isinstance(data, Image.Image):
        image = data
    elif isinstance(data, bytes | bytearray):
        image = Image.open(io.BytesIO(data))
        image.load()
    else:
        image = Image.fromarray(np.asarray(data, dtype=np.uint8))
    return image.convert("RGB")


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _clock(seconds: float) -> str:
    whole = max(0, int(round(seconds)))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Pen:
    """Draws an overlay onto the quantized picture with exact colours (palette entries of their
    own: an adaptive palette drops a colour few pixels have, such as a thin zone outline).
    Coordinates are the unscaled picture's; ``scale`` is applied here."""

    def __init__(self, image: Image.Image, scale: float, colours: Sequence[tuple[int, int, int]]) -> None:
        palette = image.getpalette() or []
        used = len(palette) // 3
        free = 256 - used
        if free < len(colours):
            raise ValueError(f"no room for {len(colours)} overlay colours in a {used}-colour palette")
        self._ink = {rgb: used + n for n, rgb in enumerate(colours)}
        image.putpalette(palette + [c for rgb in colours for c in rgb])
        self.draw = ImageDraw.Draw(image)
        self.scale = scale

    def ink(self, rgb: tuple[int, int, int]) -> int:
        return self._ink[rgb]

    def _xy(self, x: float, y: float) -> tuple[int, int]:
        return round(x * self.scale), round(y * self.scale)

    def rectangle(
        self,
        rect: tuple[float, float, float, float],
        outline: tuple[int, int, int] | None = None,
        fill: tuple[int, int, int] | None = None,
        width: int = 1,
    ) -> None:
        """``rect`` = (x0, y0, x1, y1), both corners inclusive."""
        x0, y0 = self._xy(rect[0], rect[1])
        x1, y1 = self._xy(rect[2], rect[3])
        self.draw.rectangle(
            (x0, y0, max(x0, x1), max(y0, y1)),
            outline=None if outline is None else self.ink(outline),
            fill=None if fill is None else self.ink(fill),
            width=max(2, round(width * self.scale)) if width > 1 else 1,
        )

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        colour: tuple[int, int, int],
        size: int = 12,
        background: tuple[int, int, int] | None = None,
        align_right_at: float | None = None,
    ) -> None:
        font = _font(max(8, round(size * self.scale)))
        x, y = self._xy(*xy)
        if align_right_at is not None:
            x = round(align_right_at * self.scale - self.draw.textlength(text, font=font))
        if background is not None:
            left, top, right, bottom = self.draw.textbbox((x, y), text, font=font)
            self.draw.rectangle((left - 2, top - 1, right + 2, bottom + 1), fill=self.ink(background))
        self.draw.text((x, y), text, fill=self.ink(colour), font=font)


Overlay = Callable[[Pen], None]
_OVERLAY_COLOURS = [ZONE_COLOUR, BOX_COLOUR, CUE_COLOUR, _LABEL, (0, 0, 0), (60, 60, 60), (225, 225, 225)]


def encode_png(image: Image.Image, overlay: Overlay | None = None, max_bytes: int = MAX_BYTES) -> bytes:
    """PNG bytes of ``image`` (scaled to ``MAX_WIDTH``) with ``overlay`` drawn on top in exact
    colours; fewer palette colours, then a smaller scale, until it fits ``max_bytes`` (the last
    try is returned whatever its size)."""
    image = image.convert("RGB")
    base = 1.0
    if image.width > MAX_WIDTH:
        base = MAX_WIDTH / image.width
    data = b""
    for scale in (base, base * 0.75, base * 0.5):
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        scaled = image if size == image.size else image.resize(size)
        for colours in (96, 32):
            quantized = scaled.quantize(
                colors=colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
            )
            if overlay is not None:
                overlay(Pen(quantized, scale, _OVERLAY_COLOURS))
            out = io.BytesIO()
            quantized.save(out, format="PNG", compress_level=9)
            data = out.getvalue()
            if len(data) <= max_bytes:
                return data
    return data


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown showing ``png`` inline: ``![alt](data:image/png;base64,...)``."""
    safe_alt = "".join(c for c in alt if c not in "[]\n\r")
    return f"![{safe_alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def _labels(places: Sequence[tuple[float, float, str]]) -> Overlay:
    def draw(pen: Pen) -> None:
        for x, y, text in places:
            pen.text((x, y), text, _LABEL, background=(0, 0, 0))

    return draw


def contact_sheet(
    thumbnails: Sequence[ImageInput],
    seconds: Sequence[float] | None = None,
    columns: int = 5,
    max_count: int = 15,
) -> bytes:
    """The thumbnails (evenly chosen, at most ``max_count``) in a grid ``MAX_WIDTH`` wide."""
    if not thumbnails:
        raise ValueError("contact sheet of no thumbnails")
    picked = evenly(len(thumbnails), max_count)
    images = [open_image(thumbnails[i]) for i in picked]
    columns = max(1, min(columns, len(images)))
    cell_w = MAX_WIDTH // columns
    first = images[0]
    cell_h = max(1, round(first.height * cell_w / first.width))
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (cell_w * columns, cell_h * rows), _BACKGROUND)
    labels = []
    for n, (i, image) in enumerate(zip(picked, images)):
        x, y = (n % columns) * cell_w, (n // columns) * cell_h
        sheet.paste(image.resize((cell_w - 2, cell_h - 2)), (x + 1, y + 1))
        if seconds is not None:
            labels.append((x + 4, y + cell_h - 16, _clock(seconds[i])))
    return encode_png(sheet, _labels(labels))


def zone_overlay(
    frame: ImageInput,
    zones: Sequence[Rect],
    boxes: Sequence[Rect] = (),
    source_size: tuple[int, int] | None = None,
) -> bytes:
    """``frame`` with the OCR ``boxes`` (thin, ``BOX_COLOUR``) and the caption ``zones`` (3 px,
    ``ZONE_COLOUR``) drawn, ``MAX_WIDTH`` wide at most.

    Rectangles are in the pixels of ``source_size`` (width, height; default: the frame's own), so a
    thumbnail can show native-resolution boxes."""
    image = open_image(frame)
    src_w, src_h = source_size or image.size
    sx, sy = image.width / src_w, image.height / src_h

    def corners(rect: Rect) -> tuple[float, float, float, float]:
        x, y, w, h = rect
        return (x * sx, y * sy, (x + w) * sx - 1, (y + h) * sy - 1)

    def draw(pen: Pen) -> None:
        for box in boxes:
            pen.rectangle(corners(box), outline=BOX_COLOUR)
        for zone in zones:
            pen.rectangle(corners(zone), outline=ZONE_COLOUR, width=3)

    return encode_png(image, draw)


def band_strip(
    crops: Sequence[ImageInput], seconds: Sequence[float] | None = None, max_count: int = 6
) -> bytes:
    """Caption-band crops (evenly chosen, at most ``max_count``) stacked, each ``MAX_WIDTH`` wide
    and 80 px high at most, labelled with their times."""
    if not crops:
        raise ValueError("band strip of no crops")
    picked = evenly(len(crops), max_count)
    rows = []
    for i in picked:
        image = open_image(crops[i])
        scale = min(MAX_WIDTH / image.width, 80 / image.height, 1.0)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        rows.append((i, image.resize(size)))
    width = max(r.width for _, r in rows)
    strip = Image.new("RGB", (width, sum(r.height + 2 for _, r in rows)), _BACKGROUND)
    labels = []
    y = 0
    for i, row in rows:
        strip.paste(row, (0, y))
        if seconds is not None:
            labels.append((4, y + 2, _clock(seconds[i])))
        y += row.height + 2
    return encode_png(strip, _labels(labels))


def caption_timeline(
    cues: Sequence[tuple[float, float]], duration_seconds: float, width: int = MAX_WIDTH, height: int = 48
) -> bytes:
    """The cues (start, end seconds) as ``CUE_COLOUR`` bars over ``duration_seconds``, with the
    start, middle and end times below."""
    width = min(width, MAX_WIDTH)
    duration = max(duration_seconds, max((end for _, end in cues), default=0.0), 1e-6)
    bar_top, bar_bottom = 4, height - 18

    def draw(pen: Pen) -> None:
        pen.rectangle((0, bar_top, width - 1, bar_bottom), fill=(225, 225, 225))
        for start, end in cues:
            x0 = int(start / duration * (width - 1))
            x1 = max(x0, int(end / duration * (width - 1)))
            pen.rectangle((x0, bar_top, x1, bar_bottom), fill=CUE_COLOUR)
        for share in (0.0, 0.5, 1.0):
            text = _clock(share * duration)
            x = share * (width - 1)
            pen.text(
                (x, bar_bottom + 3),
                text,
                (60, 60, 60),
                size=11,
                align_right_at=x if share == 1.0 else None,
            )

    return encode_png(Image.new("RGB", (width, height), (250, 250, 250)), draw)


def evenly(count: int, at_most: int) -> list[int]:
    """``min(count, at_most)`` indices spread evenly over ``range(count)``, first and last included."""
    if count <= at_most:
        return list(range(count))
    if at_most <= 1:
        return [0]
    return sorted({round(i * (count - 1) / (at_most - 1)) for i in range(at_most)})
