"""The ``caption-assets`` command (docs/architecture.md, configuration)."""

from __future__ import annotations

import atexit
import gc
import gzip
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from caption_assets.core.errors import CaptionAssetsError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Caption data from videos with burned-in captions: run the platform locally (dev), "
    "hand it a video as the web app does (upload), process one video to SRT/VTT (process), "
    "show a video's catalog status (status), or create the catalog schema in an external "
    "database (migrate).",
)
err = Console(stderr=True, highlight=False, soft_wrap=True)

TierOption = Annotated[str, typer.Option("--tier", help="free, premium or enterprise")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


def _platform() -> tuple[Any, Any, Any]:
    """Settings, catalog and store as the code location configures them."""
    from caption_assets.app.platform import prepare_environment
    from caption_assets.core.config import get_settings
    from caption_assets.defs.definitions import build_resources

    settings = get_settings()
    prepare_environment(settings)
    _check_schema(settings)
    resources = build_resources(settings)
    catalog = resources["catalog"].process_config_and_initialize().get()
    store = resources["store"].process_config_and_initialize().get(tenant_exists=catalog.tenant_exists)
    check = getattr(store, "check_writable", None)  # local directories only
    if check is not None:
        check()
    return settings, catalog, store


def _database_name(dsn: str) -> str:
    """Which database a DSN names, for a person to read: no user, no password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # an unparsable DSN fails later with psycopg's own message
        return "the catalog database"
    where = f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"
    return f"database {parts.get('dbname') or parts.get('user') or '?'} on {where}"


def _check_schema(settings: Any) -> None:
    """An external catalog database without the schema would fail several calls in with
    ``relation "captionacc.tenants" does not exist``: say how to create it instead. The embedded
    server migrates itself; Supabase's API is not checked here (its schema is applied on deploy)."""
    import psycopg

    from caption_assets.core.catalog.migrate import load_migrations, pending_migrations

    if settings.catalog != "postgres" or not settings.database_url:
        return
    try:
        pending = pending_migrations(settings.database_url)
    except psycopg.Error:  # not reachable: the catalog reports that in its own words
        return
    if not pending:
        return
    what = (
        "has no catalog schema yet"
        if len(pending) == len(load_migrations())
        else f"lacks the catalog migrations {', '.join(pending)}"
    )
    raise _fail(
        f"the {_database_name(settings.database_url)} (CAPTION_ASSETS_DATABASE_URL) {what}: "
        "run `caption-assets migrate` with the same environment, then this command again"
    )


def _check_tier(tier: str) -> None:
    from caption_assets.core.catalog.base import TIERS

    if tier not in TIERS:
        raise _fail(f"unknown tier {tier!r}: use {', '.join(TIERS[:-1])} or {TIERS[-1]}")


@app.command()
def upload(
    video: Annotated[Path, typer.Argument(help="the video file")],
    tenant: Annotated[str, typer.Option("--tenant", help="tenant name")],
    tier: TierOption = "free",
) -> None:
    """Store VIDEO under the tenant's prefix and insert its catalog row, as the web app does.
    A running `caption-assets dev` picks it up. Prints the new video id."""
    from caption_assets.app.platform import upload_video

    _check_tier(tier)
    if not video.is_file():
        raise _fail(f"no such file: {video}")
    try:
        _, catalog, store = _platform()
        video_id = upload_video(catalog, store, video, tenant, tier=tier)  # type: ignore[arg-type]
    except CaptionAssetsError as exc:
        raise _fail(str(exc)) from None
    typer.echo(video_id)


@app.command()
def status(video: Annotated[str, typer.Argument(help="the video id (a UUID)")]) -> None:
    """Print VIDEO's catalog status: its file, tenant, the layout/boundaries/text statuses and the
    error message, if any."""
    from caption_assets.core.keys import validate_uuid

    try:
        video_id = validate_uuid(video, "video id")
        _, catalog, _ = _platform()
        row = catalog.get_video(video_id)
        if row is None:
            raise _fail(f"video {video_id} is not in the catalog")
        tenant = catalog.get_tenant(row.tenant_id)
    except CaptionAssetsError as exc:
        raise _fail(str(exc)) from None
    for line in status_lines(row, tenant):
        typer.echo(line)


def status_lines(row: Any, tenant: Any) -> list[str]:
    """A video's catalog row in a few readable lines."""
    from datetime import UTC

    facts = [
        f"{row.duration_seconds:.1f} s" if row.duration_seconds else None,
        f"{row.width} x {row.height} px" if row.width and row.height else None,
        f"uploaded {row.uploaded_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
    ]
    lines = [
        f"video   {row.id}",
        f"file    {row.original_filename or '(no file name)'} ({', '.join(f for f in facts if f)})",
        f"tenant  {tenant.name} ({tenant.tier})" if tenant else f"tenant  {row.tenant_id} (not found)",
        f"status  {row.status_line()}",
    ]
    if row.deleted_at is not None:
        lines.append(f"deleted {row.deleted_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    lines += [f"error   {part}: {message}" for part, message in row.error_messages().items()]
    return lines


@app.command()
def migrate(
    supabase: Annotated[
        bool,
        typer.Option(
            "--supabase",
            help="the database is a Supabase project's: skip the local bootstrap (the roles and "
            "auth functions Supabase already has)",
        ),
    ] = False,
) -> None:
    """Apply the catalog migrations (deploy/supabase/migrations) that CAPTION_ASSETS_DATABASE_URL's
    database does not have yet, and print each one applied. Running it again applies nothing.
    The embedded database needs no command: it is migrated whenever it starts."""
    import psycopg

    from caption_assets.core.catalog.migrate import MigrationError, apply_migrations, load_migrations
    from caption_assets.core.config import get_settings

    dsn = get_settings().database_url
    if not dsn:
        raise _fail(
            "CAPTION_ASSETS_DATABASE_URL is not set: set it to the catalog database to migrate "
            "(the embedded one is migrated whenever dev, upload or process start it)"
        )
    target = _database_name(dsn)
    try:
        applied = apply_migrations(
            dsn, local_bootstrap=not supabase, on_applied=lambda v: typer.echo(f"applied {v}")
        )
    except (MigrationError, psycopg.Error) as exc:
        raise _fail(f"migrating the {target} stopped: {_one_line(exc)}") from None
    if applied:
        typer.echo(f"{target}: {len(applied)} migration{'s' if len(applied) > 1 else ''} applied")
    else:
        typer.echo(f"{target}: up to date ({len(load_migrations())} migrations applied earlier)")


# a step's progress as plain lines (stderr not a terminal): at most one per step this often, plus
# the step's last report before its end line
_PLAIN_PROGRESS_SECONDS = 10.0


class _StepPrinter:
    """Prints each step of a run as it starts and ends, and the steps' progress reports (their
    ``{step}: {done}/{total} {what}`` log lines, ``processing.progress``), read from the instance's
    event log every half second.

    On a terminal each running step has a rich progress bar with an ETA, removed at the step's
    end line. Elsewhere (a pipe, CI, the tests) rich would print nothing useful, so a step's
    reports become plain lines: its first, then at most one every ``_PLAIN_PROGRESS_SECONDS``,
    and its last one before the end line; a short step prints two."""

    def __init__(self, instance: Any, run_id: str, console: Console | None = None) -> None:
        self.instance, self.run_id = instance, run_id
        self.console = console or err
        self.stop = threading.Event()
        self.lock = threading.Lock()  # the final poll may meet a poll of the thread still running
        self.cursor: str | None = None
        self.bars: Any = None  # rich.progress.Progress, on a terminal
        self.tasks: dict[str, Any] = {}  # step -> its bar's task id
        self.printed_at: dict[str, float] = {}  # step -> when its last plain progress line went out
        self.pending: dict[str, str] = {}  # step -> its latest report not printed yet (plain lines)
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _StepPrinter:
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bars = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[what]}"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bars.start()
            # an interruption leaves through os._exit after running the exit hooks: the terminal
            # gets its cursor back
            atexit.register(self.bars.stop)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        try:
            self._poll()
        finally:
            if self.bars is not None:
                self.bars.stop()
                atexit.unregister(self.bars.stop)

    def _loop(self) -> None:
        while not self.stop.wait(0.5):
            try:
                self._poll()
            except Exception:  # progress output must never break the run
                pass

    def _poll(self) -> None:
        with self.lock:
            # one writer (the run's thread) adds the events in order, so a cursor misses none
            records = self.instance.get_records_for_run(self.run_id, cursor=self.cursor)
            self.cursor = records.cursor
            for record in records.records:
                entry = record.event_log_entry
                if entry.dagster_event is None:
                    self._progress(entry.user_message)
                else:
                    self._step(entry.dagster_event)

    def _step(self, event: Any) -> None:
        from dagster import DagsterEventType

        kinds = {
            DagsterEventType.STEP_START: "started",
            DagsterEventType.STEP_SUCCESS: "done",
            DagsterEventType.STEP_FAILURE: "failed",
            DagsterEventType.STEP_UP_FOR_RETRY: "will retry",
        }
        if event.event_type not in kinds:
            return
        step = event.step_key
        elapsed = ""
        if event.event_type == DagsterEventType.STEP_START:
            self.printed_at.pop(step, None)  # a retry's progress starts over
        else:
            if step in self.pending:
                self.console.print(f"  {self.pending.pop(step)}")
            if self.bars is not None and step in self.tasks:
                self.bars.remove_task(self.tasks.pop(step))
        if event.event_type == DagsterEventType.STEP_SUCCESS:
            ms = getattr(event.event_specific_data, "duration_ms", None)
            elapsed = f" in {ms / 1000:.1f} s" if ms else ""
        self.console.print(f"  {step}: {kinds[event.event_type]}{elapsed}")

    def _progress(self, message: str) -> None:
        from caption_assets.core.processing.progress import parse_progress_line

        line = parse_progress_line(message)
        if line is None:
            return
        if self.bars is not None:
            if line.step not in self.tasks:
                self.tasks[line.step] = self.bars.add_task(line.step, total=line.total, what="")
            self.bars.update(self.tasks[line.step], completed=line.done, total=line.total, what=line.what)
            return
        now = time.monotonic()
        last = self.printed_at.get(line.step)
        if last is None or now - last >= _PLAIN_PROGRESS_SECONDS:
            self.printed_at[line.step] = now
            self.pending.pop(line.step, None)
            self.console.print(f"  {message}")
        else:
            self.pending[line.step] = message


def _errors_only() -> logging.Handler:
    quiet = logging.StreamHandler(sys.stderr)
    quiet.setLevel(logging.ERROR)
    return quiet


def _run_job(
    defs: Any, instance: Any, job_name: str, run_id: str, video_id: str, tags: dict[str, str]
) -> bool:
    job = defs.resolve_job_def(job_name)
    err.print(f"{job_name} (run {run_id})")
    with _StepPrinter(instance, run_id):
        result = job.execute_in_process(
            instance=instance,
            partition_key=video_id,
            raise_on_error=False,
            run_id=run_id,
            tags=tags,
            # the step printer reports progress; Dagster's console log would drown it (a step's
            # warning, e.g. a transient failure, shows in its "will retry" line and the run's log)
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
        )
    return bool(result.success)


def _error_reason(catalog: Any, video_id: str) -> str:
    video = catalog.get_video(video_id)
    for column in ("layout", "boundaries"):
        details = getattr(video, f"{column}_error_details", None) if video else None
        if details and getattr(video, f"{column}_status", None) == "error":
            return str(details.get("message") or details)
    return "the run failed; see the Dagster UI for its logs"


class _Interrupted(BaseException):
    """SIGINT or SIGTERM reached `process` (a BaseException: no ``except Exception`` eats it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@dataclass
class _ProcessState:
    """What an interruption has to settle: filled in as `process` gets that far."""

    temp_dir: Path | None = None
    catalog: Any = None
    instance: Any = None
    video_id: str | None = None
    job_name: str = "video_job"
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise _Interrupted(signum)


# a settled interruption must not hang on a wedged catalog: exit regardless after this long
_STOP_DEADLINE_SECONDS = 10.0


def _stop_interrupted(state: _ProcessState, signum: int) -> NoReturn:
    """Terminate the run, settle the video ``error``, free its locks, delete the temp dir and exit
    128 + signal. The run's thread may still be inside native decoding or OCR code, so the process
    leaves with ``os._exit`` after running the exit hooks (the embedded Postgres handle) itself."""
    from caption_assets.defs.runs import PARTITION_TAG
    from caption_assets.defs.sensors.run_status import settle_ended_run

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)  # one stop at a time; further signals change nothing
    code = 128 + signum
    name = signal.Signals(signum).name
    watchdog = threading.Timer(_STOP_DEADLINE_SECONDS, os._exit, args=(code,))
    watchdog.daemon = True
    watchdog.start()
    message = f"interrupted ({name})"
    try:
        if state.video_id is not None and state.catalog is not None:
            import dagster as dg

            reason = (
                f"interrupted by {name}: caption-assets process was stopped before it finished; "
                "run it again to process the file"
            )
            run = state.instance.get_run_by_id(state.run_id) if state.run_id else None
            if run is not None and not run.is_finished:
                state.instance.report_run_canceled(run, message=reason)
            if run is None:  # stopped before the run record existed
                run = dg.DagsterRun(
                    job_name=state.job_name,
                    run_id=state.run_id or "none",
                    tags={**state.tags, PARTITION_TAG: state.video_id},
                )
            settle_ended_run(state.catalog, run, "was interrupted", reason, state.instance)
            message += f": video {state.video_id} set to error; run the command again to start over"
    except Exception as exc:  # the exit must happen whatever the catalog says
        message += f" (its status could not be recorded: {_one_line(exc)})"
    _exit_now(state, code, message)


def _exit_now(state: _ProcessState, code: int, message: str) -> NoReturn:
    """Print the one line, delete the temp dir, run the exit hooks (the embedded Postgres
    handle) and leave without waiting for the run's thread, which may be inside native code."""
    from caption_assets.app.platform import remove_process_temp_dir

    # the run's thread may still be retrying its connections while the exit hooks stop the
    # embedded server: its warnings would bury the one line
    logging.disable(logging.CRITICAL)
    if state.temp_dir is not None:
        remove_process_temp_dir(state.temp_dir)
    err.print(f"[red]error:[/red] {message}")
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    if state.temp_dir is not None:
        # the run's thread went on while the exit hooks stopped the embedded server (seconds)
        # and may have made the directory anew (a step's mkdir of its own paths): once more, the
        # moment before the process (and that thread) ends
        remove_process_temp_dir(state.temp_dir)
    os._exit(code)


def _catalog_answers(timeout_seconds: int = 3) -> bool:
    """Whether the catalog's Postgres accepts a connection (no DSN, e.g. Supabase: assumed)."""
    import psycopg

    url = os.environ.get("CAPTION_ASSETS_DATABASE_URL")
    if not url:
        return True
    try:
        with psycopg.connect(url, connect_timeout=timeout_seconds) as conn:
            conn.execute("select 1")
        return True
    except psycopg.Error:
        return False


def _one_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


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
    captions.srt and captions.vtt to OUT. Ctrl-C stops the run and marks the video error."""
    if output_format not in ("files", "json"):
        raise _fail("--format must be files or json")
    if not video.is_file():
        raise _fail(f"no such file: {video}")
    state = _ProcessState()
    # Installed in the main thread before anything starts; the runs execute in a worker thread,
    # where Dagster does not replace these handlers with its own (which swallow the first Ctrl-C).
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    from caption_assets.app.platform import remove_process_temp_dir

    try:
        _process(video, out, tenant, output_format, state)
    except _Interrupted as stop:
        _stop_interrupted(state, stop.signum)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if state.temp_dir is not None:
            remove_process_temp_dir(state.temp_dir)


def _process(video: Path, out: Path, tenant: str, output_format: str, state: _ProcessState) -> None:
    from dagster import DagsterInstance

    from caption_assets.app.platform import process_temp_dir, repair_after_crash, upload_video
    from caption_assets.core.catalog import lifecycle
    from caption_assets.core.keys import VideoKeys
    from caption_assets.core.policy.admission import on_own_machine
    from caption_assets.core.processing.captions_db import read_captions
    from caption_assets.core.processing.video import probe
    from caption_assets.defs.definitions import build_definitions
    from caption_assets.defs.partitions import VIDEOS_PARTITION_NAME
    from caption_assets.defs.resources.settings import PlatformSettings
    from caption_assets.defs.runs import run_tags

    started = time.perf_counter()
    # libraries' warnings (Dagster's storage and psycopg's pool print one per reconnect attempt)
    # are not for the person at the terminal; the step printer and the error line are. Kept off
    # the terminal by the one handler they reach (the root's: an errors-only handler there also
    # keeps a module-level logging.warning from installing basicConfig's), not by
    # logging.disable, which would also drop the steps' own log lines from the run's event log
    # (the UI's run logs and the step printer's progress read them there)
    logging.root.addHandler(_errors_only())
    try:
        probe(video)  # a clear one-line reason before anything is stored
        settings, catalog, store = _platform()
        state.catalog = catalog
        # every temporary file of this process's steps lives here, so an interruption removes
        # them all and the next start removes those of a process that was killed
        state.temp_dir = process_temp_dir(settings.resolved_data_dir())
        instance = DagsterInstance.get()
        state.instance = instance
        for line in repair_after_crash(instance, catalog):
            err.print(line)
        video_id = upload_video(catalog, store, video, tenant, layout_status="processing")
    except CaptionAssetsError as exc:
        raise _fail(str(exc)) from None
    state.video_id = video_id
    row = catalog.get_video(video_id)
    tenant_row = catalog.get_tenant(row.tenant_id)
    err.print(f"video {video_id} (tenant {tenant_row.name})")
    instance.add_dynamic_partitions(VIDEOS_PARTITION_NAME, [video_id])
    defs = build_definitions(settings)
    policy = PlatformSettings.from_settings(settings).priority_policy()
    state.tags = run_tags(
        video_id,
        tenant_row.id,
        tenant_row.tier,
        row.uploaded_at,
        policy,
        attempt=row.processing_attempt,
        tenant_name=tenant_row.name,
        file_name=row.original_filename,
    )

    def run(job_name: str) -> bool:
        state.job_name, state.run_id = job_name, str(uuid.uuid4())
        return _run_job(defs, instance, job_name, state.run_id, video_id, state.tags)

    def runs() -> str | None:
        with on_own_machine():
            if tenant_row.auto_approve:
                # layout_db approves its own layout: one run does it all (one run start saved)
                return None if run("video_job") else _error_reason(catalog, video_id)
            if not run("layout_job"):
                return _error_reason(catalog, video_id)
            if catalog.get_video(video_id).layout_status == "annotate":
                # whoever runs `process` is the person approving this layout
                lifecycle.layout_approved(catalog, video_id)
            return None if run("captions_job") else _error_reason(catalog, video_id)

    def catalog_gone() -> None:
        # the steps' retries and Dagster's reconnects would take minutes and print pages; the
        # video's status cannot be recorded anyway while the catalog is down
        _exit_now(
            state,
            1,
            f"the catalog database stopped answering while video {video_id} was processed; "
            "start it again (or free its disk) and run the command again",
        )

    failure = _in_worker_thread(runs, on_stall=catalog_gone)
    if failure is not None:
        raise _fail(failure)

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
        f"{len(captions)} captions -> {out} in {time.perf_counter() - started:.1f} s (video {video_id})"
    )
    if output_format == "json":
        json.dump([c.to_dict() for c in captions], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    # the interpreter's final garbage collection walks every object Dagster and the OCR engines
    # made (~0.5 s); what must be released (database server, files) is closed by exit hooks and
    # context managers, not by that collection
    gc.freeze()


T = TypeVar("T")


# how often the main thread checks the catalog while a run goes on, and how many failed checks
# in a row mean it is gone (one may be a restart or a busy server)
_CATALOG_CHECK_SECONDS = 2.0
_CATALOG_FAILED_CHECKS = 2


def _in_worker_thread(work: Callable[[], T], on_stall: Callable[[], None] | None = None) -> T:
    """Run ``work`` in a daemon thread while the main thread stays free to receive signals
    (a signal handler runs only in the main thread, between its bytecodes) and watches the
    catalog: ``on_stall`` is called when it stops answering."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the main thread unchanged
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="process-runs", daemon=True).start()
    failed_checks = 0
    while not done.wait(_CATALOG_CHECK_SECONDS):
        if on_stall is None:
            continue
        failed_checks = 0 if _catalog_answers() else failed_checks + 1
        if failed_checks >= _CATALOG_FAILED_CHECKS:
            on_stall()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@app.command()
