"""Speed and scale of the whole platform (issue 18): 60 s videos end to end at three resolutions, the
cost growth curve of longer videos, and videos per hour through the daemon's queue.

    python -m benchmarks.scale [--minutes 1,10] [--resolutions 720,1080,2160] [--slots 1,2,3,4]
                               [--backlog 8] [--skip-throughput] [--json FILE]

What it measures, and how:

1. End to end: ``caption-assets process`` on a generated 60 s video (``benchmarks.extraction``'s
   ``_e2e_spec``: noise background, 22 cues, every fifth on two lines) at 720p30, 1080p30 and
   2160p30, each a cold process with the embedded defaults, run once. All commands share one
   ``CAPTION_ASSETS_DATA_DIR`` in a temporary directory that a first command on a 5 s video has set
   up (creating the local database happens once per data directory; its time is printed apart).
   Each command is its own child, reaped with ``os.wait4``: its wall time, CPU seconds (user +
   system, it and the children it waited for) and peak RSS (the largest single process of that
   tree, as ``/usr/bin/time`` reports it) are its own. The embedded Postgres server detaches from
   the command, so its CPU and memory are not in these figures.
2. Cost growth: the 720p clip concatenated N times (FFmpeg's concat demuxer, stream copy; the
   timestamps run on) with the ground truth shifted by k x 60 s and k x 1800 frames, so the
   captions are scored too. The 1-minute row is the 720p run of part 1.
3. Throughput (unless ``--skip-throughput``): a backlog of ``--backlog`` uploads of the 60 s 720p
   clip spread over 4 tenants, through a real ``dagster-daemon`` on a throwaway embedded Postgres
   (``benchmarks.orchestration``'s setup: a catalog database from the ``caption_assets`` template,
   the test fixtures' ``daemon_setup`` and ``running_daemon``). The slot count is the queued run
   coordinator's ``max_concurrent_runs``, read from dagster.yaml: each slot count gets its own
   DAGSTER_HOME whose dagster.yaml is the repository's with that one value changed (the
   per-tenant cap of 2 stays), its own catalog and Dagster databases and a fresh daemon. The clock
   starts at the first upload, 20 s after the daemon starts, and stops at the end of the last run;
   every video must have settled (captions done, in review, or an error, as the e2e tests read it).
   The catalog can say a video is done a moment before its run's record ends: a run still
   finishing then is missing from the run count and the span ends at the last run that had ended.
   Per video, its runs' own time (the layout run and the run of the rest, each from its start to
   its end in the run records, added up; median over the videos) is printed beside the 60 s 720p
   clip's ``process`` time from part 1, for the fewest slots measured (the runs then share the
   machine least); the waits before and between its runs (sensor ticks, the queue) are apart.

Every time is printed as a multiple of real time (seconds of work per second of video) and as a
ratio to a yardstick measured in the same run: the wall time of decoding the same video once with
PyAV (``thread_type="AUTO"``; for throughput, the 60 s 720p clip), so a slower or busier machine
shows in the yardstick too. The targets are those of issue 18; they are printed beside the
figures, never asserted. The load average is printed at the start and at the end.

Assumptions: the machine's other work stays about the same during the run (it rarely does on a
shared host: read the ratios); one run per video (a shared host drifts by 10-15 % from minute to
minute, see ``benchmarks.extraction`` for medians of three); CPU seconds per minute of video are
compared with those of the 60 s video, which carries the fixed cost (imports, Postgres start,
Dagster run) once.

How long it takes here (2 shared cores, load average 3-13 from another test run): setting up the
data directory and rendering the clips ~3 min (the 4K clip most of it), part 1 ~3.5 min (4K ~2 of
them), part 2 (1 and 10 min) ~3.5 min, part 3 ~6-9 min per slot count for a backlog of 8
(uploads to the end of the last run, plus ~50 s of daemon start and stop); the run with
``--slots 1,2,3``, 31 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.extraction import _decode_seconds, _e2e_spec, _first_spec, score

WIDTHS = {480: 854, 720: 1280, 1080: 1920, 1440: 2560, 2160: 3840}
# issue 18: x real time of the whole command on a 60 s video; peak RSS of the 4K one
TARGET_REAL_TIME = {720: 0.10, 1080: 0.15, 2160: 0.5}
TARGET_RSS_MB = 1536
TARGET_DAEMON_EXTRA = 2.0  # s: a run under the daemon, start to end, beyond what `process` takes
TARGET_RSS_GROWTH = 0.10  # peak RSS of a longer video within +10 % of the 60 s figure
TENANTS = 4
SETTLED = {"done", "review", "error"}


@dataclass
class Measured:
    """One command: its own wall time, CPU seconds and peak RSS."""

    wall: float
    cpu: float
    rss_mb: float
    returncode: int
    stderr: str


def measure(argv: list[str], env: dict[str, str]) -> Measured:
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        text = err.read().decode(errors="replace")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, text)


@dataclass
class Row:
    label: str
    duration: float
    run: Measured
    decode: float
    score: dict
    load: float
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["run"].pop("stderr")
        out["score"] = {k: v for k, v in self.score.items() if k != "problems"}
        out["problems"] = self.score["problems"][:20]
        return out


class Processor:
    """``caption-assets process`` in a cold process on one data directory of its own."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.env = {**os.environ, "CAPTION_ASSETS_DATA_DIR": str(work / "data")}
        self.env.pop("DAGSTER_HOME", None)
        cli = Path(sys.executable).with_name("caption-assets")
        self.command = [str(cli)] if cli.exists() else [sys.executable, "-m", "caption_assets.app.cli"]

    def setup(self) -> Measured:
        from caption_synthetic import render_video

        first = self.work / "first.mp4"
        render_video(_first_spec(), first)
        return self._process(first, self.work / "first_out")

    def _process(self, video: Path, out: Path) -> Measured:
        m = measure([*self.command, "process", str(video), "--out", str(out)], self.env)
        if m.returncode != 0:
            raise RuntimeError(f"caption-assets process {video.name} failed:\n{m.stderr[-3000:]}")
        return m

    def row(self, label: str, video: Path, truth) -> Row:
        from caption_assets.core.processing.captions_db import read_captions

        decode = _decode_seconds(video)
        load = os.getloadavg()[0]
        out = video.with_name(video.stem + "_out")
        m = self._process(video, out)
        captions = [c.to_dict() for c in read_captions(out / "captions.db")]
        return Row(label, truth.duration_seconds, m, decode, score(truth, captions), load)


