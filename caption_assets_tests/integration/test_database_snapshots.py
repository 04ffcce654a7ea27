"""The test database snapshots (fixtures/databases, written by its make.py) and what the platform
must do with them: a captions run keeps a person's layout, a reprocess keeps a person's captions,
a re-OCR reads within a person's extents, a layout without a region gives empty captions."""

from __future__ import annotations

import gzip
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import dagster as dg
import pytest

from caption_assets.core.catalog import lifecycle
from caption_assets.core.errors import BadInputError
from caption_assets.core.keys import VideoKeys
from caption_assets.core.processing import captions_db as cdb
from caption_assets.core.processing import layout as lay
from caption_assets.core.processing import pipeline
from caption_assets.core.processing.raw_ocr import read_raw_ocr
from caption_assets.core.processing.subtitles import read_cues
from caption_assets.defs.assets.captions import captions_db, cropped_frames
from caption_assets.defs.assets.layout import full_frames, layout_db
from caption_assets.defs.runs import reocr_run_config
from caption_assets_tests.fixtures.databases import make
from caption_assets_tests.fixtures.platform import Platform
from caption_synthetic import CaptionTruth, GroundTruth, render_video

pytestmark = pytest.mark.integration

SNAPSHOT = {name: make.HERE / name for name in make.SNAPSHOTS}
LAYOUT = [full_frames, layout_db]
CAPTIONS = [cropped_frames, captions_db]
WIDTH, HEIGHT = make.tiny_spec().width, make.tiny_spec().height


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    """The video the snapshots were made from, and its ground truth."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.mp4"
    return path, render_video(make.tiny_spec(), path)


def _bottom(truth: GroundTruth) -> list[CaptionTruth]:
    return [c for c in truth.captions if c.position == "bottom"]


def _gunzipped(path: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / path.name.removesuffix(".gz")
    out.write_bytes(gzip.decompress(path.read_bytes()))
    return out


def _schema(db: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return set(conn.execute("select name, sql from sqlite_master where sql is not null").fetchall())
    finally:
        conn.close()


def _content(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, numbers rounded: what the pipeline decided, not the last bits of a float."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        return {
            t: [
                tuple(round(v, 2) if isinstance(v, float) else v for v in row)
                for row in conn.execute(f"select * from {t} order by 1")
            ]
            for t in sorted(tables)
        }
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# the files themselves


def test_snapshots_are_small_and_have_the_current_schema(tmp_path: Path) -> None:
    assert all(p.stat().st_size < 64 * 1024 for p in SNAPSHOT.values())
    lay.write_layout_db(tmp_path / "layout.db", [], lay.LayoutResult())
    cdb.write_captions(tmp_path / "captions.db", [])
    captions_with_ocr = _gunzipped(SNAPSHOT[make.CAPTIONS_WITH_OCR], tmp_path)
    for snapshot, current in (
        (SNAPSHOT[make.EMPTY_LAYOUT], tmp_path / "layout.db"),
        (SNAPSHOT[make.ANNOTATED_LAYOUT], tmp_path / "layout.db"),
        (SNAPSHOT[make.EXTENTS_SAMPLE], tmp_path / "captions.db"),
        (captions_with_ocr, tmp_path / "captions.db"),
    ):
        assert _schema(snapshot) == _schema(current), f"{snapshot.name} is stale: run {make.__name__}"
    # the artifact store's gzip: no timestamp, no file name (the header's mtime field is zero)
    assert SNAPSHOT[make.CAPTIONS_WITH_OCR].read_bytes()[4:8] == b"\0\0\0\0"

    empty = lay.read_layout_db(SNAPSHOT[make.EMPTY_LAYOUT])
    assert (empty.region, empty.zones, empty.frame_width) == (None, [], WIDTH)
    person = lay.read_layout_db(SNAPSHOT[make.ANNOTATED_LAYOUT])
    assert person.region == make.ANNOTATED_ZONE and person.zones == [make.ANNOTATED_ZONE]
    owned = {c.id for c in cdb.read_captions(captions_with_ocr) if c.person_owned}
    assert owned == {make.CONFIRMED_ID, make.EDITED_ID}
    extents = {c.id: c for c in cdb.read_captions(SNAPSHOT[make.EXTENTS_SAMPLE])}
    assert extents[make.EXTENTS_ID].text_ocr_status == cdb.OCR_QUEUED
    assert (
        extents[make.EXTENTS_ID].start_native_frame,
        extents[make.EXTENTS_ID].end_native_frame,
    ) == make.PERSON_EXTENTS


@pytest.mark.slow
def test_the_generator_makes_the_checked_in_snapshots(tmp_path: Path) -> None:
    fresh = make.generate(tmp_path / "fresh")
    for path in fresh:
        ours = SNAPSHOT[path.name]
        if path.suffix == ".gz":
            path, ours = _gunzipped(path, tmp_path / "a"), _gunzipped(ours, tmp_path / "b")
        assert _content(path) == _content(ours), f"{path.name}: regenerate with {make.__name__}"


# ---------------------------------------------------------------------------------------------
# the processing steps on them


def test_a_layout_without_region_gives_valid_empty_captions(tmp_path: Path) -> None:
    video = tmp_path / "blank.mp4"
    render_video(make.no_text_spec(), video)
    cropped = pipeline.run_cropped_frames(video, SNAPSHOT[make.EMPTY_LAYOUT], tmp_path / "cropped")
    assert (cropped.frame_count, cropped.chunk_count) == (0, 0)
    out = pipeline.run_captions(cropped.raw_ocr_path, SNAPSHOT[make.EMPTY_LAYOUT], tmp_path / "captions.db")
    assert out.captions == [] and cdb.read_captions(tmp_path / "captions.db") == []
    assert read_cues(out.srt_path) == [] and out.vtt_path.read_text().startswith("WEBVTT")


def test_caption_states_read_before_the_person_drew_the_band_are_refused(
    tiny: tuple[Path, GroundTruth], tmp_path: Path
) -> None:
    # the band was scanned while the layout had no zone; then the person drew one: captions made
    # from that scan would ignore the person's zone, so captions_db refuses it until a new scan
    video, _ = tiny
    scan = pipeline.run_cropped_frames(video, SNAPSHOT[make.EMPTY_LAYOUT], tmp_path / "cropped")
    with pytest.raises(BadInputError, match="the caption band changed since cropped_frames was made"):
        pipeline.run_captions(scan.raw_ocr_path, SNAPSHOT[make.ANNOTATED_LAYOUT], tmp_path / "c.db")
    assert not (tmp_path / "c.db").exists()


# ---------------------------------------------------------------------------------------------
# runs of the platform over them


def _materialize(platform: Platform, video_id: str, assets: list, **kw: object) -> dg.ExecuteInProcessResult:
    result = platform.materialize(assets, video_id, **kw)
    assert result.success
    return result


def _as_a_person(platform: Platform, video_id: str, database: str, edit: Callable[[], None]) -> None:
    """``edit`` under the web app's client lock on ``database``, as an annotation session does."""
    assert platform.catalog.acquire_client_lock(video_id, database, "editor@web", 60).acquired  # type: ignore[arg-type]
    try:
        edit()
    finally:
        platform.catalog.release_client_lock(video_id, database, "editor@web")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Annotated:
    video_id: str
    keys: VideoKeys
    machine: lay.StoredLayout  # what layout_db found before the person's edit


