"""S3Store against a real S3 server (SeaweedFS started by the ``seaweed_s3`` fixture, signatures
checked)."""

from __future__ import annotations

import io
import os
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.compat
import pytest
import requests
from dagster_aws.s3 import S3Resource

from caption_assets.core.errors import NotFoundError, PermanentError
from caption_assets.core.keys import VideoKeys, tenant_prefix
from caption_assets.core.store.base import (
    BucketNotFoundError,
    ObjectNotFoundError,
    StoreAccessDeniedError,
)
from caption_assets.core.store.s3 import MiB, S3Store
from caption_assets_tests.fixtures.seaweed import REGION, SeaweedS3

pytestmark = pytest.mark.integration

T = "0b1e7a9c-5d2f-4a1b-9c3d-1234567890ab"
V = "7f3e2d1c-0b9a-4877-a665-544332211000"
K = VideoKeys(T, V)


def _count_calls(client: Any, operation: str) -> list[int]:
    calls: list[int] = []
    client.meta.events.register(f"before-call.s3.{operation}", lambda **_: calls.append(1))
    return calls


def test_bytes_round_trip_with_content_type(s3_store: S3Store) -> None:
    s3_store.put_bytes(K.captions_vtt(), b"WEBVTT\n", "text/vtt")
    assert s3_store.get_bytes(K.captions_vtt()) == b"WEBVTT\n"
    assert s3_store.exists(K.captions_vtt())
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=K.captions_vtt())
    assert head["ContentType"] == "text/vtt"


def test_file_round_trip(s3_store: S3Store, tmp_path: Path) -> None:
    source = tmp_path / "frame.jpg"
    source.write_bytes(os.urandom(300_000))
    s3_store.put_file(K.full_frame(100), source, "image/jpeg")
    target = tmp_path / "a" / "b" / "frame.jpg"
    assert s3_store.get_file(K.full_frame(100), target) == target
    assert target.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["frame.jpg"]
    assert s3_store.size(K.full_frame(100)) == 300_000


def test_seven_megabyte_upload_is_multipart(seaweed_s3: SeaweedS3, s3_bucket: str, tmp_path: Path) -> None:
    client = seaweed_s3.client()
    parts = _count_calls(client, "UploadPart")
    puts = _count_calls(client, "PutObject")
    # 5 MiB is the smallest part S3 allows; 7 MB is then two parts
    store = S3Store(client, s3_bucket, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    source = tmp_path / "video.mp4"
    source.write_bytes(os.urandom(7_000_000))
    store.put_file(K.video(), source, "video/mp4")
    assert len(parts) == 2 and not puts
    head = client.head_object(Bucket=s3_bucket, Key=K.video())
    assert head["ContentLength"] == 7_000_000
    out = store.get_file(K.video(), tmp_path / "back.mp4")
    assert out.read_bytes() == source.read_bytes()


def test_large_uploads_stream_instead_of_loading_the_file(
    seaweed_s3: SeaweedS3, s3_bucket: str, tmp_path: Path
) -> None:
    store = S3Store(
        seaweed_s3.client(),
        s3_bucket,
        multipart_threshold=5 * MiB,
        multipart_chunksize=5 * MiB,
        max_concurrency=2,
    )
    size = 48 * MiB
    source = tmp_path / "big.bin"
    with source.open("wb") as fh:
        for _ in range(size // MiB):
            fh.write(os.urandom(MiB))
    for upload in (
        lambda: store.put_file(K.video(), source),
        lambda: store.put_stream(K.video(), source.open("rb")),
    ):
        tracemalloc.start()
        try:
            upload()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # a few 5 MiB parts in flight (about 17 MiB measured for the stream), never the whole file
        assert peak < size / 2, f"peak memory {peak / MiB:.1f} MiB for a {size / MiB:.0f} MiB upload"
        assert store.client.head_object(Bucket=s3_bucket, Key=K.video())["ContentLength"] == size


def test_non_seekable_stream_upload(seaweed_s3: SeaweedS3, s3_bucket: str) -> None:
    store = S3Store(seaweed_s3.client(), s3_bucket, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    data = os.urandom(6 * MiB + 123)

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, buffer: Any) -> int:
            chunk = self._inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    store.put_stream(K.video(), Pipe())  # type: ignore[arg-type]
    assert store.get_bytes(K.video()) == data
    store.put_stream(K.captions_srt(), io.BytesIO(b"1\n"))
    assert store.get_bytes(K.captions_srt()) == b"1\n"


def test_list_more_than_a_thousand_keys_and_delete_prefix(seaweed_s3: SeaweedS3, s3_bucket: str) -> None:
    client = seaweed_s3.client()
    store = S3Store(client, s3_bucket)
    count = 1_234
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda i: store.put_bytes(K.full_frame(i * 100), b"j"), range(count)))
    store.put_bytes(K.video(), b"v")
    pages = _count_calls(client, "ListObjectsV2")
    deletes = _count_calls(client, "DeleteObjects")
    keys = list(store.list(K.full_frames_prefix()))
    assert keys == [K.full_frame(i * 100) for i in range(count)]
    assert len(pages) == 2
    pages.clear()
    assert store.delete_prefix(K.full_frames_prefix()) == count
    assert len(deletes) == 2  # 1,000 + 234
    assert list(store.list(K.full_frames_prefix())) == []
    assert list(store.list(tenant_prefix(T))) == [K.video()]