def dev(
    port: Annotated[int, typer.Option("--port", help="port of the Dagster UI")] = 3000,
    demo: Annotated[bool, typer.Option("--demo", help="also upload a generated demo video")] = False,
    webhook_port: Annotated[
        int, typer.Option("--webhook-port", help="port of the upload webhook (0: do not serve it)")
    ] = 3001,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", help="also print the Dagster daemon's info lines (every sensor tick)"),
    ] = False,
) -> None:
    """Start the platform locally: embedded Postgres, migrations, `dagster dev` on 127.0.0.1
    with the sensors on, and the upload webhook beside it. Ctrl-C stops everything."""
    from caption_assets.app.devserver import (
        DAGSTER_LOG_LEVEL,
        UI_READY_DEADLINE_SECONDS,
        run_dagster_dev,
        ui_url,
    )

    try:
        settings, catalog, store = _platform()
    except CaptionAssetsError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:  # Ctrl-C while the embedded Postgres starts: no traceback
        err.print("stopped")
        raise typer.Exit(code=130) from None
    err.print(
        f"data in {settings.resolved_data_dir()}; starting Dagster (the UI line follows when it answers)"
    )

    companions = []
    if webhook_port:
        secret_note = _webhook_secret(settings.resolved_data_dir())
        companions.append(
            [
                sys.executable,
                "-m",
                "caption_assets.app.cli",
                "webhook",
                "--host",
                "127.0.0.1",
                "--port",
                str(webhook_port),
            ]
        )
        err.print(
            f"upload webhook at http://127.0.0.1:{webhook_port}/webhooks/supabase/videos ({secret_note})"
        )

    def ready(answers: bool) -> None:
        if answers:
            err.print(f"UI at {ui_url(port)}")
        else:
            err.print(
                f"[red]the UI at {ui_url(port)} did not answer within "
                f"{UI_READY_DEADLINE_SECONDS:.0f} s[/red]; see the Dagster log above"
            )

    def after_start() -> None:
        if not settings.database_url:  # the embedded server this process started
            _watch_embedded(settings.resolved_data_dir())
        if demo:
            threading.Thread(target=_demo, args=(settings, catalog, store, ui_url(port)), daemon=True).start()

    raise typer.Exit(
        code=run_dagster_dev(
            port,
            on_started=after_start,
            on_ready=ready,
            companions=companions,
            log_level="info" if verbose else DAGSTER_LOG_LEVEL,
        )
    )


