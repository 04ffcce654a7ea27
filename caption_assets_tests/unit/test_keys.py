"""The key builder: every key of docs/architecture.md (storage keys), and what it refuses."""

from __future__ import annotations

import string
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caption_assets.core.errors import BadInputError
from caption_assets.core.keys import (
    MAX_INDEX,
    OPERATIONS_PREFIX,
    VideoKeys,
    ensure_operations_key,
    ensure_prefix_within_tenant,
    ensure_within_tenant,
    is_operations_key,
    key_for_file,
    key_under,
    operations_key,
    tenant_of,
    tenant_prefix,
    validate_uuid,
)

pytestmark = pytest.mark.unit

T = "0b1e7a9c-5d2f-4a1b-9c3d-1234567890ab"
V = "7f3e2d1c-0b9a-4877-a665-544332211000"
OTHER = "11111111-2222-4333-8444-555555555555"
K = VideoKeys(T, V)
C = f"{T}/client/videos/{V}"


def test_every_key_of_the_design() -> None:
    assert K.video() == f"{C}/video.mp4"
    assert K.full_frame(100) == f"{C}/full_frames/frame_0000000100.jpg"
    assert K.thumbnail(0) == f"{C}/full_frames_thumbnails/frame_0000000000.jpg"
    assert K.layout_db() == f"{C}/layout.db.gz"
    assert K.cropped_chunk(3, 16, 32) == f"{C}/cropped_frames_v3/modulo_16/chunk_0000000032.webm"
    assert K.cropped_chunk(1, 4, 0) == f"{C}/cropped_frames_v1/modulo_4/chunk_0000000000.webm"
    assert K.cropped_chunk(1, 1, 64) == f"{C}/cropped_frames_v1/modulo_1/chunk_0000000064.webm"
    assert K.captions_db() == f"{C}/captions.db.gz"
    assert K.captions_srt() == f"{C}/captions.srt"
    assert K.captions_vtt() == f"{C}/captions.vtt"
    assert K.raw_ocr_db() == f"{T}/server/videos/{V}/raw-ocr.db.gz"


def test_prefixes() -> None:
    assert tenant_prefix(T) == f"{T}/"
    assert K.tenant_prefix() == f"{T}/"
    assert K.client_prefix() == f"{C}/"
    assert K.server_prefix() == f"{T}/server/videos/{V}/"
    assert K.full_frames_prefix() == f"{C}/full_frames/"
    assert K.thumbnails_prefix() == f"{C}/full_frames_thumbnails/"
    assert K.cropped_frames_prefix(2) == f"{C}/cropped_frames_v2/"
    assert K.full_frame(5).startswith(K.full_frames_prefix())
    assert K.cropped_chunk(2, 1, 0).startswith(K.cropped_frames_prefix(2))


def test_ids_are_normalised_to_lowercase() -> None:
    keys = VideoKeys(T.upper(), V.upper())
    assert keys.tenant_id == T and keys.video_id == V
    assert keys == K
    assert validate_uuid(T.upper(), "tenant id") == T


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "local",
        "not-a-uuid",
        T + "0",
        T[:-1],
        " " + T,
        T + "\n",  # '$' in a regex would have let this through
        "{" + T + "}",
        "urn:uuid:" + T,
        T.replace("-", ""),
        T.replace("a", "g"),
        "../" + T,
        T + "/x",
        "０b1e7a9c-5d2f-4a1b-9c3d-1234567890ab",  # fullwidth digit
        "٠b1e7a9c-5d2f-4a1b-9c3d-1234567890ab",  # Arabic-Indic digit, matches \d
    ],
)
def test_non_uuid_ids_are_refused(bad: str) -> None:
    with pytest.raises(BadInputError, match="tenant id"):
        validate_uuid(bad, "tenant id")
    with pytest.raises(BadInputError):
        VideoKeys(bad, V)
    with pytest.raises(BadInputError, match="video id"):
        VideoKeys(T, bad)


@pytest.mark.parametrize("bad", [None, 5, b"0b1e7a9c", uuid.UUID(T)])
def test_non_string_ids_are_refused(bad: object) -> None:
    with pytest.raises(BadInputError, match="video id"):
        validate_uuid(bad, "video id")  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [-1, MAX_INDEX + 1, True, 1.0, "1", None])
def test_bad_indices_are_refused(index: object) -> None:
    with pytest.raises(BadInputError):
        K.full_frame(index)  # type: ignore[arg-type]
    with pytest.raises(BadInputError):
        K.cropped_chunk(1, 16, index)  # type: ignore[arg-type]


