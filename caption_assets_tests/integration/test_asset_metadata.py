"""What a person reads on each asset's materialization: readable facts with units, tables instead of
JSON blobs, inline pictures that are real PNGs (also stored beside the video's artifacts)."""

from __future__ import annotations

import base64
import io
import re

import dagster as dg
import pytest
from PIL import Image

from caption_assets.core.config import PIPELINE_VERSION
from caption_assets.core.keys import VideoKeys
from caption_assets.defs.assets.captions import captions_db, cropped_frames
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.runs import FILE_TAG, TENANT_NAME_TAG

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ASSETS = [full_frames, layout_db, cropped_frames, captions_db]
DATA_PNG = re.compile(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def _png_of(value: dg.MetadataValue) -> Image.Image:
    assert isinstance(value, dg.MarkdownMetadataValue)
    match = DATA_PNG.fullmatch(value.md_str)
    assert match, value.md_str[:80]
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
    assert image.format == "PNG" and 0 < image.width <= 800
    return image


def test_every_asset_shows_readable_metadata_and_pictures(platform, rendered) -> None:
    video = rendered("short_bottom")
    video_id = platform.upload(video.path, tenant="acme", tier="premium")
    result = dg.materialize(
        ASSETS, partition_key=video_id, instance=platform.instance, resources=platform.resources
    )
    assert result.success
    meta = {
        name: result.asset_materializations_for_node(name)[0].metadata
        for name in ("full_frames", "layout_db", "cropped_frames", "captions_db")
    }
    row = platform.catalog.get_video(video_id)
    keys = VideoKeys(row.tenant_id, video_id)

    # the run was launched without names (as from the UI): the assets put them on it
    tags = platform.instance.get_run_by_id(result.run_id).tags
    assert tags[TENANT_NAME_TAG] == "acme" and tags[FILE_TAG] == video.path.name

    # every asset: who it is, readably
    for m in meta.values():
        assert m["tenant"].value == "acme" and m["tier"].value == "premium"
        assert m["file"].value == video.path.name

    ff = meta["full_frames"]
    assert ff["fps"].value == round(row.fps, 3) and len(repr(ff["fps"].value)) <= 8
    assert ff["resolution"].value == f"{video.truth.width} x {video.truth.height} px"
    assert re.fullmatch(r"\d+(\.\d)? (B|KB|MB|GB)", ff["size"].value)
    assert ff["duration"].value.endswith(f"({row.duration_seconds:.1f} s)")
    assert isinstance(ff["prefix"], dg.PathMetadataValue)
    sheet = _png_of(ff["contact_sheet"])
    assert platform.store.get_bytes(keys.preview("contact_sheet"))[:8] == b"\x89PNG\r\n\x1a\n"
    assert sheet.width > 0

    lay = meta["layout_db"]
    picture = _png_of(lay["layout"]).convert("RGB")
    assert platform.store.exists(keys.preview("layout"))
    # the zone's outline is drawn where the region is (x scaled to the picture's width)
    scale = picture.width / video.truth.width
    x, y, width, height = (lay[f"region_{k}_px"].value for k in ("x", "y", "width", "height"))
    outline_top = round(y * scale)
    assert (255, 0, 0) in [
        picture.getpixel((round((x + width / 2) * scale), r)) for r in (outline_top, outline_top + 1)
    ]
    assert all(isinstance(lay[f"region_{k}_px"], dg.IntMetadataValue) for k in ("x", "y", "width", "height"))
    assert 0 < lay["region_height_pct_of_frame"].value < 100
    assert lay["confidence"].value == round(lay["confidence"].value, 3)
    assert isinstance(lay["stats"], dg.MarkdownMetadataValue) and "| statistic" in lay["stats"].md_str
    assert "region" not in lay  # no JSON blob of the region any more

    cf = meta["cropped_frames"]
    # a 5 s video: crops at 0, 1.6, 3.2 and 4.8 s, one row each
    assert _png_of(cf["bands"]).height >= 4 * 40
    levels = cf["chunks_per_level"].md_str
    assert "level" in levels.splitlines()[0]
    for modulo in (16, 4, 1):
        assert re.search(rf"^\|\s*{modulo}\s*\|\s*\d+\s*\|$", levels, re.M), levels
    assert cf["states_found"].value > 0
    assert isinstance(cf["ocr_seconds"].value, float)
    assert "scan" not in cf

    cap = meta["captions_db"]
    first = video.truth.captions[0].text
    assert first in cap["cues"].md_str and "| start-end" in cap["cues"].md_str
    assert cap["srt_preview"].md_str.startswith("```\n1\n") and first in cap["srt_preview"].md_str
    assert cap["captions"].value == len(video.truth.captions)
    assert 0 < cap["captioned_pct_of_video"].value <= 100
    assert 0 < cap["confidence_min"].value <= cap["confidence_mean"].value <= 1
    timeline = _png_of(cap["timeline"]).convert("RGB")
    assert timeline.width == 800
    for name in ("key", "srt", "vtt"):
        assert isinstance(cap[name], dg.PathMetadataValue)
    assert cap["srt"].value == keys.captions_srt()


def test_assets_carry_code_version_and_owners() -> None:
    for asset in ASSETS:
        spec = next(iter(asset.specs))
        assert spec.code_version == PIPELINE_VERSION
        assert spec.owners == ["team:captions"]


class _NoStore:
    def get_bytes(self, key: str) -> bytes:
        raise FileNotFoundError(key)


def test_full_frames_facts_are_rounded_with_units() -> None:
    from caption_assets.core.compute.base import FullFramesResult
    from caption_assets.defs.assets.metadata import full_frames_metadata

    keys = VideoKeys("0b1e6a4c-1f7d-4c47-9f0e-0c6c2f1b8a11", "5d9b7c1e-2a3f-4b6d-8e9f-1a2b3c4d5e6f")
    result = FullFramesResult(1280, 720, 29.999999999999996, 62.04, 1861, [0, 100])
    meta = full_frames_metadata(dg.build_asset_context(), _NoStore(), keys, result, 190_000_000)  # type: ignore[arg-type]
    assert meta["fps"] == 30.0
    assert meta["size"] == "190.0 MB"
    assert meta["duration"] == "1:02.0 (62.0 s)"
    assert meta["resolution"] == "1280 x 720 px"
    # a thumbnail that cannot be read leaves the picture out, not the step failed
    assert "contact_sheet" not in meta
