"""The four pipeline steps on generated videos, compared with their exact ground truth."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from caption_assets.core.errors import BadInputError, BadVideoError
from caption_assets.core.processing import pipeline
from caption_assets.core.processing.subtitles import read_cues
from caption_assets_tests.fixtures.captions import EDITED_TEXT, assert_reread, misread_and_edit
from caption_synthetic import GroundTruth, render_preset

pytestmark = pytest.mark.integration


def run_all(
    video: Path, out: Path
) -> tuple[pipeline.LayoutOutput, pipeline.CroppedOutput, pipeline.CaptionsOutput]:
    full = pipeline.run_full_frames(video, out)
    assert full.indices and (out / "full_frames" / f"frame_{full.indices[0]:010d}.jpg").is_file()
    assert len(full.indices) >= min(20, int(full.info.duration_seconds * 10))
    layout = pipeline.run_layout(out / "full_frames", out / "layout.db")
    cropped = pipeline.run_cropped_frames(video, out / "layout.db", out / "cropped")
    assert cropped.raw_ocr_path.is_file()
    captions = pipeline.run_captions(cropped.raw_ocr_path, out / "layout.db", out / "captions.db")
    return layout, cropped, captions


def assert_matches(captions: list[pipeline.Caption], truth: GroundTruth) -> None:
    got = [(c.text, c.start_native_frame, c.end_native_frame) for c in captions]
    want = [(c.text, c.first_frame, c.last_frame) for c in truth.captions]
    assert [g[0] for g in got] == [w[0] for w in want]
    for (_, gs, ge), (_, ws, we) in zip(got, want):
        assert abs(gs - ws) <= 1 and abs(ge - we) <= 1


def test_short_bottom(tmp_path: Path) -> None:
    truth = render_preset("short_bottom", tmp_path / "v.mp4")
    layout, cropped, out = run_all(tmp_path / "v.mp4", tmp_path / "out")
    assert layout.region is not None and layout.region.y > 360  # the bottom half
    assert cropped.frame_count == 50 and cropped.chunk_count == 4
    assert all(p.is_file() and p.stat().st_size > 0 for p in cropped.chunk_paths)
    assert_matches(out.captions, truth)
    assert [t for _, _, t in read_cues(out.srt_path)] == [c.text for c in truth.captions]
    assert [c.text for c in pipeline.read_captions(tmp_path / "out" / "captions.db")] == [
        c.text for c in truth.captions
    ]


def test_no_text_gives_zero_captions_and_valid_empty_outputs(tmp_path: Path) -> None:
    render_preset("no_text", tmp_path / "v.mp4")
    layout, cropped, out = run_all(tmp_path / "v.mp4", tmp_path / "out")
    assert layout.region is None and layout.confidence == 0.0
    assert cropped.chunk_count == 0
    assert out.captions == [] and pipeline.read_captions(tmp_path / "out" / "captions.db") == []
    assert read_cues(out.srt_path) == [] and out.vtt_path.read_text().startswith("WEBVTT")


@pytest.mark.slow
def test_multi_30s_and_reocr(tmp_path: Path) -> None:
    truth = render_preset("multi_30s", tmp_path / "v.mp4")
    _, cropped, out = run_all(tmp_path / "v.mp4", tmp_path / "out")
    assert cropped.frame_count == 300
    assert_matches(out.captions, truth)
    # a misread caption and, beside it, one a person edited: only the first is read again
    previous = tmp_path / "out" / "captions.db"
    target, edited = out.captions[3], out.captions[4]
    before = misread_and_edit(previous, target.id, edited.id)
    again = pipeline.run_reocr(
        tmp_path / "v.mp4",
        tmp_path / "out" / "layout.db",
        tmp_path / "re" / "captions.db",
        previous,
        [target.id],
    )
    after = {c.id: c for c in pipeline.read_captions(tmp_path / "re" / "captions.db")}
    assert [c.id for c in again.captions] == [c.id for c in out.captions] == list(after)
    assert_reread(before[target.id], after[target.id], truth.captions[3].text)
    assert after[edited.id] == before[edited.id]
    assert after[edited.id].text == EDITED_TEXT
    untouched = [i for i in after if i != target.id]
    assert [after[i] for i in untouched] == [before[i] for i in untouched]
    # the SRT is written from the re-read captions, not the previous file
    assert truth.captions[3].text in [t for _, _, t in read_cues(again.srt_path)]

    with pytest.raises(BadInputError, match=r"captions \[999\] are not in the previous captions.db"):
        pipeline.run_reocr(
            tmp_path / "v.mp4",
            tmp_path / "out" / "layout.db",
            tmp_path / "x" / "captions.db",
            previous,
            [target.id, 999],
        )
    assert not (tmp_path / "x" / "captions.db").exists()


def test_bad_input_is_a_bad_video_error(tmp_path: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video")
    zero = tmp_path / "zero.mkv"
    with av.open(str(zero), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (not_video, zero, empty, tmp_path / "missing.mp4"):
        for step in (
            lambda p: pipeline.run_full_frames(p, tmp_path / "o"),
            lambda p: pipeline.run_cropped_frames(p, tmp_path / "layout.db", tmp_path / "o"),
            lambda p: pipeline.run_reocr(
                p, tmp_path / "layout.db", tmp_path / "c.db", tmp_path / "p.db", [1]
            ),
        ):
            with pytest.raises(BadVideoError) as info:
                step(path)
            assert "\n" not in str(info.value) and path.name in str(info.value)