@pytest.mark.parametrize("modulo", [0, 2, 8, 32, True, "16", None])
def test_only_three_modulo_levels(modulo: object) -> None:
    with pytest.raises(BadInputError, match="modulo"):
        K.cropped_chunk(1, modulo, 0)  # type: ignore[arg-type]


def test_bad_version_refused() -> None:
    with pytest.raises(BadInputError):
        K.cropped_frames_prefix(-1)
    with pytest.raises(BadInputError):
        K.cropped_chunk("1", 16, 0)  # type: ignore[arg-type]


def test_largest_index_keeps_ten_digits() -> None:
    assert K.full_frame(MAX_INDEX).endswith("frame_9999999999.jpg")


@pytest.mark.parametrize(
    "key",
    [
        f"{T}/client/videos/{V}/video.mp4",
        f"{T}/server/videos/{V}/raw-ocr.db.gz",
        f"{T}/x",
    ],
)
def test_valid_keys_pass(key: str) -> None:
    assert ensure_within_tenant(key) == key
    assert ensure_within_tenant(key, T) == key
    assert ensure_within_tenant(key, T.upper()) == key
    assert tenant_of(key) == T


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/" + K.video(),  # absolute
        f"{T}/../{OTHER}/client/videos/{V}/video.mp4",  # traversal into another tenant
        f"{T}/client/videos/{V}/../../../{OTHER}/x",
        f"{T}/client/videos/{V}/./video.mp4",
        f"{T}/client//videos/{V}/video.mp4",  # empty part
        f"{T}/client/videos/{V}/",  # a prefix, not an object
        f"{T}/",
        T,
        f"{T}\\..\\{OTHER}\\x",  # backslashes
        f"{T}/client/videos/{V}/video.mp4\x00.jpg",  # NUL
        f"{T}/client/videos/{V}/vidéo.mp4",  # unicode
        f"{T}/client/videos/{V}/video\u2024mp4",  # one-dot leader looks like '.'
        f"{T}/client/videos/{V}/\u2025/x",  # two-dot leader looks like '..'
        f"{T}/client/videos/{V}/vid eo.mp4",  # whitespace
        f"{T}/client/videos/{V}/.hidden",
        f"{T}/client/videos/{V}/video.mp4\n",
        f"{T.upper()}/client/videos/{V}/video.mp4",  # keys only use the canonical form
        f"local/client/videos/{V}/video.mp4",  # a tenant name, not an id
        f"{T}/" + "a" * 1100,  # longer than S3 allows
    ],
)
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(BadInputError):
        ensure_within_tenant(key)
    with pytest.raises(BadInputError):
        ensure_within_tenant(key, T)


def test_non_string_key_refused() -> None:
    with pytest.raises(BadInputError):
        ensure_within_tenant(None)  # type: ignore[arg-type]


def test_key_of_another_tenant_is_refused() -> None:
    other = VideoKeys(OTHER, V).video()
    with pytest.raises(BadInputError, match="outside tenant"):
        ensure_within_tenant(other, T)
    with pytest.raises(BadInputError, match="outside tenant"):
        ensure_prefix_within_tenant(tenant_prefix(OTHER), T)
    with pytest.raises(BadInputError):
        ensure_within_tenant(K.video(), "local")


def test_prefixes_must_cover_the_whole_tenant_part() -> None:
    assert ensure_prefix_within_tenant(f"{T}/") == f"{T}/"
    assert ensure_prefix_within_tenant(K.full_frames_prefix(), T) == K.full_frames_prefix()
    assert ensure_prefix_within_tenant(f"{C}/full_frames/frame_00", T)
    for bad in ["", T, T[:8], "/", f"{T}//", f"{T}/../", f"/{T}/", f"{T}/a//b/"]:
        with pytest.raises(BadInputError):
            ensure_prefix_within_tenant(bad)


def test_relative_maps_back_within_the_video() -> None:
    assert K.relative(K.full_frame(100)) == "full_frames/frame_0000000100.jpg"
    assert K.relative(K.raw_ocr_db()) == "raw-ocr.db.gz"
    with pytest.raises(BadInputError, match="does not belong"):
        K.relative(VideoKeys(T, OTHER).video())
    with pytest.raises(BadInputError):
        K.relative(VideoKeys(OTHER, V).video())


def test_key_under() -> None:
    assert key_under(K.client_prefix(), "a/b.jpg") == f"{C}/a/b.jpg"
    for bad in ["", "/a", "a/../b", "a\\b", "a//b", "..", "é"]:
        with pytest.raises(BadInputError):
            key_under(K.client_prefix(), bad)
    with pytest.raises(BadInputError):
        key_under(f"{C}/full", "x")  # prefix without a trailing slash