WEBHOOK_SECRET_FILE = "webhook_secret"


def _webhook_secret(data_dir: Path) -> str:
    """Make sure the webhook started by ``dev`` has a secret: the one in the environment, else the
    one ``dev`` generated earlier in the data dir, else a new one stored there (mode 0600). The
    child inherits it through the environment; the secret itself is never printed. Returns where
    it comes from, for the person to read."""
    import secrets

    if os.environ.get("CAPTION_ASSETS_WEBHOOK_SECRET"):
        return "secret from CAPTION_ASSETS_WEBHOOK_SECRET"
    path = Path(data_dir) / WEBHOOK_SECRET_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    os.environ["CAPTION_ASSETS_WEBHOOK_SECRET"] = path.read_text().strip()
    return f"Bearer secret in {path}"


@app.command()
def webhook(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 3001,
) -> None:
    """Serve the upload webhook (POST /webhooks/supabase/videos, GET /healthz, GET /metrics): a
    Supabase INSERT into videos starts the layout run at once. Needs CAPTION_ASSETS_WEBHOOK_SECRET
    (comma-separated for rotation) and the same DAGSTER_HOME as the Dagster instance."""
    from caption_assets.app.webhook import WebhookConfig, WebhookConfigError, serve

    try:
        config = WebhookConfig.from_env()
    except WebhookConfigError as exc:
        raise _fail(str(exc)) from None
    err.print(f"upload webhook on http://{host}:{port}/webhooks/supabase/videos")
    try:
        serve(host, port, config)
    except CaptionAssetsError as exc:
        raise _fail(str(exc)) from None