def test_missing_key(s3_store: S3Store, tmp_path: Path) -> None:
    assert not s3_store.exists(K.layout_db())
    with pytest.raises(ObjectNotFoundError, match="layout.db.gz"):
        s3_store.size(K.layout_db())
    with pytest.raises(ObjectNotFoundError, match="layout.db.gz") as info:
        s3_store.get_bytes(K.layout_db())
    assert isinstance(info.value, NotFoundError) and s3_store.bucket in str(info.value)
    with pytest.raises(ObjectNotFoundError, match=s3_store.bucket):
        s3_store.get_file(K.layout_db(), tmp_path / "layout.db.gz")
    assert not (tmp_path / "layout.db.gz").exists()
    assert list(tmp_path.iterdir()) == []


def test_gzip_round_trip(s3_store: S3Store, tmp_path: Path) -> None:
    db = tmp_path / "captions.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(10_000))
    s3_store.put_gzip_file(K.captions_db(), db)
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=K.captions_db())
    assert head["ContentType"] == "application/gzip"
    out = s3_store.get_gunzip_file(K.captions_db(), tmp_path / "out" / "captions.db")
    assert out.read_bytes() == db.read_bytes()


def test_presigned_put_then_get_with_plain_http(s3_store: S3Store) -> None:
    put_url = s3_store.presign_put(K.video(), expires_seconds=300)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in put_url
    response = requests.put(put_url, data=b"uploaded by the browser", timeout=10)
    assert response.status_code == 200, response.text
    get_url = s3_store.presign_get(K.video(), expires_seconds=300)
    response = requests.get(get_url, timeout=10)
    assert response.status_code == 200 and response.content == b"uploaded by the browser"
    # without the signature the object is not readable
    assert requests.get(get_url.split("?", 1)[0], timeout=10).status_code == 403


def test_presigned_url_expires(s3_store: S3Store, monkeypatch: pytest.MonkeyPatch) -> None:
    s3_store.put_bytes(K.captions_srt(), b"1\n")
    # signed two minutes ago for one minute: expired now, without waiting for the clock
    signed_at = botocore.compat.get_current_datetime() - timedelta(minutes=2)
    with monkeypatch.context() as m:
        m.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: signed_at)
        url = s3_store.presign_get(K.captions_srt(), expires_seconds=60)
    assert requests.get(url, timeout=10).status_code == 403
    # the same URL signed now is good: the refusal above is the expiry
    assert (
        requests.get(s3_store.presign_get(K.captions_srt(), expires_seconds=60), timeout=10).status_code
        == 200
    )


def test_client_from_dagster_aws_resource(seaweed_s3: SeaweedS3, s3_bucket: str, tmp_path: Path) -> None:
    """The Dagster resource builds its client with S3Resource: uploads work against the server and
    presigned URLs are still SigV4 (boto3 would presign with SigV2 for such a client)."""
    client = S3Resource(
        endpoint_url=seaweed_s3.endpoint,
        region_name=REGION,
        aws_access_key_id=seaweed_s3.access_key,
        aws_secret_access_key=seaweed_s3.secret_key,
        max_attempts=2,
    ).get_client()
    store = S3Store(client, s3_bucket, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    source = tmp_path / "v.mp4"
    source.write_bytes(os.urandom(6 * MiB))
    store.put_file(K.video(), source)
    assert store.get_bytes(K.video()) == source.read_bytes()
    url = store.presign_get(K.video())
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "Signature=" not in url.split("X-Amz-")[0]
    assert requests.get(url, timeout=10).content == source.read_bytes()


@pytest.mark.parametrize("credential", ["secret", "access_key"])
def test_wrong_credentials_are_rejected_at_once(
    seaweed_s3: SeaweedS3, s3_bucket: str, credential: str
) -> None:
    if credential == "secret":
        client = seaweed_s3.client(secret_key="not-the-secret")
    else:
        client = seaweed_s3.client(access_key="AKNOTAKEY0000000")
    calls = _count_calls(client, "PutObject")
    store = S3Store(client, s3_bucket)
    with pytest.raises(StoreAccessDeniedError) as info:
        store.put_bytes(K.video(), b"x")
    message = str(info.value)
    assert s3_bucket in message and K.video() in message
    assert info.value.bucket == s3_bucket and info.value.key == K.video()
    assert isinstance(info.value, PermanentError)
    assert len(calls) == 1  # refused at once: no retry
    with pytest.raises(StoreAccessDeniedError):
        store.get_bytes(K.video())
    with pytest.raises(StoreAccessDeniedError):
        list(store.list(K.client_prefix()))
    # and nothing was written
    assert not S3Store(seaweed_s3.client(), s3_bucket).exists(K.video())


def test_missing_bucket_is_reported_naming_bucket_and_key(seaweed_s3: SeaweedS3, tmp_path: Path) -> None:
    store = S3Store(seaweed_s3.client(), "caption-assets-no-such-bucket")
    source = tmp_path / "f"
    source.write_bytes(b"x")
    for action in (
        lambda: store.put_bytes(K.video(), b"x"),
        lambda: store.put_file(K.video(), source),
        lambda: store.get_bytes(K.video()),
        lambda: store.get_file(K.video(), tmp_path / "out"),
        lambda: store.exists(K.video()),
    ):
        with pytest.raises(BucketNotFoundError) as info:
            action()
        message = str(info.value)
        assert "caption-assets-no-such-bucket" in message and "does not exist" in message
        assert K.video() in message
    with pytest.raises(BucketNotFoundError, match="caption-assets-no-such-bucket"):
        list(store.list(K.client_prefix()))
    with pytest.raises(BucketNotFoundError, match="caption-assets-no-such-bucket"):
        store.delete_prefix(K.client_prefix())
    # the bucket was not created on the way
    names = [b["Name"] for b in seaweed_s3.client().list_buckets()["Buckets"]]
    assert "caption-assets-no-such-bucket" not in names