@pytest.fixture
def annotated(platform: Platform, tiny: tuple[Path, GroundTruth], tmp_path: Path) -> Annotated:
    """The tiny video through layout_job (left to annotate), then the person's layout stored and
    approved: the state a captions run starts from."""
    video_id = platform.upload(tiny[0], tenant="acme", tier="premium", auto_approve=False)
    _materialize(platform, video_id, LAYOUT)
    row = platform.catalog.get_video(video_id)
    assert row is not None and row.layout_status == "annotate"
    keys = VideoKeys(row.tenant_id, video_id)
    machine = lay.read_layout_db(platform.store.get_gunzip_file(keys.layout_db(), tmp_path / "machine.db"))
    _as_a_person(
        platform,
        video_id,
        "layout",
        lambda: platform.store.put_gzip_file(keys.layout_db(), SNAPSHOT[make.ANNOTATED_LAYOUT]),
    )
    lifecycle.layout_approved(platform.catalog, video_id)
    return Annotated(video_id, keys, machine)


@pytest.fixture
def captioned(platform: Platform, annotated: Annotated) -> Annotated:
    """``annotated`` after its first captions run: where a person starts editing captions."""
    _materialize(platform, annotated.video_id, CAPTIONS)
    return annotated


def _captions_a_person_left(
    platform: Platform, where: Annotated, snapshot: str, tmp_path: Path
) -> dict[int, cdb.Caption]:
    """The snapshot stored as the video's captions.db, as a person's session saves it; its
    captions by id."""
    db = SNAPSHOT[snapshot]
    if db.suffix == ".gz":
        db = _gunzipped(db, tmp_path / "snapshot")
    _as_a_person(
        platform,
        where.video_id,
        "captions",
        lambda: platform.store.put_gzip_file(where.keys.captions_db(), db),
    )
    return {c.id: c for c in cdb.read_captions(db)}