def _watch_embedded(data_dir: Path) -> None:
    """Restart the embedded Postgres when it dies while ``dev`` runs (this process owns it)."""
    from caption_assets.core.catalog.embedded import embedded_running, keep_running, pgdata_dir

    if not pgdata_dir(data_dir).exists() or not embedded_running(data_dir):
        return  # nothing started here to keep up
    threading.Thread(
        target=keep_running,
        args=(data_dir, threading.Event()),
        kwargs={
            "on_restart": lambda: err.print("the catalog database had stopped; restarted it"),
            "on_failure": lambda exc: err.print(
                f"the catalog database is down and does not start yet: {_one_line(exc)}"
            ),
        },
        name="embedded-postgres-watch",
        daemon=True,
    ).start()


def _demo(settings: Any, catalog: Any, store: Any, ui: str) -> None:
    """Upload the demo video and report when the sensors have carried it through."""
    from caption_assets.app.demo import render_demo
    from caption_assets.app.platform import upload_video

    path = settings.resolved_data_dir() / "demo" / "demo.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        render_demo(path)
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
            for line in demo_summary(catalog, store, v, ui):
                err.print(line)
            err.print(demo_operations(ui))
            return


# how long the demo waits for its operations run (a few small assets over one video's history)
OPERATIONS_DEADLINE_SECONDS = 600.0


