"""Bad input is told apart from failures and reported in one line that names the user's thing:
images posing as videos, tenant names with control characters or of any length, and no worker
paths in what a tenant reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from caption_assets.app.platform import normalize_tenant_name
from caption_assets.core.errors import BadInputError, BadVideoError, shorten, without_paths
from caption_assets.core.processing.video import iter_frames, probe

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_image_renamed_mp4_is_not_a_video(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "holiday.mp4"
    Image.new("RGB", (320, 240), (200, 10, 10)).save(path, format=fmt)
    with pytest.raises(BadVideoError, match=r"holiday\.mp4: an image \((PNG|JPEG)\), not a video"):
        probe(path)
    with pytest.raises(BadVideoError, match="not a video"):
        next(iter_frames(path))


def test_unreadable_file_message_has_no_directory(tmp_path: Path) -> None:
    work = tmp_path / "caption_assets_worker"
    work.mkdir()
    path = work / "video.mp4"
    path.write_bytes(b"%PDF-1.4 not a video\n" * 100)
    with pytest.raises(BadVideoError) as err:
        probe(path)
    assert str(tmp_path) not in str(err.value) and "video.mp4" in str(err.value)


def test_paths_are_removed_from_messages() -> None:
    text = "[Errno 2] No such file or directory: '/tmp/caption_assets_x1/video.mp4' (see /srv/a/b.db)"
    assert without_paths(text) == "[Errno 2] No such file or directory: 'video.mp4' (see b.db)"
    assert (
        without_paths("keys a/b/c and https://example.com/x/y stay")
        == "keys a/b/c and https://example.com/x/y stay"
    )


def test_tenant_names_have_one_spelling() -> None:
    assert {normalize_tenant_name(n) for n in ("local", "local ", "LOCAL", "\tLocal\n")} == {"local"}


@pytest.mark.parametrize("name", ["acme\x00corp", "a\nb", "   "])
def test_control_characters_and_empty_names_are_bad_input(name: str) -> None:
    with pytest.raises(BadInputError) as err:
        normalize_tenant_name(name)
    assert "\n" not in str(err.value) and "\x00" not in str(err.value)


def test_a_huge_tenant_name_is_shortened_in_the_message() -> None:
    with pytest.raises(BadInputError, match="too long") as err:
        normalize_tenant_name("x" * 10_240)
    assert len(str(err.value)) < 200 and "10240 characters" in str(err.value)
    assert shorten("short") == "short"
