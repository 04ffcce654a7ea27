"""A presigned upload is bound to the size and content type announced for it, on a real S3
server (SeaweedFS checks the signature): a larger body or another type is refused."""

from __future__ import annotations

import pytest
import requests

from caption_assets.core.errors import AdmissionError
from caption_assets.core.keys import VideoKeys
from caption_assets.core.store.s3 import S3Store

pytestmark = pytest.mark.integration

K = VideoKeys("0b1e7a9c-5d2f-4a1b-9c3d-1234567890ab", "7f3e2d1c-0b9a-4877-a665-544332211000")


def test_presigned_put_is_bound_to_its_size_and_type(s3_store: S3Store) -> None:
    body = b"v" * 1000
    url = s3_store.presign_put(
        K.video(), 300, size_bytes=len(body), content_type="video/mp4", max_size_bytes=100 * 1024
    )
    bigger = requests.put(url, data=body * 10, headers={"Content-Type": "video/mp4"}, timeout=10)
    assert bigger.status_code == 403
    other_type = requests.put(url, data=body, headers={"Content-Type": "text/html"}, timeout=10)
    assert other_type.status_code == 403
    assert not s3_store.exists(K.video())
    ok = requests.put(url, data=body, headers={"Content-Type": "video/mp4"}, timeout=10)
    assert ok.status_code == 200, ok.text
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=K.video())
    assert (head["ContentLength"], head["ContentType"]) == (1000, "video/mp4")

    with pytest.raises(AdmissionError, match="715 KiB exceeds the limit of 100 KiB"):
        s3_store.presign_put(K.video(), 300, size_bytes=715 * 1024, max_size_bytes=100 * 1024)
