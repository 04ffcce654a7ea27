"""LocalStore: the default artifact store on a directory, and the gzip helpers of the interface."""

from __future__ import annotations

import gzip
import io
import sqlite3
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from caption_assets.core.errors import BadInputError, NotFoundError, TenantNotFoundError
from caption_assets.core.keys import VideoKeys, tenant_prefix
from caption_assets.core.store.base import ObjectNotFoundError
from caption_assets.core.store.local import LocalStore

pytestmark = pytest.mark.unit

T = "0b1e7a9c-5d2f-4a1b-9c3d-1234567890ab"
V = "7f3e2d1c-0b9a-4877-a665-544332211000"
OTHER = "11111111-2222-4333-8444-555555555555"
K = VideoKeys(T, V)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "artifacts")


def test_put_get_bytes_and_exists(store: LocalStore) -> None:
    assert not store.exists(K.video())
    store.put_bytes(K.video(), b"video", "video/mp4")
    assert store.exists(K.video())
    assert store.get_bytes(K.video()) == b"video"
    assert (store.root / T / "client" / "videos" / V / "video.mp4").read_bytes() == b"video"
    store.put_bytes(K.video(), b"replaced")
    assert store.get_bytes(K.video()) == b"replaced"


def test_put_file_stream_and_get_file(store: LocalStore, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"\x00\x01" * 100_000)
    store.put_file(K.captions_srt(), source)
    store.put_stream(K.captions_vtt(), io.BytesIO(b"WEBVTT\n"))
    target = tmp_path / "deep" / "er" / "out.bin"
    assert store.get_file(K.captions_srt(), target) == target
    assert target.read_bytes() == source.read_bytes()
    assert store.get_bytes(K.captions_vtt()) == b"WEBVTT\n"
    # no temporary files left next to the target or the object
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]


def test_missing_objects_and_files(store: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError, match="layout.db.gz"):
        store.get_bytes(K.layout_db())
    with pytest.raises(NotFoundError):
        store.get_file(K.layout_db(), tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(NotFoundError, match="does not exist"):
        store.put_file(K.video(), tmp_path / "nope.mp4")


def test_list_is_sorted_prefix_match_and_deletes_batch(store: LocalStore) -> None:
    for index in (300, 0, 100, 200):
        store.put_bytes(K.full_frame(index), b"j")
        store.put_bytes(K.thumbnail(index), b"t")
    store.put_bytes(K.video(), b"v")
    frames = list(store.list(K.full_frames_prefix()))
    assert frames == [K.full_frame(i) for i in (0, 100, 200, 300)]
    # S3 semantics: a prefix need not end at a '/'
    assert list(store.list(K.client_prefix() + "full_frames/frame_00000001")) == [K.full_frame(100)]
    assert len(list(store.list(K.client_prefix() + "full_frames"))) == 8
    assert len(list(store.list(tenant_prefix(T)))) == 9
    assert list(store.list(VideoKeys(T, OTHER).client_prefix())) == []
    assert store.delete_prefix(K.full_frames_prefix()) == 4
    assert list(store.list(K.full_frames_prefix())) == []
    assert not (store.root / T / "client" / "videos" / V / "full_frames").exists()
    assert store.exists(K.thumbnail(0)) and store.exists(K.video())
    assert store.delete_prefix(K.full_frames_prefix()) == 0
    assert store.delete_prefix(tenant_prefix(T)) == 5
    assert not (store.root / T).exists()


def test_list_skips_stray_files(store: LocalStore) -> None:
    store.put_bytes(K.video(), b"v")
    directory = store.root / T / "client" / "videos" / V
    (directory / ".video.mp4.abc.part").write_bytes(b"half")
    (directory / "stray file.txt").write_bytes(b"?")
    assert list(store.list(K.client_prefix())) == [K.video()]


def test_gzip_round_trip(store: LocalStore, tmp_path: Path) -> None:
    db = tmp_path / "layout.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table boxes (frame int, text text)")
        conn.executemany("insert into boxes values (?, ?)", [(i, f"t{i}") for i in range(500)])
    conn.close()
    store.put_gzip_file(K.layout_db(), db)
    stored = store.get_bytes(K.layout_db())
    assert gzip.decompress(stored) == db.read_bytes()
    out = store.get_gunzip_file(K.layout_db(), tmp_path / "back" / "layout.db")
    assert out.read_bytes() == db.read_bytes()
    with sqlite3.connect(out) as conn:
        assert conn.execute("select count(*) from boxes").fetchone() == (500,)
    conn.close()
    # deterministic: the same database gives the same object
    store.put_gzip_file(K.captions_db(), db)
    assert store.get_bytes(K.captions_db()) == stored


