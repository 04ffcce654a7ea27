"""The Modal functions' bodies, run with ``.local()`` on generated videos, against LocalCompute.

Each function builds its store from the environment variables the Modal Secret sets in production
(here: a local directory under a tmp dir, or the SeaweedFS S3 server on 127.0.0.1), so the test
covers the container's wiring as well as the steps. Both sides must leave the same artifacts:
same keys, byte-identical frames, chunks and subtitles, and equal SQLite tables.
"""

from __future__ import annotations

import gzip
import io
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import av
import pytest

import caption_assets.app.modal_app as modal_app
from caption_assets.core.compute.base import VideoJob
from caption_assets.core.compute.local import LocalCompute
from caption_assets.core.compute.modal import FUNCTION_NAMES
from caption_assets.core.errors import BadVideoError, NotFoundError, PermanentError
from caption_assets.core.keys import VideoKeys
from caption_assets.core.store.local import LocalStore
from caption_assets.core.store.s3 import S3Store

pytestmark = pytest.mark.integration

# written at the moment a row is stored, so two runs of the same step cannot agree on them
WRITE_TIME_COLUMNS = {"created_at", "updated_at"}


def _sqlite_tables(data: bytes, work: Path) -> dict[str, Any]:
    path = work / f"{uuid.uuid4().hex}.db"
    path.write_bytes(data)
    conn = sqlite3.connect(path)
    try:
        tables: dict[str, Any] = {}
        names = [
            r[0] for r in conn.execute("select name from sqlite_master where type = 'table' order by name")
        ]
        for name in names:
            columns = [r[1] for r in conn.execute(f"pragma table_info({name})")]
            keep = [c for c in columns if c not in WRITE_TIME_COLUMNS]
            rows = conn.execute(f"select {', '.join(keep)} from {name} order by 1").fetchall()
            schema = conn.execute("select sql from sqlite_master where name = ?", (name,)).fetchone()[0]
            tables[name] = {"schema": schema, "columns": keep, "rows": rows}
        return tables
    finally:
        conn.close()


def _webm_stream(data: bytes) -> dict[str, Any]:
    """The encoded video of a chunk: codec, size and every packet's timing and bytes. The Matroska
    header also holds a random segment UID, so the files themselves differ from run to run."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.dts, p.duration, bytes(p)) for p in container.demux(stream) if p.size]
        return {
            "codec": stream.codec_context.name,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "packets": packets,
        }


def _snapshot(store: Any, keys: VideoKeys, work: Path) -> dict[str, Any]:
    """Every artifact of the video, keyed relative to the video's prefix; databases as tables,
    WebM chunks as their encoded packets, everything else as bytes."""
    out: dict[str, Any] = {}
    for prefix in (keys.client_prefix(), keys.server_prefix()):
        for key in store.list(prefix):
            data = store.get_bytes(key)
            name = key.split(f"/videos/{keys.video_id}/", 1)[1]
            name = ("server:" if prefix == keys.server_prefix() else "") + name
            if key.endswith(".db.gz"):
                out[name] = _sqlite_tables(gzip.decompress(data), work)
            elif key.endswith(".webm"):
                out[name] = _webm_stream(data)
            else:
                out[name] = data
    return out


def _assert_same_artifacts(expected: dict[str, Any], got: dict[str, Any]) -> None:
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], f"{name} differs between LocalCompute and the Modal function"


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalStore:
    """The Modal functions' store, configured only through environment variables."""
    data_dir = tmp_path / "modal-data"
    monkeypatch.setenv("CAPTION_ASSETS_STORE", "local")
    monkeypatch.setenv("CAPTION_ASSETS_DATA_DIR", str(data_dir))
    return LocalStore(data_dir / "artifacts")


def _upload(store: Any, path: Path, tenant_id: str, video_id: str) -> None:
    store.put_file(VideoKeys(tenant_id, video_id).video(), path, "video/mp4")


def _run_all_local(store: Any, job: VideoJob, reocr: list[int] | None = None) -> list[Any]:
    compute = LocalCompute(store)
    results = [
        compute.full_frames(job),
        compute.layout(job),
        compute.cropped_frames(job, 1),
        compute.captions(job),
    ]
    if reocr is not None:
        results.append(compute.captions(job, reocr))
    return results


def _run_all_modal(job: VideoJob, reocr: list[int] | None = None) -> list[Any]:
    results = [
        modal_app.full_frames.local(job.tenant_id, job.video_id),
        modal_app.layout.local(job.tenant_id, job.video_id),
        modal_app.cropped_frames.local(job.tenant_id, job.video_id, 1),
        modal_app.captions.local(job.tenant_id, job.video_id, None),
    ]
    if reocr is not None:
        results.append(modal_app.captions.local(job.tenant_id, job.video_id, reocr))
    return results


