"""Tenant isolation in the artifact store: keys outside a tenant, unknown tenants and edited
presigned URLs are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from caption_assets.core.errors import BadInputError, TenantNotFoundError
from caption_assets.core.keys import (
    OPERATIONS_PREFIX,
    VideoKeys,
    ensure_within_tenant,
    operations_key,
    tenant_prefix,
)
from caption_assets.core.store.base import ArtifactStore
from caption_assets.core.store.local import LocalStore
from caption_assets.core.store.s3 import S3Store
from caption_assets_tests.fixtures.seaweed import SeaweedS3

pytestmark = pytest.mark.security

A = "0b1e7a9c-5d2f-4a1b-9c3d-1234567890ab"
B = "11111111-2222-4333-8444-555555555555"
V = "7f3e2d1c-0b9a-4877-a665-544332211000"
KA = VideoKeys(A, V)
KB = VideoKeys(B, V)

TRAVERSALS = [
    f"{A}/../{B}/client/videos/{V}/video.mp4",
    f"{A}/client/videos/{V}/../../../../{B}/client/videos/{V}/video.mp4",
    f"{A}/client/videos/{V}/..%2F..%2F{B}",
    f"/{B}/client/videos/{V}/video.mp4",
    f"{A}\\..\\{B}\\x",
    f"{A}//{B}/x",
    f"{A}/client/videos/{V}/\u2025/x",
    f"{A}/client/videos/{V}/video.mp4\x00",
]


def test_key_of_another_tenant_is_refused() -> None:
    with pytest.raises(BadInputError, match="outside tenant"):
        ensure_within_tenant(KB.video(), A)
    for key in TRAVERSALS:
        with pytest.raises(BadInputError):
            ensure_within_tenant(key, A)


def _stores(tmp_path: Path, seaweed_s3: SeaweedS3, bucket: str, **kwargs: Any) -> list[ArtifactStore]:
    return [LocalStore(tmp_path / "local", **kwargs), S3Store(seaweed_s3.client(), bucket, **kwargs)]


def test_traversal_keys_never_reach_the_backend(
    tmp_path: Path, seaweed_s3: SeaweedS3, s3_bucket: str
) -> None:
    for store in _stores(tmp_path, seaweed_s3, s3_bucket):
        calls: list[str] = []
        if isinstance(store, S3Store):
            store.client.meta.events.register(
                "before-call.s3", lambda calls=calls, **kw: calls.append("call")
            )
        for key in TRAVERSALS:
            for action in (
                lambda store=store, key=key: store.put_bytes(key, b"x"),
                lambda store=store, key=key: store.get_bytes(key),
                lambda store=store, key=key: store.exists(key),
                lambda store=store, key=key: store.presign_get(key),
                lambda store=store, key=key: store.presign_put(key),
            ):
                with pytest.raises(BadInputError):
                    action()
        for prefix in ("", A, A[:8], "/", f"{A}/../"):
            with pytest.raises(BadInputError):
                list(store.list(prefix))
            with pytest.raises(BadInputError):
                store.delete_prefix(prefix)
        assert calls == []
    assert not (tmp_path / "local").exists() or not any((tmp_path / "local").rglob("*"))
    assert (
        S3Store(seaweed_s3.client(), s3_bucket).client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    )


def test_unknown_tenant_is_refused(tmp_path: Path, seaweed_s3: SeaweedS3, s3_bucket: str) -> None:
    def tenant_exists(tenant_id: str) -> bool:
        return tenant_id == A

    for store in _stores(tmp_path, seaweed_s3, s3_bucket, tenant_exists=tenant_exists):
        store.put_bytes(KA.video(), b"a")
        for action in (
            lambda store=store: store.put_bytes(KB.video(), b"b"),
            lambda store=store: store.get_bytes(KB.video()),
            lambda store=store: store.exists(KB.video()),
            lambda store=store: list(store.list(tenant_prefix(B))),
            lambda store=store: store.delete_prefix(tenant_prefix(B)),
            lambda store=store: store.presign_get(KB.video()),
            lambda store=store: store.presign_put(KB.video()),
        ):
            with pytest.raises(TenantNotFoundError, match=B):
                action()
        assert store.get_bytes(KA.video()) == b"a"


def test_listing_a_tenant_never_shows_another_tenant(s3_store: S3Store) -> None:
    s3_store.put_bytes(KA.video(), b"a")
    s3_store.put_bytes(KB.video(), b"b")
    assert list(s3_store.list(tenant_prefix(A))) == [KA.video()]
    assert s3_store.delete_prefix(tenant_prefix(A)) == 1
    assert s3_store.get_bytes(KB.video()) == b"b"


def test_presigned_url_cannot_be_edited_to_reach_another_tenant(s3_store: S3Store) -> None:
    s3_store.put_bytes(KA.captions_srt(), b"tenant A")
    s3_store.put_bytes(KB.captions_srt(), b"tenant B secret")
    url = s3_store.presign_get(KA.captions_srt())
    assert requests.get(url, timeout=10).content == b"tenant A"
    for edited in (
        url.replace(A, B),
        url.replace(KA.captions_srt(), KB.captions_srt()),
        url.replace("captions.srt", "captions.vtt"),
        url.replace(f"/{A}/", f"/{A}/../{B}/"),
    ):
        response = requests.get(edited, timeout=10)
        assert response.status_code == 403, (edited, response.status_code)
        assert b"tenant B secret" not in response.content

    put_url = s3_store.presign_put(KA.captions_vtt())
    response = requests.put(put_url.replace(A, B), data=b"overwrite", timeout=10)
    assert response.status_code == 403
    assert s3_store.get_bytes(KB.captions_srt()) == b"tenant B secret"
    assert not s3_store.exists(KB.captions_vtt())


def test_presigned_url_for_one_method_does_not_allow_another(s3_store: S3Store) -> None:
    s3_store.put_bytes(KA.video(), b"original")
    get_url = s3_store.presign_get(KA.video())
    assert requests.put(get_url, data=b"overwrite", timeout=10).status_code == 403
    assert requests.delete(get_url, timeout=10).status_code == 403
    assert s3_store.get_bytes(KA.video()) == b"original"


def test_the_operations_area_is_exempt_from_tenant_checks_only_for_the_service_role(
    tmp_path: Path, seaweed_s3: SeaweedS3, s3_bucket: str
) -> None:
    """The health tables live under exactly ``operations/``: stored and listed without a tenant,
    never presigned, never in a tenant's listing; look-alike prefixes stay refused."""
    key = operations_key("health", "run_health.parquet")
    for store in _stores(tmp_path, seaweed_s3, s3_bucket, tenant_exists=lambda tenant_id: tenant_id == A):
        store.put_bytes(key, b"table")
        store.put_bytes(KA.video(), b"a")
        assert store.get_bytes(key) == b"table"
        assert list(store.list(OPERATIONS_PREFIX)) == [key]
        assert list(store.list(tenant_prefix(A))) == [KA.video()]
        for action in (
            lambda store=store: store.presign_get(key),
            lambda store=store: store.presign_put(key),
        ):
            with pytest.raises(BadInputError):
                action()
        for look_alike in ("Operations/health/x", "operationsx/x", f"operations/../{A}/x", "operations"):
            with pytest.raises(BadInputError):
                store.put_bytes(look_alike, b"x")
        assert store.delete_prefix(tenant_prefix(A)) == 1
        assert store.get_bytes(key) == b"table"
