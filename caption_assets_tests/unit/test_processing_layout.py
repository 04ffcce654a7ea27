"""Caption zones from sampled full-frame boxes: only text that behaves like captions makes a zone."""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest

from caption_assets.core.processing.layout import FrameBoxes, detect_zones
from caption_assets.core.processing.ocr import Box

pytestmark = pytest.mark.unit

W, H = 1280, 720
SAMPLES = list(range(0, 120, 6))  # a 12 s video sampled every 0.6 s (tenths of a second)
LINES = [
    "Welcome back to the channel.",
    "Today we cook a simple soup.",
    "First, chop two onions.",
    "Add butter to the pan.",
    "Stir for five minutes!",
]

Read = tuple[Box, str, float]
Layer = Callable[[int], list[Read]]


def text_box(text: str, cx: float, cy: float, height: int = 36) -> Read:
    """A detected line of ``text`` centred at ``cx, cy`` (characters ~half a line height wide)."""
    width = len(text) * height // 2
    return (
        Box(round(cx - width / 2), round(cy - height / 2), round(cx + width / 2), round(cy + height / 2)),
        text,
        0.95,
    )


def captions(cy: float, offset: int = 0, width: int = W, per_line: int = 4) -> Layer:
    """A new centred line every ``per_line`` samples (2.4 s at 0.6 s), off for one sample between
    lines; ``per_line=1``: a different line in every sample, as when samples are far apart."""

    def layer(k: int) -> list[Read]:
        if per_line > 1 and k % per_line == per_line - 1:
            return []
        return [text_box(LINES[(k // per_line + offset) % len(LINES)], width / 2, cy)]

    return layer


def held(text: str, cx: float, cy: float) -> Layer:
    return lambda k: [text_box(text, cx, cy)]


def video(*layers: Layer, samples: list[int] = SAMPLES, size: tuple[int, int] = (W, H)) -> list[FrameBoxes]:
    return [
        FrameBoxes(fi, *size, [read for layer in layers for read in layer(k)]) for k, fi in enumerate(samples)
    ]


def positions(frames: list[FrameBoxes]) -> list[str]:
    return [z.position for z in detect_zones(frames).zones]


def test_changing_signs_in_mid_frame_are_not_a_caption_zone() -> None:
    # centred, changing every few seconds like captions, but in the middle of the frame
    signs = ["EXIT", "SALE 50%", "OPEN 24h", "Platform 3", "HOTEL"]
    sign = lambda k: [text_box(signs[k // 4], W / 2 + 40 * (k // 4), 0.45 * H, height=48)]  # noqa: E731
    assert positions(video(sign)) == []
    assert positions(video(sign, captions(0.9 * H))) == ["bottom"]


def test_a_logo_in_a_corner_is_held_text_not_a_zone() -> None:
    result = detect_zones(video(held("NEWS 24", 0.9 * W, 0.07 * H), captions(0.9 * H)))
    assert [z.position for z in result.zones] == ["bottom"]
    assert result.stats["overlay_boxes"] == {"held": len(SAMPLES)}


def test_a_centred_text_held_for_the_whole_video_is_not_a_caption() -> None:
    # a burned-in web address or a lower-third title: centred at caption height, but never changes
    assert positions(video(held("www.example.com/soup", W / 2, 0.9 * H))) == []


SHORT = [round(j * 50 / 20) for j in range(20)]  # a 5 s video: 20 samples 0.25 s apart


def test_a_short_videos_only_caption_is_still_a_zone() -> None:
    # one caption for 3 of the 5 s: too short a video to call anything held
    line = lambda k: [text_box(LINES[0], W / 2, 0.9 * H)] if 4 <= k < 16 else []  # noqa: E731
    assert positions(video(line, samples=SHORT)) == ["bottom"]


def test_a_logo_beside_a_short_videos_captions_is_left_out() -> None:
    # too short to tell by duration: off the centre line in every sample is what gives a logo away
    result = detect_zones(video(captions(0.9 * H), held("NEWS 24", 0.9 * W, 0.9 * H), samples=SHORT))
    (zone,) = result.zones
    assert zone.centred == 1.0 and result.stats["overlay_boxes"] == {"logo": len(SHORT)}


def test_top_and_bottom_captions_give_two_zones() -> None:
    frames = video(captions(0.1 * H), captions(0.9 * H, offset=2), held("tv5", 0.92 * W, 0.93 * H))
    zones = detect_zones(frames).zones
    assert [z.position for z in zones] == ["top", "bottom"]
    assert zones[0].region.y + zones[0].region.height < H / 2 < zones[1].region.y
    # a second zone only when it behaves like captions too: held text at the bottom is not one
    assert positions(video(captions(0.1 * H), held("www.example.com/soup", W / 2, 0.9 * H))) == ["top"]


EVERY_10S = list(range(0, 2000, 100))  # a long video: samples 10 s apart
_RNG = random.Random(7)
# a new headline in every part of every sample (nothing repeats, as 10 s apart)
NEWS = [
    " - ".join(
        " ".join("".join(_RNG.choices(string.ascii_lowercase, k=_RNG.randint(3, 8))) for _ in range(3))
        for _ in range(3)
    )
    for _ in range(20)
]


def test_a_ticker_running_edge_to_edge_is_not_a_zone_nor_in_the_caption_band() -> None:
    # 10 s apart, the ticker shows new text in every sample, in three boxes split at its dashes:
    # only the line's reaching both frame edges gives the middle one away
    def ticker(k: int) -> list[Read]:
        cy, parts = 0.965 * H, NEWS[k].split(" - ")
        edges = [0, 0.3 * W, 0.7 * W, W]
        return [
            (
                Box(
                    round(x0) + (8 if i else 0),
                    round(cy) - 16,
                    round(x1) - (8 if i < 2 else 0),
                    round(cy) + 16,
                ),
                part,
                0.95,
            )
            for i, (part, x0, x1) in enumerate(
                zip([parts[0], parts[1], " ".join(parts[2:])], edges, edges[1:])
            )
        ]

    assert positions(video(ticker, samples=EVERY_10S)) == []
    zones = detect_zones(video(ticker, captions(0.9 * H, per_line=1), samples=EVERY_10S)).zones
    assert [z.position for z in zones] == ["bottom"]
    ticker_top = round(0.965 * H) - 16
    assert zones[0].region.y + zones[0].region.height <= ticker_top


def test_text_running_off_a_frame_edge_is_not_a_caption() -> None:
    # a ticker's last item leaving on the left: centred enough, changing, but cut by the edge
    def leaving(k: int) -> list[Read]:
        return [(Box(0, round(0.9 * H) - 18, round(0.74 * W), round(0.9 * H) + 18), NEWS[k][12:], 0.95)]

    assert positions(video(leaving, samples=EVERY_10S)) == []


def test_text_scrolling_inside_the_frame_is_not_a_zone() -> None:
    # a short ticker in a box that does not reach the frame's edges, 12 characters further on in each
    # sample: the reads differ, but the end of one is the start of the next, further left
    news = "Weather: sunny, 24 degrees - Tomorrow: rain in the north, wind from the west - "

    def ticker(k: int) -> list[Read]:
        text = (news * 4)[12 * k : 12 * k + 30]
        return [text_box(text, W / 2, 0.9 * H)]

    assert positions(video(ticker)) == []


def test_a_shop_sign_panning_with_the_shot_is_not_a_zone() -> None:
    # the same word at caption height, a little further left in every sample
    sign = lambda k: [text_box("PHARMACY", 0.75 * W - 0.025 * W * k, 0.86 * H)]  # noqa: E731
    assert positions(video(sign)) == []


def test_changing_names_at_the_bottom_left_are_not_captions() -> None:
    # a lower-third name tag that changes with the speaker: at caption height, but not centred
    names = [
        "Anna Berg, chef",
        "Tom Ruiz, farmer",
        "Dr. Lee, nutritionist",
        "Sam Ott, critic",
        "Ida Moe, host",
    ]
    tag = lambda k: [] if k % 4 == 3 else [text_box(names[k // 4], 0.22 * W, 0.88 * H)]  # noqa: E731
    assert positions(video(tag)) == []


def test_a_centred_line_split_into_word_boxes_is_centred() -> None:
    # the detector splits a long line at a wide space: each half is off the axis, the line is not
    def split(k: int) -> list[Read]:
        left, right = (
            LINES[k // 4 % len(LINES)].split(" ", 2)[:2],
            LINES[k // 4 % len(LINES)].split(" ", 2)[2],
        )
        y0, y1 = round(0.9 * H) - 18, round(0.9 * H) + 18
        return [
            (Box(round(0.1 * W), y0, round(0.48 * W), y1), " ".join(left), 0.95),
            (Box(round(0.52 * W), y0, round(0.9 * W), y1), right, 0.95),
        ]

    (zone,) = detect_zones(video(split)).zones
    assert zone.position == "bottom" and zone.centred == 1.0


def test_a_logo_beside_the_bottom_captions_leaves_one_centred_zone() -> None:
    frames = video(captions(0.9 * H), held("NEWS 24", 0.9 * W, 0.9 * H))
    (zone,) = detect_zones(frames).zones
    assert zone.position == "bottom" and zone.centred == 1.0
    # the band stops short of the logo (on both sides: the lines are centred), the lines still fit
    logo_box = text_box("NEWS 24", 0.9 * W, 0.9 * H)[0]
    widest = max(text_box(line, W / 2, 0.9 * H)[0].width for line in LINES)
    assert widest < zone.region.width and zone.region.x + zone.region.width <= logo_box.x0
    assert abs(zone.region.x - (W - zone.region.x - zone.region.width)) <= 2  # even-aligned crops


def test_captions_in_a_letterbox_bar_and_in_vertical_video() -> None:
    # 2.35:1 film in a 16:9 frame: the bar starts at 86% of the height
    assert positions(video(captions(0.93 * H))) == ["bottom"]
    # a phone video (720x1280) with its captions raised above the app's controls
    assert positions(video(captions(0.66 * W, width=H), size=(H, W))) == ["bottom"]


def test_long_lines_filling_a_narrow_frames_width_are_still_captions() -> None:
    # a vertical video whose caption lines reach both edges: each for a caption's time only
    def wide(k: int) -> list[Read]:
        if k % 4 == 3:
            return []
        _, text, score = text_box(LINES[k // 4 % len(LINES)], H / 2, 0.9 * W)
        return [(Box(2, round(0.9 * W) - 18, H - 2, round(0.9 * W) + 18), text, score)]

    assert positions(video(wide, size=(H, W))) == ["bottom"]


def test_a_few_quick_full_width_lines_are_still_captions() -> None:
    # rapid dialogue in a narrow frame, a different long line in each sample, for 3 s only: a ticker
    # would run on
    def quick(k: int) -> list[Read]:
        if k >= 6:
            return []
        _, text, score = text_box(LINES[k % len(LINES)], H / 2, 0.9 * W)
        return [(Box(2, round(0.9 * W) - 18, H - 2, round(0.9 * W) + 18), text, score)]

    assert positions(video(quick, size=(H, W))) == ["bottom"]