def render_clip(height: int, work: Path):
    from caption_synthetic import render_video

    video = work / f"clip_{height}p.mp4"
    return video, render_video(_e2e_spec(WIDTHS[height], height), video)


def concatenated(clip: Path, truth, times: int, work: Path):
    """The clip ``times`` times in a row (stream copy) and the ground truth shifted to match."""
    listing = work / f"concat_{times}.txt"
    listing.write_text("".join(f"file '{clip.resolve()}'\n" for _ in range(times)))
    video = work / f"clip_{times}min.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
            str(video),
        ],
        check=True,
    )
    captions = [
        dataclasses.replace(
            c,
            first_frame=c.first_frame + k * truth.frame_count,
            last_frame=c.last_frame + k * truth.frame_count,
            start_seconds=c.start_seconds + k * truth.duration_seconds,
            end_seconds=c.end_seconds + k * truth.duration_seconds,
        )
        for k in range(times)
        for c in truth.captions
    ]
    shifted = dataclasses.replace(
        truth,
        frame_count=truth.frame_count * times,
        duration_seconds=truth.duration_seconds * times,
        frame_times=[],
        captions=captions,
    )
    return video, shifted


# ---------------------------------------------------------------------------------------------
# throughput through the daemon


def _dagster_yaml(slots: int) -> str:
    import yaml  # type: ignore[import-untyped]

    from caption_assets.core.config import repo_root

    config = yaml.safe_load((repo_root() / "dagster.yaml").read_text())
    config["run_coordinator"]["config"]["max_concurrent_runs"] = slots
    return yaml.safe_dump(config, sort_keys=False)


def _settled(video) -> bool:
    return video.layout_status == "error" or (
        video.text_status in SETTLED and video.boundaries_status in SETTLED
    )


