"""Expected Modal cost per 60 s video, from CPU time measured per step on this machine.

    python -m benchmarks.modal_cost [--duration 60] [--width 1280 --height 720 --fps 30]

Renders a 60 s 720p30 video with captions (``caption_synthetic``), runs the four heavy steps
through ``LocalCompute`` (the code the Modal functions run) and measures per step: wall time, process
CPU time (all threads) and peak resident memory. A fresh interpreter measures what a cold container
pays before the first input (importing the step code and the OCR engine). The cost model applies
Modal's per-second prices to the resources the app requests (``caption_assets.app.modal_app.SETTINGS``,
including ``CAPTION_ASSETS_MODAL_*`` overrides): Modal bills max(request, use) for CPU and memory.
Figures, not a test: they depend on this machine's CPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caption_assets.app.modal_app import SETTINGS, FunctionSettings
from caption_assets.core.compute.base import VideoJob
from caption_assets.core.compute.local import LocalCompute
from caption_assets.core.keys import VideoKeys
from caption_assets.core.store.local import LocalStore
from caption_synthetic import Cue, VideoSpec, render_video

# Modal's published prices for Functions (modal.com/pricing), as quoted in a pricing review that
# states it verified them on 2026-06-27; not re-checked here (no network). Region selection and
# non-preemptible execution add multipliers on top; the defaults (any region, preemptible) have none.
PRICES_AS_OF = "2026-06-27"
CPU_USD_PER_CORE_SECOND = 0.0000131  # one physical core (= 2 vCPU)
MEMORY_USD_PER_GIB_SECOND = 0.00000222

_TEXTS = [
    "Welcome back to the channel.",
    "Today we are cooking a simple soup.",
    "First, chop two onions finely.",
    "Add a spoon of butter to the pan.",
    "Stir for about five minutes!",
    "Now pour in one litre of stock.",
    "Season with salt & pepper (to taste).",
    "Let it simmer for 20 minutes.",
]


@dataclass(frozen=True)
class StepFigures:
    step: str
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float


def benchmark_spec(duration: float, width: int, height: int, fps: float) -> VideoSpec:
    """A talking-head-like video: a caption of 2.2 s every 2.8 s, noisy background."""
    cues, t, i = [], 0.5, 0
    while t + 2.2 < duration - 0.2:
        cues.append(Cue(_TEXTS[i % len(_TEXTS)], round(t, 3), round(t + 2.2, 3)))
        t += 2.8
        i += 1
    return VideoSpec(
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        cues=tuple(cues),
        background="noise",
        seed=7,
    )


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _measure(step: str, run: Callable[[], Any]) -> StepFigures:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return StepFigures(step, time.perf_counter() - wall, time.process_time() - cpu, _peak_rss_mib())


def cold_start_figures() -> StepFigures:
    """What a fresh container spends before its first input: imports and OCR engine start."""
    code = (
        "import time, resource;"
        "w, c = time.perf_counter(), time.process_time();"
        "import caption_assets.app.modal_app;"
        "from caption_assets.core.processing import ocr;"
        "ocr.engine();"
        "print(time.perf_counter() - w, time.process_time() - c,"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    wall, cpu, rss = (float(x) for x in out.stdout.split()[-3:])
    return StepFigures("cold start", wall, cpu, rss)


def cost_usd(fig: StepFigures, conf: FunctionSettings, extra_wall: float = 0.0) -> tuple[float, float]:
    """(CPU cost, memory cost) of one call billed as max(request, use) per second."""
    wall = fig.wall_seconds + extra_wall
    core_seconds = max(conf.cpu * wall, fig.cpu_seconds)
    gib = max(conf.memory_mb / 1024, fig.peak_rss_mib / 1024)
    return core_seconds * CPU_USD_PER_CORE_SECOND, gib * wall * MEMORY_USD_PER_GIB_SECOND


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="modal_cost_") as tmp:
        work = Path(tmp)
        video = work / "video.mp4"
        spec = benchmark_spec(args.duration, args.width, args.height, args.fps)
        started = time.perf_counter()
        truth = render_video(spec, video)
        print(
            f"video: {args.duration:g} s {args.width}x{args.height} @ {args.fps:g} fps, "
            f"{len(truth.captions)} captions, {video.stat().st_size / 1e6:.1f} MB "
            f"(rendered in {time.perf_counter() - started:.1f} s)"
        )
        print(f"machine: {os.cpu_count()} logical CPUs, Python {sys.version.split()[0]}")

        cold = cold_start_figures()
        store = LocalStore(work / "artifacts")
        job = VideoJob(str(uuid.uuid4()), str(uuid.uuid4()))
        store.put_file(VideoKeys(job.tenant_id, job.video_id).video(), video, "video/mp4")
        compute = LocalCompute(store)
        figures = [
            _measure("full_frames", lambda: compute.full_frames(job)),
            _measure("layout", lambda: compute.layout(job)),
            _measure("cropped_frames", lambda: compute.cropped_frames(job, 1)),
            _measure("captions", lambda: compute.captions(job)),
        ]

    print()
    print(
        f"{'step':<15}{'wall s':>8}{'CPU s':>8}{'peak RSS MiB':>14}  {'request':<22}"
        f"{'cold $':>11}{'warm $':>11}"
    )
    warm_total = cold_total = 0.0
    for fig in figures:
        conf = SETTINGS[fig.step]
        warm = sum(cost_usd(fig, conf))
        # a cold call also pays the container start (imports, OCR engine) at the same request
        cold_call = warm + sum(cost_usd(cold, conf))
        warm_total += warm
        cold_total += cold_call
        request = f"{conf.cpu:g} cores, {conf.memory_mb} MiB" + (f", {conf.gpu}" if conf.gpu else "")
        print(
            f"{fig.step:<15}{fig.wall_seconds:>8.1f}{fig.cpu_seconds:>8.1f}{fig.peak_rss_mib:>14.0f}  "
            f"{request:<22}{cold_call:>11.6f}{warm:>11.6f}"
        )
    print(
        f"{'cold start':<15}{cold.wall_seconds:>8.1f}{cold.cpu_seconds:>8.1f}{cold.peak_rss_mib:>14.0f}  "
        "(per container start)"
    )
    wall = sum(f.wall_seconds for f in figures)
    cpu = sum(f.cpu_seconds for f in figures)
    print()
    print(
        f"processing: {wall:.1f} s wall, {cpu:.1f} s CPU for {args.duration:g} s of video "
        f"({wall / args.duration:.2f}x real time)"
    )
    print(
        f"expected Modal cost per {args.duration:g} s video: ${warm_total:.5f} with warm containers, "
        f"${cold_total:.5f} if every call starts a container"
    )
    print(f"  per 1,000 videos: ${warm_total * 1000:.2f} warm, ${cold_total * 1000:.2f} cold")
    print()
    print("assumptions:")
    print(
        f"  prices: ${CPU_USD_PER_CORE_SECOND:.7f}/physical core-second, "
        f"${MEMORY_USD_PER_GIB_SECOND:.8f}/GiB-second (Modal Functions, modal.com/pricing as "
        f"published on {PRICES_AS_OF}; no region pinning, preemptible; not re-checked here)"
    )
    print(
        "  billing: max(request, use) per second for CPU and memory; requests from "
        "caption_assets.app.modal_app.SETTINGS"
    )
    print(
        "  a Modal core is a physical core (2 vCPU); CPU seconds here are this machine's, "
        "Modal's wall time is assumed equal to the local wall time at the requested cores"
    )
    print(
        "  not included: image builds, GPU (none requested), S3/Wasabi transfer and storage, "
        "the orchestrator, free monthly credits"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