def _comparable(result: Any) -> Any:
    """A result without its timing figures (``*_seconds`` in stats measure this run's speed)."""
    stats = getattr(result, "stats", None)
    if not stats:
        return result
    kept = {k: v for k, v in stats.items() if not k.endswith("_seconds") or k == "duration_seconds"}
    return type(result)(**{**result.__dict__, "stats": kept})


def test_app_registers_one_function_per_step() -> None:
    assert set(FUNCTION_NAMES) == {"full_frames", "layout", "cropped_frames", "captions"}
    for step, name in FUNCTION_NAMES.items():
        function = getattr(modal_app, name)
        # modal 1.6 has no public accessor for a Function's name (App.registered_functions is
        # deprecated); _tag_ is what Function.from_name resolves against
        assert function._tag_ == name, step
    assert modal_app.app.name == modal_app.APP_NAME


def test_modal_functions_apply_the_decode_limits_of_the_request(rendered: Any, local_env: LocalStore) -> None:
    """The request's limits hold inside the function: a 5 s clip under a 2 s bound, or larger
    than a pixel bound, is refused before a frame is stored; within the bound it is processed."""
    from caption_assets.core.errors import AdmissionError

    video = rendered("short_bottom")
    w, h = video.truth.width, video.truth.height
    job = VideoJob(str(uuid.uuid4()), str(uuid.uuid4()))
    keys = VideoKeys(job.tenant_id, job.video_id)
    _upload(local_env, video.path, job.tenant_id, job.video_id)
    roomy = {
        "label": "the free limit",
        "max_seconds": 3600,
        "max_long_side": max(w, h),
        "max_short_side": min(w, h),
        "duration_text": "60 min",
    }

    with pytest.raises(AdmissionError, match="exceeds the free limit of 2 s"):
        modal_app.full_frames.local(
            job.tenant_id, job.video_id, decode_limits={**roomy, "max_seconds": 2, "duration_text": "2 s"}
        )
    with pytest.raises(AdmissionError, match=rf"resolution {w}x{h} exceeds the free limit"):
        modal_app.full_frames.local(
            job.tenant_id, job.video_id, decode_limits={**roomy, "max_long_side": max(w, h) - 2}
        )
    assert list(local_env.list(keys.full_frames_prefix())) == []
    with pytest.raises(PermanentError, match="malformed decode limits"):
        modal_app.full_frames.local(job.tenant_id, job.video_id, decode_limits={"label": "x"})

    result = modal_app.full_frames.local(job.tenant_id, job.video_id, decode_limits=roomy)
    assert result.total_frames == video.truth.frame_count
    assert list(local_env.list(keys.full_frames_prefix()))
    modal_app.layout.local(job.tenant_id, job.video_id, decode_limits=roomy)
    # the step that decodes the whole video once more is held the same way
    with pytest.raises(AdmissionError, match="exceeds the free limit of 2 s"):
        modal_app.cropped_frames.local(
            job.tenant_id, job.video_id, 1, decode_limits={**roomy, "max_seconds": 2, "duration_text": "2 s"}
        )
    assert list(local_env.list(keys.cropped_frames_prefix(1))) == []


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["short_bottom", "no_text"])
def test_modal_functions_leave_the_same_artifacts_as_local_compute(
    preset: str, rendered: Any, local_env: LocalStore, tmp_path: Path
) -> None:
    video = rendered(preset)
    job = VideoJob(str(uuid.uuid4()), str(uuid.uuid4()))
    keys = VideoKeys(job.tenant_id, job.video_id)
    reference = LocalStore(tmp_path / "local-compute")
    _upload(reference, video.path, job.tenant_id, job.video_id)
    _upload(local_env, video.path, job.tenant_id, job.video_id)
    reocr = [1] if video.truth.captions else None

    expected_results = _run_all_local(reference, job, reocr)
    got_results = _run_all_modal(job, reocr)

    assert [_comparable(r) for r in got_results] == [_comparable(r) for r in expected_results]
    expected = _snapshot(reference, keys, tmp_path)
    got = _snapshot(local_env, keys, tmp_path)
    # the comparison is only worth something if the steps produced their artifacts
    assert {"layout.db.gz", "captions.db.gz", "captions.srt", "captions.vtt"} <= set(got)
    assert any(name.startswith("full_frames/frame_") for name in got)
    assert any(name.startswith("full_frames_thumbnails/") for name in got)
    has_chunks = any(name.startswith("cropped_frames_v1/modulo_16/chunk_") for name in got)
    # without a caption region there is no band to crop
    assert has_chunks == bool(video.truth.captions)
    texts = [
        row[got["captions.db.gz"]["captions"]["columns"].index("text")]
        for row in got["captions.db.gz"]["captions"]["rows"]
    ]
    assert texts == [c.text for c in video.truth.captions]
    _assert_same_artifacts(expected, got)