def demo_operations(ui: str, deadline_seconds: float = OPERATIONS_DEADLINE_SECONDS) -> str:
    """Launch ``operations_job`` once through the UI's GraphQL (the daemon runs it, as it runs a
    person's launch; the daily schedule does it afterwards) and wait for it: one line saying where
    its tables and checks are, or why they are not. Best effort, like the summary."""
    from urllib.parse import urlsplit

    import dagster as dg
    from dagster_graphql import DagsterGraphQLClient

    from caption_assets.app.webhook import LOCATION_NAME
    from caption_assets.defs.assets.operations import operations_job

    where = urlsplit(ui)
    run_id: str | None = None
    try:
        client = DagsterGraphQLClient(where.hostname or "127.0.0.1", port_number=where.port, timeout=60)
        # the job's name is unique in the workspace: the client finds its location itself
        run_id = client.submit_job_execution(operations_job.name)
        deadline = time.monotonic() + deadline_seconds
        status = client.get_run_status(run_id)
        ended = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
        while status not in ended:
            if time.monotonic() > deadline:
                waited = f"{deadline_seconds:.0f} s"
                return f"operations run still {status.value.lower()} after {waited}: {ui}/runs/{run_id}"
            time.sleep(2)
            status = client.get_run_status(run_id)
    except Exception as exc:  # noqa: BLE001 - the operations tables are a convenience of the demo
        if run_id is not None:
            # launched, then the UI stopped answering (Ctrl-C while waiting, most often)
            return f"(the operations run was launched but not followed to its end: {ui}/runs/{run_id})"
        return f"(the operations assets were not launched: {_one_line(exc)})"
    if status is not dg.DagsterRunStatus.SUCCESS:
        return f"operations run {status.value.lower()}: {ui}/runs/{run_id}"
    group = f"{ui}/locations/{LOCATION_NAME}/asset-groups/operations"
    return f"platform health tables and checks (operations group): {group}"


