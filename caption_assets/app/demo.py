"""The demo video of ``caption-assets dev --demo``: 20 s of a panning textured scene with seven
bottom captions, outlined white text.

The test-video generator with ground truth (``caption_synthetic``) stays out of the shipped package;
this is the one video the platform itself needs, drawn the same way (text rasterised once, then
alpha-composited onto each frame) so the demo reads like the generator's ``demo`` preset.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT, FPS, DURATION = 1280, 720, 30, 20.0
LINES = (
    "Welcome back to the channel.",
    "Today we are cooking a simple soup.",
    "First, chop two onions finely.",
    "Add a spoon of butter to the pan.",
    "Stir for about five minutes!",
    "Does it smell good? It should.",
    "Now pour in one litre of stock.",
)
FIRST_START, CUE_LENGTH, CUE_GAP = 0.8, 2.2, 0.4
_TIME_BASE = Fraction(1, 90000)
_SEED = 11


def cue_times() -> list[tuple[str, float, float]]:
    """``(text, start, end)`` of every caption, seconds."""
    cues, t = [], FIRST_START
    for text in LINES:
        cues.append((text, round(t, 4), round(t + CUE_LENGTH, 4)))
        t += CUE_LENGTH + CUE_GAP
    return cues


def _caption_sprite(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied RGB and alpha (float32) of the outlined caption text on a padded canvas."""
    size = round(min(WIDTH, HEIGHT) * 0.055)
    stroke = max(1, round(size / 14))
    font = ImageFont.load_default(size=size)
    pad = stroke + max(2, size // 5)
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox(
        (0, 0), text, font=font, align="center", stroke_width=stroke
    )
    left, top = math.floor(left), math.floor(top)
    w, h = math.ceil(right) - left + 2 * pad, math.ceil(bottom) - top + 2 * pad
    image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ImageDraw.Draw(image).multiline_text(
        (pad - left, pad - top),
        text,
        font=font,
        fill=(255, 255, 255, 255),
        align="center",
        stroke_width=stroke,
        stroke_fill=(0, 0, 0, 255),
    )
    rgba = np.asarray(image, dtype=np.float32) / 255.0
    alpha = rgba[:, :, 3:4]
    return rgba[:, :, :3] * 255.0 * alpha, alpha


def _texture() -> np.ndarray:
    # smooth coloured noise twice the frame width, so the scene can pan behind the captions
    rng = np.random.default_rng(_SEED)
    small = rng.uniform(0, 255, (HEIGHT // 8 + 2, (2 * WIDTH) // 8 + 2, 3)).astype(np.uint8)
    big = np.asarray(Image.fromarray(small).resize((2 * WIDTH + 16, HEIGHT + 16), Image.Resampling.BICUBIC))
    return big[:HEIGHT, :]


def render_demo(path: Path) -> Path:
    """Write the demo video (H.264 in MP4) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    texture = _texture()
    speed = max(1, WIDTH // 320)
    span = texture.shape[1] - WIDTH
    margin = round(HEIGHT * 0.07)
    sprites = []
    for text, start, end in cue_times():
        rgb, alpha = _caption_sprite(text)
        h, w = alpha.shape[:2]
        sprites.append((start, end, rgb, alpha, (WIDTH - w) // 2, max(0, HEIGHT - margin - h)))

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuv420p"
        stream.time_base = _TIME_BASE
        stream.codec_context.time_base = _TIME_BASE
        stream.codec_context.gop_size = 48
        stream.options = {"crf": "20", "preset": "ultrafast"}
        for n in range(int(round(DURATION * FPS))):
            t = float(round(Fraction(n, FPS) / _TIME_BASE) * _TIME_BASE)
            # bounce back and forth so the finite texture covers any duration
            pos = (n * speed) % (2 * span)
            offset = pos if pos <= span else 2 * span - pos
            frame = texture[:, offset : offset + WIDTH]
            for start, end, rgb, alpha, x, y in sprites:
                if start <= t < end:
                    frame = frame.copy()
                    h, w = alpha.shape[:2]
                    window = frame[y : y + h, x : x + w]
                    window[...] = np.clip(window * (1.0 - alpha) + rgb + 0.5, 0, 255).astype(np.uint8)
            out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            out.pts = round(t / _TIME_BASE)
            out.time_base = _TIME_BASE
            for packet in stream.encode(out):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