def test_key_for_file(tmp_path: Path) -> None:
    root = tmp_path / "out"
    (root / "full_frames").mkdir(parents=True)
    frame = root / "full_frames" / "frame_0000000100.jpg"
    frame.write_bytes(b"x")
    assert K.key_for_file(root, frame) == K.full_frame(100)
    assert K.key_for_file(root, root / "raw-ocr.db.gz", server=True) == K.raw_ocr_db()
    assert key_for_file(K.full_frames_prefix(), root / "full_frames", frame) == K.full_frame(100)
    with pytest.raises(BadInputError, match="not inside"):
        K.key_for_file(root, tmp_path / "elsewhere.jpg")
    with pytest.raises(BadInputError, match="not inside"):
        K.key_for_file(root, root / ".." / "escape.jpg")
    with pytest.raises(BadInputError):
        K.key_for_file(root, root)
    outside = tmp_path / "secret"
    outside.write_bytes(b"s")
    (root / "link").symlink_to(outside)
    with pytest.raises(BadInputError, match="not inside"):
        K.key_for_file(root, root / "link")


def test_video_keys_are_frozen() -> None:
    with pytest.raises(AttributeError):
        K.tenant_id = OTHER  # type: ignore[misc]


# property tests --------------------------------------------------------------------------------

ids = st.uuids().map(str)
indices = st.integers(min_value=0, max_value=MAX_INDEX)


@settings(max_examples=200, deadline=None)
@given(
    tenant=ids, video=ids, index=indices, version=st.integers(0, 10_000), modulo=st.sampled_from([16, 4, 1])
)
def test_every_built_key_is_valid_and_inside_its_tenant(
    tenant: str, video: str, index: int, version: int, modulo: int
) -> None:
    keys = VideoKeys(tenant.upper(), video)
    built = [
        keys.video(),
        keys.full_frame(index),
        keys.thumbnail(index),
        keys.layout_db(),
        keys.cropped_chunk(version, modulo, index),
        keys.captions_db(),
        keys.captions_srt(),
        keys.captions_vtt(),
        keys.raw_ocr_db(),
    ]
    for key in built:
        assert ensure_within_tenant(key, tenant) == key
        assert tenant_of(key) == tenant.lower()
        assert keys.relative(key)
    assert len(set(built)) == len(built)


@settings(max_examples=200, deadline=None)
@given(a=indices, b=indices)
def test_frame_keys_sort_like_their_indices(a: int, b: int) -> None:
    assert (K.full_frame(a) < K.full_frame(b)) == (a < b)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_arbitrary_text_is_never_accepted_as_a_uuid_unless_it_is_one(text: str) -> None:
    try:
        value = validate_uuid(text, "id")
    except BadInputError:
        return
    assert str(uuid.UUID(value)) == value


_SAFE = string.ascii_letters + string.digits + "._-"


@settings(max_examples=300, deadline=None)
@given(suffix=st.text(max_size=40))
def test_no_suffix_escapes_the_tenant(suffix: str) -> None:
    key = f"{T}/{suffix}"
    try:
        ensure_within_tenant(key, T)
    except BadInputError:
        return
    parts = suffix.split("/")
    assert all(p and p[0] != "." and set(p) <= set(_SAFE) for p in parts)
    assert ".." not in parts
    assert tenant_of(key) == T


def test_operations_keys_are_outside_every_tenant() -> None:
    key = operations_key("health", "run_health.parquet")
    assert key == OPERATIONS_PREFIX + "health/run_health.parquet"
    assert is_operations_key(key) and not is_operations_key(K.video())
    assert ensure_operations_key(key) == key
    assert ensure_operations_key(OPERATIONS_PREFIX, prefix=True) == OPERATIONS_PREFIX
    # no tenant check takes it: tenant credentials and listings never reach it
    for check in (lambda: ensure_within_tenant(key), lambda: ensure_within_tenant(key, T)):
        with pytest.raises(BadInputError):
            check()
    with pytest.raises(BadInputError):
        tenant_of(key)


@pytest.mark.parametrize(
    "key",
    [
        "operations",  # no object below the prefix
        "operations/",  # a prefix, not an object
        "Operations/health/x.parquet",  # the exemption is exactly that spelling
        "operationsx/health/x.parquet",
        f"operations/../{T}/client/videos/{V}/video.mp4",
        "operations//x.parquet",
        "operations/.hidden",
        "operations/health\\x",
        "/operations/x",
        f"{T}/operations/x/../../y",
    ],
)
def test_malformed_operations_keys_are_refused(key: str) -> None:
    with pytest.raises(BadInputError):
        ensure_operations_key(key)


def test_operations_key_parts_are_checked() -> None:
    for parts in [(), ("..",), ("health", ""), ("a/../b",)]:
        with pytest.raises(BadInputError):
            operations_key(*parts)
