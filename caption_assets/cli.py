"""The ``caption-assets`` command (DESIGN.md section 9)."""

from __future__ import annotations

import gc
import gzip
import json
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from caption_assets.errors import CaptionAssetsError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Caption data from videos with burned-in captions: run the platform locally (dev), "
    "hand it a video as the web app does (upload), or process one video to SRT/VTT (process).",
)
err = Console(stderr=True, highlight=False, soft_wrap=True)

TierOption = Annotated[str, typer.Option("--tier", help="free, premium or enterprise")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


def _platform() -> tuple[Any, Any, Any]:
    """Settings, catalog and store as the code location configures them."""
    from caption_assets.config import get_settings
    from caption_assets.definitions import build_resources
    from caption_assets.platform import prepare_environment

    settings = get_settings()
    prepare_environment(settings)
    resources = build_resources(settings)
    catalog = resources["catalog"].process_config_and_initialize().get()
    store = resources["store"].process_config_and_initialize().get(
        tenant_exists=catalog.tenant_exists
    )
    return settings, catalog, store


def _check_tier(tier: str) -> None:
    if tier not in ("free", "premium", "enterprise"):
        raise _fail(f"unknown tier {tier!r}: use free, premium or enterprise")


@app.command()
def upload(
    video: Annotated[Path, typer.Argument(help="the video file")],
    tenant: Annotated[str, typer.Option("--tenant", help="tenant name")],
    tier: TierOption = "free",
) -> None:
    """Store VIDEO under the tenant's prefix and insert its catalog row, as the web app does.
    A running `caption-assets dev` picks it up. Prints the new video id."""
    from caption_assets.platform import upload_video

    _check_tier(tier)
    if not video.is_file():
        raise _fail(f"no such file: {video}")
    try:
        _, catalog, store = _platform()
        video_id = upload_video(catalog, store, video, tenant, tier=tier)  # type: ignore[arg-type]
    except CaptionAssetsError as exc:
        raise _fail(str(exc)) from None
    typer.echo(video_id)


class _StepPrinter:
    """Prints each step of a run as it starts and ends, read from the instance's event log."""

    def __init__(self, instance: Any, run_id: str) -> None:
        self.instance, self.run_id = instance, run_id
        self.stop = threading.Event()
        self.seen: set[str] = set()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _StepPrinter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self._poll()

    def _loop(self) -> None:
        while not self.stop.wait(0.5):
            try:
                self._poll()
            except Exception:  # progress output must never break the run
                pass

    def _poll(self) -> None:
        from dagster import DagsterEventType

        kinds = {
            DagsterEventType.STEP_START: "started",
            DagsterEventType.STEP_SUCCESS: "done",
            DagsterEventType.STEP_FAILURE: "failed",
            DagsterEventType.STEP_UP_FOR_RETRY: "will retry",
        }
        for entry in self.instance.all_logs(self.run_id, of_type=set(kinds)):
            event = entry.dagster_event
            marker = f"{event.step_key}:{event.event_type_value}:{entry.timestamp}"
            if marker in self.seen:
                continue
            self.seen.add(marker)
            elapsed = ""
            if event.event_type == DagsterEventType.STEP_SUCCESS:
                ms = getattr(event.event_specific_data, "duration_ms", None)
                elapsed = f" in {ms / 1000:.1f} s" if ms else ""
            err.print(f"  {event.step_key}: {kinds[event.event_type]}{elapsed}")


def _run_job(defs: Any, instance: Any, job_name: str, video_id: str, tags: dict[str, str]) -> bool:
    job = defs.resolve_job_def(job_name)
    run_id = str(uuid.uuid4())
    err.print(f"{job_name} (run {run_id})")
    with _StepPrinter(instance, run_id):
        result = job.execute_in_process(
            instance=instance,
            partition_key=video_id,
            raise_on_error=False,
            run_id=run_id,
            tags=tags,
            # the step printer reports progress; Dagster's DEBUG console log would drown it
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    return bool(result.success)


def _error_reason(catalog: Any, video_id: str) -> str:
    video = catalog.get_video(video_id)
    for column in ("layout", "boundaries"):
        details = getattr(video, f"{column}_error_details", None) if video else None
        if details and getattr(video, f"{column}_status", None) == "error":
            return str(details.get("message") or details)
    return "the run failed; see the Dagster UI for its logs"


@app.command()
def process(
    video: Annotated[Path, typer.Argument(help="the video file")],
    out: Annotated[Path, typer.Option("--out", help="directory for captions.db, .srt, .vtt")],
    tenant: Annotated[str, typer.Option("--tenant", help="tenant name")] = "local",
    output_format: Annotated[
        str, typer.Option("--format", help="files (default) or json: also print the cues")
    ] = "files",
) -> None:
    """Process one local video through Dagster (the runs appear in the UI): video_job, or for a
    tenant without auto-approve layout_job, approval, captions_job. Copies captions.db,
    captions.srt and captions.vtt to OUT."""
    from datetime import datetime, timezone

    from dagster import DagsterInstance

    from caption_assets.admission import on_own_machine
    from caption_assets.definitions import build_definitions
    from caption_assets.keys import VideoKeys
    from caption_assets.partitions import VIDEOS_PARTITION_NAME
    from caption_assets.platform import upload_video
    from caption_assets.priority import VIDEO_TAG, priority_for, priority_tags
    from caption_assets.processing.video import probe
    from caption_assets.processing.captions_db import read_captions

    if output_format not in ("files", "json"):
        raise _fail("--format must be files or json")
    if not video.is_file():
        raise _fail(f"no such file: {video}")
    started = time.perf_counter()
    try:
        probe(video)  # a clear one-line reason before anything is stored
        settings, catalog, store = _platform()
        video_id = upload_video(catalog, store, video, tenant, layout_status="processing")
    except CaptionAssetsError as exc:
        raise _fail(str(exc)) from None
    row = catalog.get_video(video_id)
    tenant_row = catalog.get_tenant(row.tenant_id)
    err.print(f"video {video_id} (tenant {tenant_row.name})")
    instance = DagsterInstance.get()
    instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, [video_id])
    defs = build_definitions(settings)
    priority = priority_for(tenant_row.tier, row.uploaded_at, datetime.now(timezone.utc))
    tags = {**priority_tags(tenant_row.id, tenant_row.tier, priority), VIDEO_TAG: video_id}

    with on_own_machine():
        if tenant_row.auto_approve:
            # layout_db approves its own layout: one run does it all (one run start saved)
            if not _run_job(defs, instance, "video_job", video_id, tags):
                raise _fail(_error_reason(catalog, video_id))
        else:
            if not _run_job(defs, instance, "layout_job", video_id, tags):
                raise _fail(_error_reason(catalog, video_id))
            if catalog.get_video(video_id).layout_status == "annotate":
                # whoever runs `process` is the person approving this layout
                catalog.approve_layout(video_id)
            if not _run_job(defs, instance, "captions_job", video_id, tags):
                raise _fail(_error_reason(catalog, video_id))

    keys = VideoKeys(tenant_row.id, video_id)
    out.mkdir(parents=True, exist_ok=True)
    gz = store.get_file(keys.captions_db(), out / "captions.db.gz")
    with gzip.open(gz, "rb") as src, (out / "captions.db").open("wb") as dst:
        shutil.copyfileobj(src, dst)
    gz.unlink()
    store.get_file(keys.captions_srt(), out / "captions.srt")
    store.get_file(keys.captions_vtt(), out / "captions.vtt")
    captions = read_captions(out / "captions.db")
    err.print(
        f"{len(captions)} captions -> {out} in {time.perf_counter() - started:.1f} s "
        f"(video {video_id})"
    )
    if output_format == "json":
        json.dump([c.to_dict() for c in captions], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    # the interpreter's final garbage collection walks every object Dagster and the OCR engines
    # made (~0.5 s); what must be released (database server, files) is closed by exit hooks and
    # context managers, not by that collection
    gc.freeze()


@app.command()
def dev(
    port: Annotated[int, typer.Option("--port", help="port of the Dagster UI")] = 3000,
    demo: Annotated[bool, typer.Option("--demo", help="also upload a generated demo video")] = False,
) -> None:
    """Start the platform locally: embedded Postgres, migrations, and `dagster dev` on 127.0.0.1
    with the sensors on. Ctrl-C stops everything."""
    from caption_assets.devserver import run_dagster_dev

    try:
        settings, catalog, store = _platform()
    except CaptionAssetsError as exc:
        raise _fail(str(exc)) from None
    err.print(f"data in {settings.resolved_data_dir()}; UI at http://127.0.0.1:{port}")

    def after_start() -> None:
        if demo:
            threading.Thread(
                target=_demo, args=(settings, catalog, store), daemon=True
            ).start()

    raise typer.Exit(code=run_dagster_dev(port, on_started=after_start))


def _demo(settings: Any, catalog: Any, store: Any) -> None:
    """Upload the demo video and report when the sensors have carried it through."""
    from caption_assets.platform import upload_video
    from caption_assets.synthetic import render_preset

    path = settings.resolved_data_dir() / "demo" / "demo.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        render_preset("demo", path)
    video_id = upload_video(catalog, store, path, "demo", tier="premium")
    err.print(f"demo video uploaded as {video_id}; the new_uploads sensor will pick it up")
    deadline = time.monotonic() + 1800
    last = None
    while time.monotonic() < deadline:
        time.sleep(2)
        v = catalog.get_video(video_id)
        state = (v.layout_status, v.boundaries_status, v.text_status)
        if state != last:
            err.print(f"demo {video_id}: layout={state[0]} boundaries={state[1]} text={state[2]}")
            last = state
        if "error" in state or state[2] in ("done", "review"):
            return


def main() -> None:  # pragma: no cover - console entry
    app()