def _stored_captions(platform: Platform, keys: VideoKeys, tmp_path: Path) -> dict[int, cdb.Caption]:
    db = platform.store.get_gunzip_file(keys.captions_db(), tmp_path / "stored" / "captions.db")
    return {c.id: c for c in cdb.read_captions(db)}


@pytest.mark.slow
def test_captions_run_keeps_the_layout_a_person_annotated(
    platform: Platform, annotated: Annotated, tiny: tuple[Path, GroundTruth], tmp_path: Path
) -> None:
    video_id, keys = annotated.video_id, annotated.keys
    # the premise: the person's layout is not the machine's (which has a top and a bottom zone)
    assert len(annotated.machine.zones) == 2 and annotated.machine.zones != [make.ANNOTATED_ZONE]

    _materialize(platform, video_id, CAPTIONS)

    stored = platform.store.get_gunzip_file(keys.layout_db(), tmp_path / "after.db")
    assert stored.read_bytes() == SNAPSHOT[make.ANNOTATED_LAYOUT].read_bytes()
    band = make.ANNOTATED_ZONE.even(WIDTH, HEIGHT)
    raw = read_raw_ocr(platform.store.get_gunzip_file(keys.raw_ocr_db(), tmp_path / "raw.db"))
    assert raw.zones == [band]
    chunk = next(iter(platform.store.list(keys.cropped_frames_prefix(1))))
    with av.open(str(platform.store.get_file(chunk, tmp_path / "chunk.webm"))) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (band.width, band.height)
    captions = list(_stored_captions(platform, keys, tmp_path).values())
    # the captions of the person's zone only: the top ones the machine also saw are not read
    assert [c.text for c in captions] == [c.text for c in _bottom(tiny[1])]
    assert {c.zone for c in captions} == {0}
    row = platform.catalog.get_video(video_id)
    assert row is not None and row.text_status == "done"


@pytest.mark.slow
def test_reprocess_keeps_the_captions_a_person_confirmed_or_edited(
    platform: Platform, captioned: Annotated, tiny: tuple[Path, GroundTruth], tmp_path: Path
) -> None:
    before = _captions_a_person_left(platform, captioned, make.CAPTIONS_WITH_OCR, tmp_path)

    _materialize(platform, captioned.video_id, CAPTIONS)

    after = _stored_captions(platform, captioned.keys, tmp_path)
    # kept as the person left them, every column; the machine's own captions at the same place
    # do not come back beside them
    assert after.get(make.CONFIRMED_ID) == before[make.CONFIRMED_ID]
    assert after[make.CONFIRMED_ID].end_native_frame == make.CONFIRMED_END_FRAME
    assert after.get(make.EDITED_ID) == before[make.EDITED_ID]
    assert after[make.EDITED_ID].text == make.EDITED_TEXT
    assert len(after) == len(_bottom(tiny[1]))
    # the caption nobody touched is read again: the old misreading is gone
    (fresh,) = (c for i, c in after.items() if i not in (make.CONFIRMED_ID, make.EDITED_ID))
    assert before[make.MISREAD_ID].text == make.MISREAD_TEXT
    assert fresh.text == _bottom(tiny[1])[2].text
    assert fresh.updated_at != make.MACHINE_STAMP and not fresh.person_owned
    srt = platform.store.get_bytes(captioned.keys.captions_srt()).decode()
    assert make.EDITED_TEXT in srt and make.MISREAD_TEXT not in srt


@pytest.mark.slow
def test_reocr_reads_the_text_within_the_extents_a_person_drew(
    platform: Platform, captioned: Annotated, tiny: tuple[Path, GroundTruth], tmp_path: Path
) -> None:
    before = _captions_a_person_left(platform, captioned, make.EXTENTS_SAMPLE, tmp_path)

    _materialize(
        platform,
        captioned.video_id,
        CAPTIONS,
        selection=[captions_db],
        run_config=reocr_run_config([make.EXTENTS_ID], []),
    )

    after = _stored_captions(platform, captioned.keys, tmp_path)
    target, was = after[make.EXTENTS_ID], before[make.EXTENTS_ID]
    assert was.text == "" and target.text == _bottom(tiny[1])[1].text
    assert target.text_ocr_status == cdb.OCR_DONE and target.text_ocr_confidence is not None
    assert (target.start_native_frame, target.end_native_frame) == make.PERSON_EXTENTS
    assert target.caption_frame_extents_state == cdb.CONFIRMED
    assert target.updated_at != make.PERSON_STAMP
    assert {i: c for i, c in after.items() if i != make.EXTENTS_ID} == {
        i: c for i, c in before.items() if i != make.EXTENTS_ID
    }
    row = platform.catalog.get_video(captioned.video_id)
    assert row is not None and row.text_status == "done"