def throughput(slots: int, backlog: int, clip: Path, server, work: Path) -> dict:
    import dagster as dg

    from benchmarks.orchestration import FINISHED, new_catalog
    from caption_assets.app.platform import DAGSTER_PG_URL_ENV, upload_video
    from caption_assets.core.policy.priority import VIDEO_TAG
    from caption_assets.core.store.local import LocalStore
    from caption_assets_tests.fixtures.daemon import daemon_setup, running_daemon

    work.mkdir(parents=True)
    catalog_url, catalog = new_catalog(server, f"scale_{slots}_{int(time.time())}")
    setup = daemon_setup(server, catalog_url, work)
    (setup.home / "dagster.yaml").write_text(_dagster_yaml(slots))
    store = LocalStore((setup.data_dir / "artifacts").resolve(), tenant_exists=catalog.tenant_exists)
    load = os.getloadavg()[0]
    timeout = 300 + 240 * backlog / slots
    with running_daemon(setup.env, work / "daemon.log") as daemon:
        time.sleep(20)  # the daemon and its code server are up before the clock starts
        t0 = time.time()
        videos = [
            upload_video(catalog, store, clip, f"scale-{i % TENANTS}", tier="free") for i in range(backlog)
        ]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and daemon.poll() is None:
            if all(_settled(catalog.get_video(v)) for v in videos):
                break
            time.sleep(2)
        observed = time.time()
        rows = [r for r in map(catalog.get_video, videos) if r is not None]
        os.environ[DAGSTER_PG_URL_ENV] = setup.dagster_url  # read by the instance's dagster.yaml
        instance = dg.DagsterInstance.from_config(str(setup.home))
        records = instance.get_run_records(dg.RunsFilter(statuses=FINISHED))
        instance.dispose()
    catalog.close()
    ends = [r.end_time for r in records if r.end_time]
    # a video's runs (layout, then the rest once its layout is approved): their own time, start to
    # end each, and the wait between them (the sensor tick that starts the second)
    per_video: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        if r.start_time and r.end_time and r.dagster_run.status == dg.DagsterRunStatus.SUCCESS:
            video = r.dagster_run.tags.get(VIDEO_TAG, "")
            per_video.setdefault(video, []).append((r.start_time, r.end_time))
    own = [sum(end - start for start, end in runs) for runs in per_video.values()]
    between = [
        max(end for _, end in runs) - min(start for start, _ in runs) - mine
        for runs, mine in zip(per_video.values(), own)
    ]
    settled = [r for r in rows if _settled(r)]
    span = (max(ends) if ends and len(settled) == backlog else observed) - t0
    return {
        "slots": slots,
        "backlog": backlog,
        "settled": len(settled),
        "done": sum(r.text_status == "done" for r in rows),
        "errors": sum(
            r.layout_status == "error" or "error" in (r.text_status, r.boundaries_status) for r in rows
        ),
        "runs": len(records),
        "failed_runs": sum(r.dagster_run.status == dg.DagsterRunStatus.FAILURE for r in records),
        "span": span,
        "run_seconds": statistics.median(own) if own else None,
        "between_runs_seconds": statistics.median(between) if between else None,
        "timed_out": len(settled) < backlog,
        "load": load,
    }


# ---------------------------------------------------------------------------------------------
# printing


def _text(s: dict) -> str:
    def pct(num: int, den: int) -> str:
        return f"{100 * num / den:5.1f}" if den else "  n/a"

    return f"{pct(s['found'], s['expected'])} {pct(s['found'], s['predicted'])} {pct(s['exact'], s['found'])}"


def _problems(s: dict) -> None:
    """The scorer's problems, each once with its count (a concatenated clip repeats them)."""
    counts: dict[str, int] = {}
    for problem in s["problems"]:
        counts[problem] = counts.get(problem, 0) + 1
    for problem, n in list(counts.items())[:4]:
        print(f"    {problem}" + (f" (x{n})" if n > 1 else ""))


def _head(title: str, header: str) -> str:
    """Print a table's title, header and rule; return the rule that closes it."""
    rule = "-" * len(header)
    print(f"\n{title}\n{header}\n{rule}")
    return rule


def _e2e_table(rows: dict[int, Row], first: Measured) -> None:
    header = (
        f"{'60 s video':11} {'wall s':>7} {'CPU s':>7} {'RSS MB':>7} {'decode':>7} {'wall/dec':>8} "
        f"{'CPU/dec':>7} {'x real':>7} {'target':>13} {'RSS tgt':>7} {'load':>5} | {'rec':>5} {'prec':>5} {'text':>5}"
    )
    rule = _head(
        "1. end to end: caption-assets process (cold process, embedded defaults), one run each", header
    )
    for height, r in rows.items():
        x = r.run.wall / r.duration
        target = TARGET_REAL_TIME.get(height)
        mark = "" if target is None else f"<={target:.2f} {'met' if x <= target else 'MISSED'}"
        rss = f"{'met' if r.run.rss_mb <= TARGET_RSS_MB else 'MISSED'}" if height == 2160 else "-"
        print(
            f"{r.label:11} {r.run.wall:7.1f} {r.run.cpu:7.1f} {r.run.rss_mb:7.0f} {r.decode:7.2f} "
            f"{r.run.wall / r.decode:7.1f}x {r.run.cpu / r.decode:6.1f}x {x:6.3f}x {mark:>13} {rss:>7} "
            f"{r.load:5.1f} | {_text(r.score)}"
        )
        _problems(r.score)
    print(rule)
    print(
        f"decode: seconds to decode the same video once (PyAV, frame threads); x real: wall / duration; "
        f"targets (issue 18): 720p <= 0.10x, 1080p <= 0.15x, 4K <= 0.5x and peak RSS <= {TARGET_RSS_MB} MB; "
        f"load: 1-min load average before the command; rec/prec/text: caption recall, precision, exact "
        f"text of found (%); the first command on the fresh data directory (5 s video, creating the "
        f"database) took {first.wall:.1f} s wall, {first.cpu:.1f} CPU-s"
    )


