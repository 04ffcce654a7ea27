"""The test video library: every preset of ``caption_synthetic.PRESETS`` through the four pipeline
steps (as test_pipeline_presets runs them), scored against its exact ground truth with the
extraction benchmark's scorer and held to the benchmark's quality targets, per video.

Each preset is processed at its full length and size, nothing cut short: on the 2-core CI machine
the whole set takes about 100 s of CPU (dense_2min 45 s of it with its rendering, uhd_4k 15 s),
under two minutes when the machine is idle and three and a half when it is shared. uhd_4k goes
through the benchmark's own worker, in a process of its own, which reports the four steps' peak
memory (recorded as a test property). Neither the benchmark's time targets (end to end, OCR seconds
per caption) nor its 4K memory target are held here: both move with the machine's load, and
``python -m benchmarks.extraction`` reports them against their targets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import benchmarks
from benchmarks.extraction import TARGETS, score
from caption_assets_tests.fixtures.videos import RenderedVideo
from caption_assets_tests.integration.test_pipeline_presets import run_all
from caption_synthetic import PRESETS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# the benchmark's quality targets: share -> (numerator, denominator) of its score, at least the target
AT_LEAST = {
    "recall": ("found", "expected"),
    "precision": ("found", "predicted"),
    "exact_text": ("exact", "found"),
    "hard_exact": ("hard_exact", "hard_edges"),
    "within1": ("hard_within1", "hard_edges"),
}
AT_MOST = {"cer": ("errors", "chars")}  # missed captions count as fully wrong

# Targets a preset misses today, each with what goes wrong. Held the other way round: the test
# fails when the preset meets the target, so the entry goes as soon as the pipeline does better.
KNOWN_SHORTFALLS: dict[str, dict[str, str]] = {}


def _share(s: dict, numerator: str, denominator: str) -> float | None:
    return s[numerator] / s[denominator] if s[denominator] else None


def missed_targets(s: dict) -> dict[str, str]:
    """The benchmark's quality targets this score misses (a share with nothing to count: not held)."""
    missed = {}
    for target, (num, den) in AT_LEAST.items():
        value = _share(s, num, den)
        if value is not None and value < TARGETS[target]:
            missed[target] = f"{value:.3f} < {TARGETS[target]}"
    for target, (num, den) in AT_MOST.items():
        value = _share(s, num, den)
        if value is not None and value > TARGETS[target]:
            missed[target] = f"{value:.4f} > {TARGETS[target]}"
    return missed


def assert_held(name: str, s: dict) -> None:
    """Every quality target met, but those ``KNOWN_SHORTFALLS`` lists for ``name`` (still missed)."""
    if not s["expected"]:  # no share has anything to count: nothing may be invented
        assert s["predicted"] == 0, s["problems"]
    missed = missed_targets(s)
    known = KNOWN_SHORTFALLS.get(name, {})
    assert set(missed) == set(known), f"missed {missed} (known: {sorted(known)}); {s['problems'][:8]}"


@pytest.mark.parametrize("name", sorted(set(PRESETS) - {"uhd_4k"}))
def test_preset_meets_the_extraction_targets(
    name: str, rendered: Callable[[str], RenderedVideo], tmp_path: Path
) -> None:
    video = rendered(name)
    _, _, out = run_all(video.path, tmp_path / "out")
    assert_held(name, score(video.truth, [c.to_dict() for c in out.captions]))


def test_uhd_4k_meets_the_extraction_targets(
    rendered: Callable[[str], RenderedVideo], tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    video = rendered("uhd_4k")
    root = Path(benchmarks.__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.extraction", "--worker", str(video.path), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert_held("uhd_4k", score(video.truth, result["captions"]))
    # the peak memory is a benchmark figure (benchmarks.extraction prints it against its 4K target),
    # not asserted here: it moves with the machine's load (1.2 GB on a quiet machine, 1.9 GB in a
    # full test run beside other work), as the OCR threads fall behind the decoder
    record_property("maxrss_mb", result["maxrss_mb"])