def demo_summary(catalog: Any, store: Any, video: Any, ui: str) -> list[str]:
    """What the demo ends with: the caption count and where the SRT is, or the error; and the UI
    page of the run that did it. Each part is best effort: the summary never fails the demo."""
    import dagster as dg

    from caption_assets.core.keys import VideoKeys
    from caption_assets.core.policy.priority import VIDEO_TAG
    from caption_assets.core.processing.captions_db import read_captions

    keys = VideoKeys(video.tenant_id, video.id)
    details = video.boundaries_error_details or video.layout_error_details or {}
    lines = []
    if "error" in (video.layout_status, video.boundaries_status, video.text_status):
        lines.append(f"demo ended in error: {details.get('message', 'no details recorded')}")
        job = "captions_job" if video.boundaries_error_details else "layout_job"
    else:
        try:
            with tempfile.TemporaryDirectory(prefix="caption_assets_demo_") as tmp:
                db = store.get_gunzip_file(keys.captions_db(), Path(tmp) / "captions.db")
                count = len(read_captions(db))
            srt = store.path_of(keys.captions_srt()) if hasattr(store, "path_of") else keys.captions_srt()
            lines.append(f"demo done: {count} captions (text {video.text_status}); SRT at {srt}")
        except Exception as exc:  # noqa: BLE001 - a summary line, not a step
            lines.append(f"demo done; its captions could not be read back: {_one_line(exc)}")
        job = "captions_job"
    try:
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(job_name=job, tags={VIDEO_TAG: video.id}), limit=1)
        if runs:
            lines.append(f"its {job} run: {ui}/runs/{runs[0].run_id}")
    except Exception as exc:  # noqa: BLE001 - the link is a convenience
        lines.append(f"(the run's link is unavailable: {_one_line(exc)})")
    return lines


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # `python -m caption_assets.app.cli`: how dev starts the webhook
    app()
