"""The preview pictures of core/previews.py: decodable PNGs, bounded, overlays where they belong."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from caption_assets.core import previews as pv
from caption_assets.core.errors import BadInputError
from caption_assets.core.keys import PREVIEWS, VideoKeys

pytestmark = pytest.mark.unit

TENANT = "0b1e6a4c-1f7d-4c47-9f0e-0c6c2f1b8a11"
VIDEO = "5d9b7c1e-2a3f-4b6d-8e9f-1a2b3c4d5e6f"


def _decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image.convert("RGB")


def _noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    """The worst case for PNG size: every pixel different."""
    return (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)


def test_contact_sheet_is_a_small_png_of_at_most_800_px() -> None:
    thumbs = [_noise(180, 320, seed) for seed in range(20)]
    png = pv.contact_sheet(thumbs, [10.0 * i for i in range(20)])
    image = _decode(png)
    assert image.width <= pv.MAX_WIDTH
    assert len(png) <= pv.MAX_BYTES


def test_contact_sheet_accepts_jpeg_bytes_and_keeps_aspect() -> None:
    out = io.BytesIO()
    Image.fromarray(_noise(90, 160)).save(out, format="JPEG")
    image = _decode(pv.contact_sheet([out.getvalue()] * 3, columns=3))
    # three cells of 266 px, each 16:9
    assert image.size == (798, 150)


def test_zone_overlay_draws_the_zone_where_it_is_in_native_pixels() -> None:
    grey = np.full((360, 640, 3), 90, np.uint8)
    # a thumbnail 640 px wide of a 1280x720 video: native rectangles are halved
    png = pv.zone_overlay(
        grey, zones=[(100, 600, 1080, 80)], boxes=[(400, 620, 300, 40)], source_size=(1280, 720)
    )
    image = _decode(png)
    assert image.size == (640, 360)
    # the zone's left edge at x = 50, from y = 300 to 339; the box's top edge at y = 310
    assert image.getpixel((51, 320)) == pv.ZONE_COLOUR
    assert image.getpixel((250, 310)) == pv.BOX_COLOUR
    # inside the zone and far from it: the frame itself
    assert image.getpixel((300, 330)) == (90, 90, 90)
    assert image.getpixel((320, 100)) == (90, 90, 90)


def test_zone_overlay_of_a_large_noisy_frame_is_bounded_and_keeps_the_zone_colour() -> None:
    png = pv.zone_overlay(_noise(1080, 1920), zones=[(0, 900, 1920, 120)])
    image = _decode(png)
    assert image.width <= pv.MAX_WIDTH and len(png) <= pv.MAX_BYTES
    top = round(900 * image.width / 1920)
    # the outline stays at least 2 px thick when the picture had to shrink to fit its byte budget
    rows = [image.getpixel((image.width // 2, y)) for y in range(top - 1, top + 2)]
    assert rows.count(pv.ZONE_COLOUR) >= 2


def test_band_strip_stacks_bounded_rows() -> None:
    crops = [_noise(100, 1280, seed) for seed in range(10)]
    png = pv.band_strip(crops, [float(i) for i in range(10)])
    image = _decode(png)
    assert image.width <= pv.MAX_WIDTH and len(png) <= pv.MAX_BYTES
    # at most six rows of at most 80 px (and 2 px gaps)
    assert image.height <= 6 * 82


def test_caption_timeline_bars_cover_the_cues_only() -> None:
    png = pv.caption_timeline([(5.0, 10.0)], duration_seconds=20.0, width=800)
    image = _decode(png)
    assert image.width == 800 and len(png) < 5_000
    y = 10
    assert image.getpixel((300, y)) == pv.CUE_COLOUR  # 7.5 s
    assert image.getpixel((100, y)) != pv.CUE_COLOUR  # 2.5 s
    assert image.getpixel((600, y)) != pv.CUE_COLOUR  # 15 s


def test_markdown_image_is_a_data_url_of_the_png() -> None:
    png = pv.caption_timeline([], 10.0)
    md = pv.markdown_image(png, "timeline [of] cues")
    assert md.startswith("![timeline of cues](data:image/png;base64,")
    encoded = md[md.index(",") + 1 : -1]
    assert base64.b64decode(encoded) == png


def test_preview_keys_lie_next_to_the_videos_artifacts() -> None:
    keys = VideoKeys(TENANT, VIDEO)
    assert [keys.preview(name) for name in PREVIEWS] == [
        f"{TENANT}/client/videos/{VIDEO}/previews/{name}.png" for name in PREVIEWS
    ]
    with pytest.raises(BadInputError):
        keys.preview("../layout")
