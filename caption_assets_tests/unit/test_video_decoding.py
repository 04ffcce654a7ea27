"""Decoding's edges: files that are not videos, rotated video in display orientation, crops read from
any pixel format, decoding from a later start, and chunk writing that ignores what is not its own
and fails loudly."""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from caption_assets.core.errors import BadVideoError
from caption_assets.core.processing.chunks import ChunkWriter
from caption_assets.core.processing.video import (
    Region,
    crop_bgr,
    crop_gray,
    crop_yuv420,
    frames_at,
    iter_frames,
    plane_rows,
    probe,
    to_rgb,
)
from caption_synthetic import VideoSpec, render_video

pytestmark = pytest.mark.unit


def test_what_is_not_a_video_is_refused_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(BadVideoError, match=r"gone\.mp4: file not found"):
        probe(tmp_path / "gone.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(BadVideoError, match=r"empty\.mp4: the file is empty"):
        probe(tmp_path / "empty.mp4")
    with wave.open(str(tmp_path / "talk.wav"), "wb") as sound:  # a real media file, sound only
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x00" * 8000)
    with pytest.raises(BadVideoError, match=r"talk\.wav: the file has no video stream"):
        probe(tmp_path / "talk.wav")
    with pytest.raises(BadVideoError, match="no video stream"):
        next(iter_frames(tmp_path / "talk.wav"))


def _yuv_frame(luma: np.ndarray) -> av.VideoFrame:
    """A yuv420p frame whose Y plane is exactly ``luma`` (grey chroma)."""
    h, w = luma.shape
    chroma = np.full((h // 4, w), 128, np.uint8)  # U then V, each (h/2 x w/2), packed as rows of w
    return av.VideoFrame.from_ndarray(np.vstack([luma, chroma, chroma]), format="yuv420p")


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_crops_are_in_display_orientation(rotation: int) -> None:
    luma = np.arange(24 * 32, dtype=np.uint32).reshape(24, 32).astype(np.uint8)
    frame = _yuv_frame(luma)
    display = np.rot90(luma, rotation // 90)
    region = Region(2, 4, 8, 6)
    want = display[4:10, 2:10]
    assert np.array_equal(crop_gray(frame, region, rotation), want)
    y, u, v = crop_yuv420(frame, region, rotation)
    assert np.array_equal(y, want) and u.shape == v.shape == (3, 4)
    assert to_rgb(frame, rotation).shape == (*display.shape, 3)


def test_crops_of_frames_in_other_pixel_formats() -> None:
    luma = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (16, 1))  # 16 x 32, a horizontal ramp
    rgb = av.VideoFrame.from_ndarray(np.repeat(luma[:, :, None], 3, axis=2), format="rgb24")
    region = Region(4, 2, 8, 4)
    gray = crop_gray(rgb, region, 0)
    assert gray.shape == (4, 8)
    # the grey of a grey picture is the picture, within the conversion's rounding
    assert np.abs(gray.astype(int) - luma[2:6, 4:12]).max() <= 2
    y, u, v = crop_yuv420(rgb.reformat(format="yuv444p"), region, 0)
    assert y.shape == (4, 8) and u.shape == v.shape == (2, 4)
    assert np.all(np.diff(y.astype(int), axis=1) > 0)  # the ramp survives the 4:2:0 conversion


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("region", [Region(2, 4, 8, 6), Region(3, 5, 7, 9)])  # even and odd bounds
def test_colour_crops_match_the_whole_frame_converted(rotation: int, region: Region) -> None:
    rng = np.random.default_rng(7)
    # colour blocks of 2 x 2 pixels: 4:2:0 keeps them, so only rounding tells the two paths apart
    blocks = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    rgb = av.VideoFrame.from_ndarray(np.kron(blocks, np.ones((2, 2, 1), np.uint8)), format="rgb24")
    frame = rgb.reformat(format="yuv420p")
    whole = np.rot90(frame.to_ndarray(format="bgr24"), rotation // 90)
    want = whole[region.y : region.y + region.height, region.x : region.x + region.width]
    got = crop_bgr(frame, region, rotation)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 4  # two conversions' rounding
    # a format without planes to cut goes through a whole-frame conversion, same pixels
    other = crop_bgr(frame.reformat(format="rgb24"), region, rotation)
    assert np.abs(other.astype(int) - want.astype(int)).max() <= 4


def test_a_rotated_video_is_probed_and_decoded_upright(tmp_path: Path) -> None:
    spec = VideoSpec(width=96, height=160, fps=10, duration=1.0, rotation=90, background="noise")
    render_video(spec, tmp_path / "phone.mp4")
    info = probe(tmp_path / "phone.mp4")
    assert (info.width, info.height, info.rotation) == (96, 160, 90)
    assert (info.coded_width, info.coded_height) == (160, 96)
    first = next(iter_frames(tmp_path / "phone.mp4"))
    assert to_rgb(first.frame, info.rotation).shape == (160, 96, 3)


def test_decoding_from_a_later_start(tmp_path: Path) -> None:
    spec = VideoSpec(width=64, height=48, fps=10, duration=3.0, gop=5, background="noise")
    render_video(spec, tmp_path / "v.mp4")
    later = list(iter_frames(tmp_path / "v.mp4", start_time=2.0))
    # from the key frame at or before 2.0 s on; indices mean nothing after a seek
    assert 1.5 <= later[0].time <= 2.0 + 1e-6 and later[-1].time == pytest.approx(2.9)
    assert {d.index for d in later} == {-1}
    assert list(frames_at(tmp_path / "v.mp4", [])) == []


def _planes(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.zeros((height, width), np.uint8),
        np.zeros((height // 2, width // 2), np.uint8),
        np.zeros((height // 2, width // 2), np.uint8),
    )


def test_chunk_writer_ignores_indices_past_the_video(tmp_path: Path) -> None:
    writer = ChunkWriter(tmp_path, 16, 8, 2)
    for index in range(5):  # the video has two tenths; 2..4 belong to no chunk
        writer.add(index, _planes(16, 8))
    paths = writer.close()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in paths) == [
        "modulo_1/chunk_0000000001.webm",
        "modulo_16/chunk_0000000000.webm",
    ]


def test_a_chunk_that_cannot_be_encoded_fails_the_writer_and_leaves_no_file(tmp_path: Path) -> None:
    # 50 tenths: modulo 1's first chunk is indices 1..42, its second starts at 43
    writer = ChunkWriter(tmp_path, 16, 8, 50)
    with pytest.raises(ValueError):
        for index in range(50):
            # index 45 is wider than the band: it cannot go into its frame
            writer.add(index, _planes(64 if index == 45 else 16, 8))
        writer.close()
    # the chunk finished before the failure is whole; the one it stopped left no half-written file
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.webm")] == [
        "modulo_1/chunk_0000000001.webm"
    ]
    assert _decoded_lumas(tmp_path / "modulo_1/chunk_0000000001.webm") == [0] * 32


def _decoded_lumas(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        # the Y plane as coded (a conversion to gray would stretch the video range)
        return [int(round(plane_rows(f.planes[0])[:, : f.width].mean())) for f in container.decode(video=0)]


def _marked(index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 16x8 band frame whose luma tells its index (steps of 2, far above VP9's error on flat images)."""
    y, u, v = _planes(16, 8)
    y[:] = 16 + 2 * (index % 100)
    u[:], v[:] = 128, 128
    return y, u, v


def test_the_chunk_writer_keeps_one_encoder_open_and_every_chunk_in_index_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An open VP9 encoder outweighs a chunk of band frames: the rarer levels' frames wait for their
    chunk to be complete, so at most one encoder is alive, and each chunk still holds its own
    frames in index order."""
    from caption_assets.core.processing import chunks

    alive, most = [0], [0]
    opened, finish, abandon = chunks._Chunk.__init__, chunks._Chunk.finish, chunks._Chunk.abandon

    def counted_open(self: chunks._Chunk, *args: object) -> None:
        opened(self, *args)  # type: ignore[arg-type]
        alive[0] += 1
        most[0] = max(most[0], alive[0])

    def counted_finish(self: chunks._Chunk) -> Path:
        alive[0] -= 1
        return finish(self)

    def counted_abandon(self: chunks._Chunk) -> None:
        alive[0] -= 1
        abandon(self)

    monkeypatch.setattr(chunks._Chunk, "__init__", counted_open)
    monkeypatch.setattr(chunks._Chunk, "finish", counted_finish)
    monkeypatch.setattr(chunks._Chunk, "abandon", counted_abandon)
    count = 600  # two modulo-16 chunks, four modulo-4 chunks, 15 of modulo 1 (the last ones short)
    writer = ChunkWriter(tmp_path, 16, 8, count)
    for index in range(count):
        writer.add(index, _marked(index))
    paths = writer.close()
    assert most[0] == 1 and alive[0] == 0
    layout = chunks.chunk_layout(count)
    firsts = [(level, chunk[0]) for level in chunks.LEVELS for chunk in layout[level]]
    assert paths == [chunks.chunk_path(tmp_path, level, first) for level, first in firsts]
    for level in chunks.LEVELS:
        for chunk in layout[level]:
            got = _decoded_lumas(chunks.chunk_path(tmp_path, level, chunk[0]))
            want = [16 + 2 * (i % 100) for i in chunk]
            assert len(got) == len(want), (level, chunk[0])
            assert max(abs(g - w) for g, w in zip(got, want)) <= 1, (level, chunk[0])


def test_the_chunk_writer_holds_a_few_frames_per_level_not_a_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A level's frames are encoded as they arrive: when its encoder is slow the caller waits after
    a few frames, instead of the writer buffering a whole chunk (32 band images) per level."""
    from caption_assets.core.processing import chunks

    gate = threading.Event()
    write = chunks._Chunk.write

    def slow(self: chunks._Chunk, planes: tuple[np.ndarray, ...]) -> None:
        gate.wait(30)
        write(self, planes)

    monkeypatch.setattr(chunks._Chunk, "write", slow)
    writer = ChunkWriter(tmp_path, 16, 8, 200)
    given: list[int] = []

    def feed() -> None:
        for index in range(1, 100):  # modulo 1 only: 1, 2, 3, 5, 6, 7, 9, ...
            if index % 4:
                writer.add(index, _planes(16, 8))
                given.append(index)

    feeder = threading.Thread(target=feed)
    feeder.start()
    # one frame in the encoder, the queue full behind it, the next add waiting for room
    held = 1 + chunks._AHEAD

    def waiting() -> bool:
        return len(given) == held and feeder.is_alive()

    ends = time.monotonic() + 10
    while not waiting() and time.monotonic() < ends:
        time.sleep(0.001)  # polling a condition with a deadline
    assert waiting(), f"the caller must wait once {held} frames are held, got {len(given)} in"
    gate.set()
    feeder.join(30)
    writer.close()
    assert len(given) == 75
