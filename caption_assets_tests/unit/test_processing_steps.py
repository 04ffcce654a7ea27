"""The four steps and re-OCR on a small generated video (480x270, 3 s at 10 fps): real decoding, real
OCR, real chunk encoding, a few seconds in all. What each step writes is checked against the video's
exact ground truth, and every input a step refuses is refused with its reason."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import av
import pytest

from caption_assets.core.errors import BadInputError
from caption_assets.core.processing import captions_db as cdb
from caption_assets.core.processing import pipeline
from caption_assets.core.processing.chunks import chunk_layout
from caption_assets.core.processing.raw_ocr import read_raw_ocr
from caption_synthetic import Cue, GroundTruth, VideoSpec, render_video

pytestmark = pytest.mark.unit

SPEC = VideoSpec(
    width=480,
    height=270,
    fps=10,
    duration=3.0,
    background="solid",
    gop=10,
    cues=(Cue("Hello there friend", 0.3, 1.4), Cue("Second line here", 1.6, 2.8)),
)


@dataclass(frozen=True)
class Steps:
    video: Path
    out: Path
    truth: GroundTruth
    full: pipeline.FullFramesOutput
    layout: pipeline.LayoutOutput
    cropped: pipeline.CroppedOutput
    captions: pipeline.CaptionsOutput


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> Steps:
    root = tmp_path_factory.mktemp("steps")
    video, out = root / "v.mp4", root / "out"
    truth = render_video(SPEC, video)
    full = pipeline.run_full_frames(video, out)
    layout = pipeline.run_layout(out / "full_frames", out / "layout.db")
    cropped = pipeline.run_cropped_frames(video, out / "layout.db", out / "cropped")
    captions = pipeline.run_captions(cropped.raw_ocr_path, out / "layout.db", out / "captions.db")
    return Steps(video, out, truth, full, layout, cropped, captions)


def test_full_frames_are_the_sampled_tenths_with_thumbnails(steps: Steps) -> None:
    assert steps.full.indices == pipeline.full_frame_indices(3.0)
    assert (steps.full.info.width, steps.full.info.height) == (480, 270)
    for k in steps.full.indices:
        name = f"frame_{k:010d}.jpg"
        frame = av.open(str(steps.out / "full_frames" / name))
        thumb = av.open(str(steps.out / "full_frames_thumbnails" / name))
        try:
            assert (frame.streams.video[0].width, frame.streams.video[0].height) == (480, 270)
            assert (thumb.streams.video[0].width, thumb.streams.video[0].height) == (320, 180)
        finally:
            frame.close()
            thumb.close()


def test_layout_finds_the_bottom_band(steps: Steps) -> None:
    region = steps.layout.region
    assert region is not None and region.y > 270 // 2
    assert steps.layout.frame_count == len(steps.full.indices) and steps.layout.box_count > 0


def test_cropped_frames_write_every_tenth_into_its_chunk(steps: Steps) -> None:
    assert steps.cropped.frame_count == 30
    layout = chunk_layout(30)
    assert steps.cropped.chunk_count == sum(len(chunks) for chunks in layout.values())
    frames_per_chunk = {}
    for path in steps.cropped.chunk_paths:
        container = av.open(str(path))
        try:
            frames_per_chunk[(path.parent.name, path.name)] = sum(1 for _ in container.decode(video=0))
        finally:
            container.close()
    assert frames_per_chunk == {
        (f"modulo_{level}", f"chunk_{chunk[0]:010d}.webm"): len(chunk)
        for level, chunks in layout.items()
        for chunk in chunks
    }
    raw = read_raw_ocr(steps.cropped.raw_ocr_path)
    assert raw.metadata["width"] == "480" and len(raw.zones) >= 1


def test_captions_match_the_ground_truth(steps: Steps) -> None:
    got = [(c.text, c.start_native_frame, c.end_native_frame) for c in steps.captions.captions]
    want = [(c.text, c.first_frame, c.last_frame) for c in steps.truth.captions]
    assert [g[0] for g in got] == [w[0] for w in want]
    for (_, gs, ge), (_, ws, we) in zip(got, want):
        assert abs(gs - ws) <= 1 and abs(ge - we) <= 1
    assert steps.captions.srt_path.read_text().count("-->") == 2
    assert steps.captions.vtt_path.read_text().startswith("WEBVTT")


def test_reocr_reads_the_asked_caption_again_and_leaves_the_others(steps: Steps, tmp_path: Path) -> None:
    first, second = cdb.read_captions(steps.out / "captions.db")
    old = "2000-01-01T00:00:00+00:00"
    previous = tmp_path / "previous.db"
    cdb.write_captions(
        previous,
        [
            replace(first, text="garbled", text_ocr_confidence=0.1, text_edited_at=old, updated_at=old),
            replace(second, text="a person's words", text_edited_at=old, updated_at=old),
        ],
    )
    again = pipeline.run_reocr(
        steps.video, steps.out / "layout.db", tmp_path / "new.db", previous, [first.id]
    )
    target, other = again.captions
    assert target.text == steps.truth.captions[0].text
    assert target.text_ocr_confidence is not None and target.text_ocr_confidence > 0.5
    assert target.text_edited_at is None and target.updated_at != old
    assert (other.text, other.text_edited_at, other.updated_at) == ("a person's words", old, old)
    assert again.stats == {"reocr": 1, "captions": 2}
    with pytest.raises(BadInputError, match=r"captions \[99\] are not in the previous captions.db"):
        pipeline.run_reocr(steps.video, steps.out / "layout.db", tmp_path / "x.db", previous, [first.id, 99])


def test_a_rerun_keeps_what_a_person_owns(steps: Steps, tmp_path: Path) -> None:
    first, second = cdb.read_captions(steps.out / "captions.db")
    previous = tmp_path / "previous.db"
    # a person confirmed the first caption with other text; the second was never touched
    owned = replace(first, id=7, text="confirmed by a person", caption_frame_extents_state=cdb.CONFIRMED)
    cdb.write_captions(previous, [owned, replace(second, id=8, text="machine words")])
    out = pipeline.run_captions(
        steps.cropped.raw_ocr_path, steps.out / "layout.db", tmp_path / "captions.db", previous
    )
    assert [(c.id, c.text) for c in out.captions] == [
        (7, "confirmed by a person"),
        (8, steps.truth.captions[1].text),  # read again, with an id after the kept one
    ]


def _copy_layout(steps: Steps, tmp_path: Path, sql: str) -> Path:
    path = tmp_path / "layout.db"
    shutil.copy(steps.out / "layout.db", path)
    db = sqlite3.connect(path)
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()
    return path


def test_inputs_the_steps_refuse(steps: Steps, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no full frames"):
        pipeline.run_layout(tmp_path, tmp_path / "layout.db")
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "frame_0000000000.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(BadInputError, match="not a readable JPEG"):
        pipeline.run_layout(tmp_path / "frames", tmp_path / "layout.db")
    with pytest.raises(BadInputError, match="layout.db is missing"):
        pipeline.run_cropped_frames(steps.video, tmp_path / "none.db", tmp_path / "c")
    other_size = _copy_layout(steps, tmp_path, "update metadata set value = '640' where key = 'frame_width'")
    with pytest.raises(BadInputError, match="made for 640x270, the video is 480x270"):
        pipeline.run_cropped_frames(steps.video, other_size, tmp_path / "c")
    with pytest.raises(BadInputError, match="raw-ocr.db is missing"):
        pipeline.run_captions(tmp_path / "none.db", steps.out / "layout.db", tmp_path / "captions.db")
    moved = _copy_layout(steps, tmp_path, "update zones set y = y - 20")
    with pytest.raises(BadInputError, match="caption band changed"):
        pipeline.run_captions(steps.cropped.raw_ocr_path, moved, tmp_path / "captions.db")


def test_no_caption_region_gives_no_chunks_and_no_captions(steps: Steps, tmp_path: Path) -> None:
    no_region = _copy_layout(steps, tmp_path, "update metadata set value = 'null' where key = 'region'")
    cropped = pipeline.run_cropped_frames(steps.video, no_region, tmp_path / "c")
    assert (cropped.frame_count, cropped.chunk_count) == (0, 0)
    assert read_raw_ocr(cropped.raw_ocr_path).readings == []
    out = pipeline.run_captions(cropped.raw_ocr_path, no_region, tmp_path / "captions.db")
    assert out.captions == [] and cdb.read_captions(tmp_path / "captions.db") == []


def test_a_detection_made_ahead_reads_as_the_reading_would_have_detected() -> None:
    """band_scan detects a state's text ahead while the state before is read: the same boxes, so
    the same reading, as ``read_caption`` finds on its own (real OCR)."""
    import cv2
    import numpy as np

    from caption_assets.core.processing.reading import first_detection, read_caption

    def band(text: str) -> np.ndarray:
        image = np.full((64, 480), 40, np.uint8)
        if text:
            cv2.putText(image, text, (60, 44), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 255, 3, cv2.LINE_AA)
        return image

    # three distinct frames: the reading starts from the middle one
    frames = [band(""), band("Hello there"), band("Other words")]
    ahead = first_detection(frames)
    assert ahead
    assert read_caption(frames, detected=ahead) == read_caption(frames)
    assert "Hello" in read_caption(frames, detected=ahead).text