def _growth_table(rows: dict[int, Row]) -> None:
    base = rows.get(1)
    header = (
        f"{'720p30':8} {'wall s':>7} {'CPU s':>7} {'CPU/min':>7} {'wall/min':>8} {'RSS MB':>7} "
        f"{'RSS/1min':>8} {'decode':>7} {'wall/dec':>8} {'x real':>7} {'load':>5} | {'rec':>5} {'prec':>5} "
        f"{'text':>5} | targets"
    )
    rule = _head("2. cost growth: the 60 s 720p clip concatenated, ground truth shifted", header)
    for minutes, r in rows.items():
        per_min = r.run.cpu / (r.duration / 60)
        rss_ratio = r.run.rss_mb / base.run.rss_mb if base else float("nan")
        verdict = ""
        if base and minutes != 1:
            base_cpu = base.run.cpu / (base.duration / 60)
            verdict = (
                f"CPU/min {'met' if per_min <= base_cpu else 'MISSED'}, "
                f"RSS {'met' if rss_ratio <= 1 + TARGET_RSS_GROWTH else 'MISSED'}"
            )
        print(
            f"{r.label:8} {r.run.wall:7.1f} {r.run.cpu:7.1f} {per_min:7.1f} {r.run.wall / (r.duration / 60):8.1f} "
            f"{r.run.rss_mb:7.0f} {rss_ratio:7.2f}x {r.decode:7.2f} {r.run.wall / r.decode:7.1f}x "
            f"{r.run.wall / r.duration:6.3f}x {r.load:5.1f} | {_text(r.score)} | {verdict}"
        )
        _problems(r.score)
    print(rule)
    print(
        "CPU/min, wall/min: seconds per minute of video; RSS/1min: peak RSS relative to the 60 s video's; "
        "targets (issue 18): CPU-s per minute no higher than at 60 s, peak RSS within +10 %"
    )


def _throughput_table(
    results: list[dict], decode: float, clip_seconds: float, process: float | None = None
) -> None:
    header = (
        f"{'slots':>5} {'videos':>6} {'settled':>7} {'done':>4} {'errors':>6} {'runs':>4} {'failed':>6} "
        f"{'span s':>7} {'videos/h':>8} {'s/video':>7} {'/decode':>7} {'x real':>7} {'run s':>6} {'load':>5}"
    )
    rule = _head(
        "3. throughput: one-minute 720p uploads over 4 tenants, dagster-daemon, queued coordinator", header
    )
    for t in results:
        per_video = t["span"] / t["backlog"]
        run = f"{t['run_seconds']:6.1f}" if t.get("run_seconds") else f"{'-':>6}"
        print(
            f"{t['slots']:5} {t['backlog']:6} {t['settled']:7} {t['done']:4} {t['errors']:6} {t['runs']:4} "
            f"{t['failed_runs']:6} {t['span']:7.0f} {3600 / per_video:8.1f} {per_video:7.1f} "
            f"{per_video / decode:6.1f}x {per_video / clip_seconds:6.3f}x {run} {t['load']:5.1f}"
            + ("  (timed out: span to the last look)" if t["timed_out"] else "")
        )
    print(rule)
    print(
        "span: first upload to the end of the last run; s/video: span / videos; /decode: s/video as a "
        f"ratio to decoding the 60 s 720p clip once ({decode:.2f} s); x real: s/video / the clip's "
        f"{clip_seconds:.0f} s; run s: a video's runs (layout, then the rest), each from its start to its "
        "end, added up (median over the videos); per-tenant cap 2 (dagster.yaml)"
    )
    alone = min((t for t in results if t.get("run_seconds")), key=lambda t: t["slots"], default=None)
    if alone and process:
        extra = alone["run_seconds"] - process
        print(
            f"under the daemon ({alone['slots']} slot(s)): a video's runs {alone['run_seconds']:.1f} s, "
            f"`process` on the same clip {process:.1f} s: {extra:+.1f} s "
            f"({'met' if extra <= TARGET_DAEMON_EXTRA else 'MISSED'}: at most +{TARGET_DAEMON_EXTRA:.0f} s); "
            f"apart: {alone['between_runs_seconds']:.1f} s between its two runs (median; the sensor tick "
            "that starts the second), and the wait for the first run's tick and slot"
        )


