"""What running a video's steps in the run's one process saves (issue 14): ``video_job`` (the four
steps of one upload, auto-approved) on the same video, once with the repository's executor
(``in_process_executor``) and once with Dagster's default ``multiprocess_executor`` (a process
started for every step, which imports the code location again), through ``dg.execute_job`` on a
Postgres-backed instance, as the daemon's run worker executes a run.

    python -m benchmarks.executor [--video demo|60s] [--repeats 1]

``demo`` is the 20 s demo video of ``caption-assets dev --demo``; ``60s`` the 60 s 720p video of
``benchmarks.extraction``'s end-to-end figure. Each executor gets a fresh upload of the same file
(nothing cached between runs). Printed: the run's wall time (RUN_START to RUN_SUCCESS in the event
log), each step's duration, and the saving, also as a ratio to decoding the video once (a
yardstick of the machine at that moment). The machine is shared: compare the two columns of one
run, not runs of different days. Figures, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg

MULTIPROCESS_JOB = "video_job_multiprocess"


def definitions() -> dg.Definitions:
    """The repository's Definitions plus ``video_job`` on the multiprocess executor."""
    from caption_assets.defs.definitions import build_definitions
    from caption_assets.defs.jobs import video_job

    multiprocess = dg.define_asset_job(
        MULTIPROCESS_JOB,
        selection=video_job.selection,
        partitions_def=video_job.partitions_def,
        executor_def=dg.multiprocess_executor,
    )
    return dg.Definitions.merge(build_definitions(), dg.Definitions(jobs=[multiprocess]))


def in_process_job() -> dg.JobDefinition:
    return definitions().resolve_job_def("video_job")


def multiprocess_job() -> dg.JobDefinition:
    return definitions().resolve_job_def(MULTIPROCESS_JOB)


def _run(instance: dg.DagsterInstance, job_fn, video_id: str) -> dict:
    from caption_assets.defs.runs import PARTITION_TAG

    result = dg.execute_job(dg.reconstructable(job_fn), instance=instance, tags={PARTITION_TAG: video_id})
    if not result.success:
        raise RuntimeError(f"{job_fn.__name__} failed on video {video_id}")
    logs = instance.all_logs(result.run_id)
    start = next(
        e.timestamp
        for e in logs
        if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_START
    )
    end = next(
        e.timestamp
        for e in logs
        if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_SUCCESS
    )
    steps = {
        e.dagster_event.step_key: e.dagster_event.event_specific_data.duration_ms / 1000
        for e in logs
        if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"
    }
    return {"wall": end - start, "steps": steps}


def _video(kind: str, work: Path) -> Path:
    path = work / f"{kind}.mp4"
    if kind == "demo":
        from caption_assets.app.demo import render_demo

        render_demo(path)
    else:
        from benchmarks.extraction import _e2e_spec
        from caption_synthetic import render_video

        render_video(_e2e_spec(1280, 720), path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", choices=("demo", "60s"), default="demo")
    parser.add_argument("--repeats", type=int, default=1, help="runs per executor (the median is printed)")
    args = parser.parse_args(argv)

    from benchmarks.extraction import _decode_seconds
    from benchmarks.orchestration import _Server, new_catalog
    from caption_assets.app.platform import DAGSTER_PG_URL_ENV, upload_video
    from caption_assets.core.catalog.embedded import ensure_embedded, stop_embedded
    from caption_assets.core.store.local import LocalStore
    from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
    from caption_assets_tests.fixtures.daemon import daemon_setup

    work = Path(tempfile.mkdtemp(prefix="caption-assets-executor-"))
    saved_env = dict(os.environ)
    try:
        server = _Server(ensure_embedded(work / "pg").catalog_url)
        catalog_url, catalog = new_catalog(server, f"executor_{int(time.time())}")
        setup = daemon_setup(server, catalog_url, work)
        # the run's step processes (multiprocess) read the same settings from the environment
        os.environ.update(
            {k: v for k, v in setup.env.items() if k.startswith(("CAPTION_ASSETS_", "DAGSTER"))}
        )
        os.environ[DAGSTER_PG_URL_ENV] = setup.dagster_url
        store = LocalStore((setup.data_dir / "artifacts").resolve(), tenant_exists=catalog.tenant_exists)
        video = _video(args.video, work)
        decode = _decode_seconds(video)
        load = os.getloadavg()[0]
        figures: dict[str, list[dict]] = {"in-process": [], "multiprocess": []}
        with dg.DagsterInstance.from_config(str(setup.home)) as instance:
            for _ in range(args.repeats):
                for name, job_fn in (("multiprocess", multiprocess_job), ("in-process", in_process_job)):
                    video_id = upload_video(catalog, store, video, "executor-bench", tier="premium")
                    instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, [video_id])
                    figures[name].append(_run(instance, job_fn, video_id))
        _print(args.video, figures, decode, load, os.getloadavg()[0])
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        stop_embedded(work / "pg")
        shutil.rmtree(work, ignore_errors=True)


def _print(
    kind: str, figures: dict[str, list[dict]], decode: float, load_before: float, load_after: float
) -> None:
    wall = {name: statistics.median(r["wall"] for r in runs) for name, runs in figures.items()}
    steps = sorted({s for runs in figures.values() for r in runs for s in r["steps"]})
    print(
        f"video_job on the {kind} video, {len(figures['in-process'])} run(s) per executor; decode {decode:.2f} s"
    )
    print(f"{'executor':<14}{'run wall s':>11}{'/decode':>9}" + "".join(f"{s:>16}" for s in steps))
    for name, runs in figures.items():
        per_step = [statistics.median(r["steps"].get(s, float("nan")) for r in runs) for s in steps]
        print(
            f"{name:<14}{wall[name]:>11.1f}{wall[name] / decode:>8.1f}x"
            + "".join(f"{v:>16.1f}" for v in per_step)
        )
    saved = wall["multiprocess"] - wall["in-process"]
    print(
        f"saved per video: {saved:.1f} s ({saved / wall['multiprocess']:.0%} of the multiprocess run, "
        f"{saved / decode:.1f}x the decode time); load average {load_before:.1f} before, {load_after:.1f} after"
    )


if __name__ == "__main__":
    main()