def test_gzip_helpers_need_gz_keys_and_valid_data(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "a.db"
    src.write_bytes(b"x")
    with pytest.raises(BadInputError, match=".gz"):
        store.put_gzip_file(K.captions_srt(), src)
    with pytest.raises(BadInputError, match=".gz"):
        store.get_gunzip_file(K.captions_srt(), tmp_path / "o")
    store.put_bytes(K.captions_db(), b"not gzip at all")
    with pytest.raises(BadInputError, match="not valid gzip"):
        store.get_gunzip_file(K.captions_db(), tmp_path / "o.db")
    assert not (tmp_path / "o.db").exists()
    with pytest.raises(ObjectNotFoundError):
        store.get_gunzip_file(K.layout_db(), tmp_path / "o.db")


@pytest.mark.parametrize(
    "key",
    [f"{T}/../{OTHER}/x", f"/{T}/x", f"{T}/a//b", "local/x", f"{T}\\x", f"{T}/é"],
)
def test_bad_keys_never_touch_the_disk(store: LocalStore, key: str, tmp_path: Path) -> None:
    with pytest.raises(BadInputError):
        store.put_bytes(key, b"x")
    with pytest.raises(BadInputError):
        store.exists(key)
    with pytest.raises(BadInputError):
        store.presign_get(key)
    assert not store.root.exists() or not any(store.root.rglob("*"))


@pytest.mark.parametrize("prefix", ["", "0b1e", T, "/", f"{T}/../"])
def test_bad_prefixes(store: LocalStore, prefix: str) -> None:
    with pytest.raises(BadInputError):
        list(store.list(prefix))
    with pytest.raises(BadInputError):
        store.delete_prefix(prefix)


def test_symlink_out_of_the_root_is_refused(store: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / T).mkdir(parents=True)
    (store.root / T / "client").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BadInputError, match="symbolic link"):
        store.put_bytes(K.video(), b"x")
    assert not any(outside.rglob("*"))


def test_symlink_into_another_tenant_is_never_followed(store: LocalStore) -> None:
    theirs = VideoKeys(OTHER, V)
    store.put_bytes(theirs.video(), b"their video")
    store.put_bytes(K.video(), b"my video")
    # root/T/server -> root/T2/client: T's server keys would land in T2's client prefix
    (store.root / T / "server").symlink_to(store.root / OTHER / "client", target_is_directory=True)
    planted = store.root / T / "server" / "videos" / V / "video.mp4"
    assert planted.read_bytes() == b"their video"  # the link really leads there
    mine_via_link = f"{T}/server/videos/{V}/video.mp4"
    for attempt in (
        lambda: store.get_bytes(mine_via_link),
        lambda: store.put_bytes(mine_via_link, b"overwritten"),
        lambda: store.exists(mine_via_link),
        lambda: store.list(f"{T}/server/videos/"),
    ):
        with pytest.raises(BadInputError, match="symbolic link"):
            attempt()
    assert list(store.list(tenant_prefix(T))) == [K.video()]

    # complete: T's objects and the link go, nothing of T2 is touched
    assert store.delete_prefix(tenant_prefix(T)) == 1
    assert not (store.root / T).exists()
    assert store.get_bytes(theirs.video()) == b"their video"


def test_unknown_tenant_is_refused_and_known_ones_cached(tmp_path: Path) -> None:
    calls: list[str] = []

    def tenant_exists(tenant_id: str) -> bool:
        calls.append(tenant_id)
        return tenant_id == T

    store = LocalStore(tmp_path, tenant_exists=tenant_exists)
    store.put_bytes(K.video(), b"v")
    store.put_bytes(K.layout_db(), b"l")
    assert calls == [T]
    for action in (
        lambda: store.put_bytes(VideoKeys(OTHER, V).video(), b"x"),
        lambda: store.get_bytes(VideoKeys(OTHER, V).video()),
        lambda: list(store.list(tenant_prefix(OTHER))),
        lambda: store.delete_prefix(tenant_prefix(OTHER)),
    ):
        with pytest.raises(TenantNotFoundError, match=OTHER):
            action()
    # unknown answers are not cached: a tenant created later is accepted
    assert calls.count(OTHER) == 4


def test_presign_is_a_file_uri(store: LocalStore) -> None:
    store.put_bytes(K.video(), b"v")
    url = store.presign_get(K.video())
    assert url.startswith("file://")
    assert Path(url2pathname(urlparse(url).path)).read_bytes() == b"v"
    assert store.presign_put(K.captions_srt()).endswith("/captions.srt")