# ---------------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=_ints, default=[1, 10], help="growth curve lengths (default 1,10)")
    parser.add_argument("--resolutions", type=_ints, default=[720, 1080, 2160], help="heights, 60 s each")
    parser.add_argument("--slots", type=_ints, default=[1, 2, 3, 4], help="max_concurrent_runs values")
    parser.add_argument("--backlog", type=int, default=8, help="one-minute uploads per slot count")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args(argv)
    unknown = [h for h in args.resolutions if h not in WIDTHS]
    if unknown:
        parser.error(f"unknown resolution(s) {unknown}; one of {sorted(WIDTHS)}")

    started = time.perf_counter()
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="scale_bench_")
    work = args.keep or Path(tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    print(f"speed and scale benchmark, {os.cpu_count()} CPUs, load average at start {_load()}")
    timings: dict[str, float] = {}
    report: dict = {"load_start": os.getloadavg()}
    try:
        processor = Processor(work)
        t = time.perf_counter()
        first = processor.setup()
        clips = {}
        e2e: dict[int, Row] = {}
        needs_720 = bool(args.minutes) or not args.skip_throughput
        for height in sorted(set(args.resolutions) | ({720} if needs_720 else set())):
            clips[height] = render_clip(height, work)
        timings["setup and rendering"] = time.perf_counter() - t
        t = time.perf_counter()
        for height in args.resolutions:
            video, truth = clips[height]
            e2e[height] = processor.row(f"{height}p30", video, truth)
            sys.stdout.flush()
        timings["end to end"] = time.perf_counter() - t
        _e2e_table(e2e, first)
        sys.stdout.flush()

        t = time.perf_counter()
        growth: dict[int, Row] = {}
        for minutes in args.minutes:
            clip, truth = clips[720]
            if minutes == 1:
                base = e2e.get(720)
                growth[1] = (
                    dataclasses.replace(base, label="1 min") if base else processor.row("1 min", clip, truth)
                )
                continue
            video, shifted = concatenated(clip, truth, minutes, work)
            growth[minutes] = processor.row(f"{minutes} min", video, shifted)
            video.unlink()
            sys.stdout.flush()
        timings["growth"] = time.perf_counter() - t
        if growth:
            _growth_table(growth)
        report.update(first=dataclasses.asdict(first) | {"stderr": None})
        report.update(e2e={h: r.as_json() for h, r in e2e.items()})
        report.update(growth={m: r.as_json() for m, r in growth.items()})

        if not args.skip_throughput:
            t = time.perf_counter()
            clip, truth = clips[720]
            measured = e2e.get(720) or growth.get(1)
            decode = measured.decode if measured else _decode_seconds(clip)
            report["throughput"] = run_throughput(args.slots, args.backlog, clip, work / "queue")
            timings["throughput"] = time.perf_counter() - t
            _throughput_table(
                report["throughput"], decode, truth.duration_seconds, measured.run.wall if measured else None
            )
    finally:
        if tmp is not None:
            tmp.cleanup()
    report["load_end"] = os.getloadavg()
    report["timings"] = timings
    print(
        "\nwall time of the parts: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
        + f"; benchmark {time.perf_counter() - started:.0f} s; load average at end {_load()}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


def run_throughput(slots: list[int], backlog: int, clip: Path, work: Path) -> list[dict]:
    from benchmarks.orchestration import _Server
    from caption_assets.core.catalog.embedded import ensure_embedded, stop_embedded

    work.mkdir(parents=True, exist_ok=True)
    try:
        server = _Server(ensure_embedded(work / "pg").catalog_url)
        out = []
        for n in slots:
            try:
                out.append(throughput(n, backlog, clip, server, work / f"slots_{n}"))
            except Exception as exc:  # one slot count failing keeps the others' figures
                print(f"  {n} slot(s): failed: {type(exc).__name__}: {exc}", flush=True)
                continue
            print(
                f"  {n} slot(s): {out[-1]['settled']}/{backlog} settled in {out[-1]['span']:.0f} s",
                flush=True,
            )
        return out
    finally:
        stop_embedded(work / "pg")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


if __name__ == "__main__":
    raise SystemExit(main())