@pytest.mark.slow
def test_modal_functions_read_and_write_s3_from_env(
    rendered: Any,
    seaweed_s3: Any,
    s3_client: Any,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The production wiring: the store comes from CAPTION_ASSETS_S3_* and AWS_* variables."""
    monkeypatch.setenv("CAPTION_ASSETS_STORE", "s3")
    monkeypatch.setenv("CAPTION_ASSETS_S3_BUCKET", s3_bucket)
    monkeypatch.setenv("CAPTION_ASSETS_S3_ENDPOINT_URL", seaweed_s3.endpoint)
    monkeypatch.setenv("CAPTION_ASSETS_S3_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed_s3.secret_key)
    assert seaweed_s3.endpoint.startswith(("http://127.0.0.1:", "http://localhost:"))

    video = rendered("short_bottom")
    job = VideoJob(str(uuid.uuid4()), str(uuid.uuid4()))
    keys = VideoKeys(job.tenant_id, job.video_id)
    s3 = S3Store(s3_client, s3_bucket)
    reference = LocalStore(tmp_path / "local-compute")
    _upload(s3, video.path, job.tenant_id, job.video_id)
    _upload(reference, video.path, job.tenant_id, job.video_id)

    expected_results = _run_all_local(reference, job)
    got_results = _run_all_modal(job)

    assert [_comparable(r) for r in got_results] == [_comparable(r) for r in expected_results]
    _assert_same_artifacts(_snapshot(reference, keys, tmp_path), _snapshot(s3, keys, tmp_path))


def test_bad_video_raises_the_projects_permanent_error(not_a_video: Path, local_env: LocalStore) -> None:
    job = VideoJob(str(uuid.uuid4()), str(uuid.uuid4()))
    _upload(local_env, not_a_video, job.tenant_id, job.video_id)
    with pytest.raises(BadVideoError):
        modal_app.full_frames.local(job.tenant_id, job.video_id)


def test_missing_inputs_are_reported_not_invented(local_env: LocalStore) -> None:
    job = VideoJob(str(uuid.uuid4()), str(uuid.uuid4()))
    with pytest.raises(NotFoundError, match="materialize full_frames first"):
        modal_app.layout.local(job.tenant_id, job.video_id)
    with pytest.raises(NotFoundError, match="not in the store"):
        modal_app.full_frames.local(job.tenant_id, job.video_id)


def test_container_refuses_a_local_store(local_env: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # inside a container a local directory would vanish with the container
    monkeypatch.setattr(modal_app.modal, "is_local", lambda: False)
    with pytest.raises(PermanentError, match="Modal Secret"):
        modal_app.store_from_env()


def test_function_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    default = modal_app.DEFAULTS["captions"]
    assert modal_app.FunctionSettings.from_env("captions", default) == default
    monkeypatch.setenv("CAPTION_ASSETS_MODAL_CAPTIONS_TIMEOUT", "120")
    monkeypatch.setenv("CAPTION_ASSETS_MODAL_CAPTIONS_CPU", "3.5")
    monkeypatch.setenv("CAPTION_ASSETS_MODAL_CAPTIONS_MEMORY", "8192")
    monkeypatch.setenv("CAPTION_ASSETS_MODAL_CAPTIONS_GPU", "L4")
    assert modal_app.FunctionSettings.from_env("captions", default) == modal_app.FunctionSettings(
        timeout_seconds=120, cpu=3.5, memory_mb=8192, gpu="L4"
    )
    monkeypatch.setenv("CAPTION_ASSETS_MODAL_CAPTIONS_GPU", "none")
    assert modal_app.FunctionSettings.from_env("captions", default).gpu is None
    monkeypatch.setenv("CAPTION_ASSETS_MODAL_CAPTIONS_CPU", "lots")
    with pytest.raises(ValueError, match="CAPTION_ASSETS_MODAL_CAPTIONS_CPU"):
        modal_app.FunctionSettings.from_env("captions", default)
    monkeypatch.setenv("CAPTION_ASSETS_MODAL_CAPTIONS_CPU", "0")
    with pytest.raises(ValueError, match="positive"):
        modal_app.FunctionSettings.from_env("captions", default)
