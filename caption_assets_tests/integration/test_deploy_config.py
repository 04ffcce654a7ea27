"""Keeps deploy/ honest where it can be checked here (no Docker engine, no Kubernetes, no chart).

- the production instance config (deploy/dagster/dagster.yaml) loads as a real DagsterInstance on
  the embedded Postgres and a real materialization lands there;
- its run queue limits parse and behave as meant (per tenant, free tier);
- the image installs exactly the lock, and the lock matches pyproject.toml;
- the Helm values use the chart's key names, name this code location, launch runs with
  K8sRunLauncher, use an external Postgres and hold no secret inline; they carry the same limits as
  the instance file.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import dagster as dg
import psycopg
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._utils.tags import TagConcurrencyLimitsCounter
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from psycopg import sql

from caption_assets.core.config import Settings, repo_root
from caption_assets.core.policy.priority import TENANT_TAG, TIER_TAG
from caption_assets.defs.run_coordinator import VideoRunCoordinator

pytestmark = pytest.mark.integration

ROOT = repo_root()
INSTANCE_YAML = ROOT / "deploy" / "dagster" / "dagster.yaml"
HELM_VALUES = ROOT / "deploy" / "helm" / "values.yaml"
DOCKERFILE = ROOT / "deploy" / "image" / "Dockerfile"
GUIDE = ROOT / "deploy" / "README.md"

# the variables deploy/dagster/dagster.yaml reads its storage settings from
PG_ENV = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")


def _instance_yaml() -> dict[str, Any]:
    return yaml.safe_load(INSTANCE_YAML.read_text(encoding="utf-8"))


def _helm_values() -> dict[str, Any]:
    return yaml.safe_load(HELM_VALUES.read_text(encoding="utf-8"))


def _home_with_production_config(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(INSTANCE_YAML, home / "dagster.yaml")
    return home


# ------------------------------------------------------------------------------------------------
# (1) the production instance config on a real Postgres
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def empty_dagster_db(pg_server) -> Iterator[str]:
    """An empty database (not the migrated catalog template) on the embedded server."""
    name = f"dagster_deploy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def production_instance_env(pg_server, empty_dagster_db, tmp_path, monkeypatch) -> Path:
    """DAGSTER_HOME holding deploy/dagster/dagster.yaml unchanged, its variables pointing at the
    empty database. The embedded server listens on a Unix socket only: DAGSTER_PG_HOST is left
    empty, so libpq takes the socket directory from PGHOST, its standard variable."""
    parts = urlsplit(pg_server.url(empty_dagster_db))
    socket_dir = parse_qs(parts.query)["host"][0]
    home = _home_with_production_config(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("PGHOST", socket_dir)
    monkeypatch.setenv("DAGSTER_PG_HOST", "")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(parts.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_USER", unquote(parts.username or "postgres"))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", unquote(parts.password or ""))
    monkeypatch.setenv("DAGSTER_PG_DB", empty_dagster_db)
    return home


@dg.asset
def deploy_probe() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


def test_production_instance_runs_a_materialization_into_postgres(
    production_instance_env: Path, pg_server, empty_dagster_db: str
) -> None:
    home = str(production_instance_env)
    with dg.DagsterInstance.from_config(home) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        result = dg.materialize([deploy_probe], instance=instance)
        assert result.success
        run_id = result.run_id

    # a new instance object reads the run and its events back from the database
    with dg.DagsterInstance.from_config(home) as reread:
        run = reread.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        event = reread.get_latest_materialization_event(dg.AssetKey("deploy_probe"))
        assert event is not None and event.run_id == run_id
        assert event.asset_materialization.metadata["rows"].value == 3
        assert reread.run_monitoring_enabled
        assert not reread.run_retries_enabled
        assert not reread.telemetry_enabled

    # ... and the rows are in the database the variables named, not in a local SQLite file
    with psycopg.connect(pg_server.url(empty_dagster_db)) as conn:
        (runs,) = conn.execute("select count(*) from runs where run_id = %s", (run_id,)).fetchone()
        (materializations,) = conn.execute(
            "select count(*) from event_logs where run_id = %s"
            " and dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        ).fetchone()
    assert (runs, materializations) == (1, 1)
    assert not list(production_instance_env.rglob("*.db"))


# ------------------------------------------------------------------------------------------------
# (2) the run queue of the production instance
# ------------------------------------------------------------------------------------------------


def _production_run_coordinator(tmp_path: Path, monkeypatch) -> VideoRunCoordinator:
    """The coordinator as Dagster builds it from the file (config validated, env resolved); no
    database connection is made for it."""
    home = _home_with_production_config(tmp_path)
    for name in PG_ENV:
        monkeypatch.setenv(name, "5432" if name == "DAGSTER_PG_PORT" else "unused")
    coordinator = InstanceRef.from_dir(str(home)).run_coordinator
    # the project's coordinator: UI-launched runs get their tenant's tags before these limits apply
    assert isinstance(coordinator, VideoRunCoordinator)
    return coordinator


def _run(tenant: str, tier: str) -> DagsterRun:
    return DagsterRun(
        job_name="layout_job",
        run_id=str(uuid.uuid4()),
        tags={TENANT_TAG: tenant, TIER_TAG: tier},
    )


def _limit(limits: list[dict[str, Any]], key: str) -> dict[str, Any]:
    matches = [entry for entry in limits if entry["key"] == key]
    assert len(matches) == 1, f"expected one limit on {key!r}, got {matches}"
    return matches[0]


def test_production_run_queue_limits_each_tenant_and_the_free_tier(tmp_path, monkeypatch) -> None:
    queue = _production_run_coordinator(tmp_path, monkeypatch).get_run_queue_config()
    limits = list(queue.tag_concurrency_limits)

    tenant_limit = _limit(limits, TENANT_TAG)
    assert tenant_limit["value"] == {"applyLimitPerUniqueValue": True}
    per_tenant = tenant_limit["limit"]
    free_limit = _limit(limits, TIER_TAG)
    assert free_limit["value"] == "free"
    free_total = free_limit["limit"]
    # each limit must bite before the global cap does, or it would never matter
    assert 0 < per_tenant < queue.max_concurrent_runs
    assert 0 < free_total < queue.max_concurrent_runs

    # one tenant at its limit: its next run waits, another tenant's starts
    busy = [_run("tenant-a", "premium") for _ in range(per_tenant)]
    counter = TagConcurrencyLimitsCounter(limits, busy)
    assert counter.is_blocked(_run("tenant-a", "premium"))
    assert not counter.is_blocked(_run("tenant-b", "premium"))

    # free tenants, each under its own limit, fill the free tier: the next free run waits,
    # a paying tenant's does not
    free_busy = [_run(f"free-{i}", "free") for i in range(free_total)]
    counter = TagConcurrencyLimitsCounter(limits, free_busy)
    assert counter.is_blocked(_run("free-new", "free"))
    assert not counter.is_blocked(_run("enterprise-a", "enterprise"))


# ------------------------------------------------------------------------------------------------
# (3) the image installs the lock, and the lock matches pyproject.toml
# ------------------------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    out = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        out.append((instruction.upper(), rest.strip()))
    return out


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {canonicalize_name(p["name"]): p["version"] for p in lock["package"]}


def test_image_installs_dependencies_from_the_lock_only() -> None:
    steps = _dockerfile_instructions()
    runs = [args for instruction, args in steps if instruction == "RUN"]
    syncs = [args for args in runs if "uv sync" in args]
    assert syncs, "the image must install its dependencies with `uv sync`"
    for args in syncs:
        flags = shlex.split(args)
        assert "--frozen" in flags, f"not from the lock as is: {args}"
        assert "--no-dev" in flags, f"development dependencies installed: {args}"
        assert not {"--extra", "--all-extras"} & set(flags), f"extras installed: {args}"
    # nothing installed around the lock (only uv itself, pinned like CI's)
    for args in runs:
        for match in re.finditer(r"pip install\s+(.*?)(?:&&|;|$)", args):
            packages = [a for a in shlex.split(match.group(1)) if not a.startswith("-")]
            assert packages == [f"uv=={_ci_uv_version()}"], f"unlocked install: {args}"
        assert "uv pip install" not in args and "uv add" not in args, args

    # the lock and pyproject are in the image before the first sync
    first_sync = next(i for i, (ins, args) in enumerate(steps) if ins == "RUN" and "uv sync" in args)
    copied_before = " ".join(args for ins, args in steps[:first_sync] if ins == "COPY")
    assert "pyproject.toml" in copied_before and "uv.lock" in copied_before

    # base image: the Python the project requires
    base = [args for ins, args in steps if ins == "ARG" and args.startswith("PYTHON_IMAGE=")]
    assert base == ["PYTHON_IMAGE=python:3.11-slim"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "3.11" in project["requires-python"]

    # runs as an unprivileged numeric user; no ENTRYPOINT (the chart passes `args`), and the
    # default command serves this code location
    users = [args for ins, args in steps if ins == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert not [ins for ins, _ in steps if ins == "ENTRYPOINT"]
    cmd = yaml.safe_load([args for ins, args in steps if ins == "CMD"][-1])
    assert cmd[:3] == ["dagster", "api", "grpc"]
    assert cmd[cmd.index("-m") + 1] == "caption_assets.defs.definitions"


def _ci_uv_version() -> str:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r"uv==([0-9][0-9A-Za-z.]*)", ci)
    assert match, ".ci/run no longer pins uv"
    return match.group(1)


def test_every_pyproject_dependency_is_locked_at_its_pinned_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    requirements += [
        Requirement(r)
        for extra in pyproject["project"].get("optional-dependencies", {}).values()
        for r in extra
    ]
    locked = _locked_versions()
    for req in requirements:
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is in pyproject.toml but not in uv.lock"
        pins = [s.version for s in req.specifier if s.operator == "=="]
        if pins:
            assert locked[name] == pins[0], f"{req.name}: pyproject {pins[0]}, uv.lock {locked[name]}"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"{req.name}: uv.lock has {locked[name]}, outside {req.specifier}"
        )


def test_lock_was_made_from_this_pyproject() -> None:
    """`uv sync --frozen` trusts the lock without checking it against pyproject.toml; a lock left
    behind by a pyproject edit would be installed silently. uv records the project's requirements
    in the lock: they must be pyproject's."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    me = canonicalize_name(pyproject["name"])
    (entry,) = [p for p in lock["package"] if canonicalize_name(p["name"]) == me]

    def from_pyproject() -> set[tuple[str, str, tuple[str, ...], str | None]]:
        out = set()
        for raw in pyproject["dependencies"]:
            req = Requirement(raw)
            out.add((canonicalize_name(req.name), str(req.specifier), tuple(sorted(req.extras)), None))
        for extra, reqs in pyproject.get("optional-dependencies", {}).items():
            for raw in reqs:
                req = Requirement(raw)
                out.add((canonicalize_name(req.name), str(req.specifier), tuple(sorted(req.extras)), extra))
        return out

    def from_lock() -> set[tuple[str, str, tuple[str, ...], str | None]]:
        out = set()
        for item in entry["metadata"]["requires-dist"]:
            marker = item.get("marker")
            extra = re.fullmatch(r"extra == '([^']+)'", marker).group(1) if marker else None
            spec = str(Requirement(f"x{item.get('specifier', '')}").specifier)
            out.add((canonicalize_name(item["name"]), spec, tuple(sorted(item.get("extras", []))), extra))
        return out

    assert from_lock() == from_pyproject()


# ------------------------------------------------------------------------------------------------
# (4) the Helm values
# ------------------------------------------------------------------------------------------------

# Key names of the chart (dagster/dagster 1.13.x) that this file uses, read from the chart's values
# schema (helm/dagster/values.schema.json, generated from helm/dagster/schema in the dagster-io/dagster
# repository). Helm ignores unknown keys silently, so a misspelt key would deploy without effect.
CHART_TOP_LEVEL = {
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "rabbitmq",
    "redis",
    "flower",
    "ingress",
    "imagePullSecrets",
    "computeLogManager",
    "scheduler",
    "runLauncher",
    "pythonLogs",
    "dagsterDaemon",
    "busybox",
    "migrate",
    "telemetry",
    "serviceAccount",
    "global",
    "retention",
    "additionalInstanceConfig",
}
CHART_USER_DEPLOYMENT = {
    "name",
    "image",
    "dagsterApiGrpcArgs",
    "codeServerArgs",
    "includeConfigInLaunchedRuns",
    "deploymentNamespace",
    "port",
    "env",
    "envConfigMaps",
    "envSecrets",
    "annotations",
    "nodeSelector",
    "affinity",
    "tolerations",
    "podSecurityContext",
    "securityContext",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "labels",
    "volumeMounts",
    "volumes",
    "schedulerName",
    "initContainers",
    "sidecarContainers",
}
CHART_K8S_RUN_LAUNCHER = {
    "image",
    "imagePullPolicy",
    "jobNamespace",
    "loadInclusterConfig",
    "kubeconfigFile",
    "envConfigMaps",
    "envSecrets",
    "envVars",
    "volumeMounts",
    "volumes",
    "labels",
    "failPodOnRunFailure",
    "resources",
    "schedulerName",
    "securityContext",
    "runK8sConfig",
}
CHART_RUN_K8S_CONFIG = {
    "containerConfig",
    "podSpecConfig",
    "podTemplateSpecMetadata",
    "jobSpecConfig",
    "jobMetadata",
}
CHART_DAEMON = {
    "enabled",
    "image",
    "runCoordinator",
    "heartbeatTolerance",
    "env",
    "envConfigMaps",
    "envSecrets",
    "deploymentLabels",
    "labels",
    "nodeSelector",
    "affinity",
    "tolerations",
    "podSecurityContext",
    "securityContext",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "annotations",
    "runMonitoring",
    "runRetries",
    "sensors",
    "schedules",
    "schedulerName",
    "volumeMounts",
    "volumes",
    "initContainerResources",
}
# what the chart's instance template reads from runCoordinator.config.customRunCoordinator
CHART_CUSTOM_RUN_COORDINATOR = {"module", "class", "config"}
CHART_POSTGRESQL = {
    "image",
    "enabled",
    "postgresqlHost",
    "postgresqlUsername",
    "postgresqlPassword",
    "postgresqlDatabase",
    "postgresqlParams",
    "postgresqlScheme",
    "service",
}
# what the chart's instance template reads from dagsterDaemon.runMonitoring
CHART_RUN_MONITORING = {
    "enabled",
    "startTimeoutSeconds",
    "cancelTimeoutSeconds",
    "maxResumeRunAttempts",
    "pollIntervalSeconds",
    "freeSlotsAfterRunEndSeconds",
}
CHART_WEBSERVER = {
    "replicaCount",
    "image",
    "nameOverride",
    "pathPrefix",
    "service",
    "workspace",
    "env",
    "envConfigMaps",
    "envSecrets",
    "deploymentLabels",
    "labels",
    "nodeSelector",
    "affinity",
    "tolerations",
    "podSecurityContext",
    "securityContext",
    "resources",
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
    "annotations",
    "enableReadOnly",
    "dbStatementTimeout",
    "dbPoolRecycle",
    "logLevel",
    "schedulerName",
    "volumeMounts",
    "volumes",
    "initContainerResources",
}


def _only_chart_keys(mapping: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(mapping) - allowed
    assert not unknown, f"{where}: keys the chart does not read: {sorted(unknown)}"


def test_helm_values_use_the_charts_key_names() -> None:
    values = _helm_values()
    _only_chart_keys(values, CHART_TOP_LEVEL, "top level")
    for deployment in values["dagster-user-deployments"]["deployments"]:
        _only_chart_keys(deployment, CHART_USER_DEPLOYMENT, "user deployment")
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    _only_chart_keys(launcher, CHART_K8S_RUN_LAUNCHER, "k8sRunLauncher")
    _only_chart_keys(launcher.get("runK8sConfig") or {}, CHART_RUN_K8S_CONFIG, "runK8sConfig")
    daemon = values["dagsterDaemon"]
    _only_chart_keys(daemon, CHART_DAEMON, "dagsterDaemon")
    _only_chart_keys(
        daemon["runCoordinator"]["config"], {"queuedRunCoordinator", "customRunCoordinator"}, "config"
    )
    _only_chart_keys(
        daemon["runCoordinator"]["config"]["customRunCoordinator"],
        CHART_CUSTOM_RUN_COORDINATOR,
        "customRunCoordinator",
    )
    _only_chart_keys(daemon["runMonitoring"], CHART_RUN_MONITORING, "runMonitoring")
    _only_chart_keys(values["postgresql"], CHART_POSTGRESQL, "postgresql")
    _only_chart_keys(values["dagsterWebserver"], CHART_WEBSERVER, "dagsterWebserver")


def test_helm_values_deploy_this_code_location_with_k8s_run_launcher(monkeypatch) -> None:
    values = _helm_values()
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True and user["enableSubchart"] is True
    (deployment,) = user["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    module = args[args.index("-m") + 1]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert module == "caption_assets.defs.definitions" == pyproject["tool"]["dagster"]["module_name"]
    assert importlib.util.find_spec(module) is not None
    assert isinstance(deployment["port"], int)
    assert deployment["image"]["repository"] and deployment["image"]["tag"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    assert [s["name"] for s in deployment["envSecrets"]]

    # the inline settings are ones the code reads, with values it accepts
    env = deployment["env"]
    fields = {f"CAPTION_ASSETS_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, f"not read by caption_assets.core.config: {sorted(set(env) - fields)}"
    for name in fields:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.catalog, settings.store, settings.compute) == ("supabase", "s3", "modal")

    # every run in a Kubernetes Job of its own, sized per pod, with the same Secret
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    assert "jobNamespace" in k8s
    assert k8s["resources"]["requests"] and k8s["resources"]["limits"]
    assert {s["name"] for s in deployment["envSecrets"]} <= {s["name"] for s in k8s["envSecrets"]}

    # Dagster's storage: an external Postgres, password only from the Secret, psycopg2 scheme
    pg = values["postgresql"]
    assert pg["enabled"] is False
    assert pg["postgresqlHost"] and pg["postgresqlDatabase"] and pg["postgresqlUsername"]
    assert pg["postgresqlPassword"] == ""
    assert pg["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]

    assert values["dagsterDaemon"]["enabled"] is True
    assert values["telemetry"]["enabled"] is False


SECRETISH = re.compile(r"pass(word)?|secret|token|credential|private|api_?key|access_?key|_key$", re.I)
# keys whose value names a Secret (a reference), not a secret itself
SECRET_REFERENCES = {"postgresqlSecretName", "envSecrets", "imagePullSecrets"}
CREDENTIAL_SHAPES = [
    re.compile(r"://[^/\s:@]+:[^@\s]+@"),  # user:password@ in a URL
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}"),  # a JWT (Supabase keys are JWTs)
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # an AWS-style access key id
    re.compile(r"\b(ak|as)-[A-Za-z0-9]{10,}\b"),  # a Modal token id/secret
]


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_helm_values_hold_no_inline_secret() -> None:
    values = _helm_values()
    for path, key, value in _walk(values):
        if key in SECRET_REFERENCES:
            assert isinstance(value, (str, list)), f"{path}.{key}"
            if isinstance(value, list):
                assert all(set(item) == {"name"} for item in value), f"{path}.{key}: {value}"
            continue
        scalar = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        if SECRETISH.search(str(key)) and scalar:
            assert value == "", f"inline secret at {path}.{key}"
        if isinstance(value, str):
            for shape in CREDENTIAL_SHAPES:
                assert not shape.search(value), f"credential-like value at {path}.{key}"
    # and the Secrets they name are the ones the guide tells the operator to create
    guide = GUIDE.read_text(encoding="utf-8")
    named = {values["global"]["postgresqlSecretName"]}
    for deployment in values["dagster-user-deployments"]["deployments"]:
        named |= {s["name"] for s in deployment.get("envSecrets", [])}
    named |= {s["name"] for s in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    for name in named:
        assert f"kubectl create secret generic {name}" in guide, f"guide does not create {name}"


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def test_helm_values_carry_the_instance_files_limits() -> None:
    """The chart renders its own instance config; it must match deploy/dagster/dagster.yaml."""
    values = _helm_values()
    instance = _instance_yaml()
    daemon = values["dagsterDaemon"]

    coordinator = daemon["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "CustomRunCoordinator"
    custom = coordinator["config"]["customRunCoordinator"]
    assert {k: custom[k] for k in ("module", "class")} == {
        "module": instance["run_coordinator"]["module"],
        "class": instance["run_coordinator"]["class"],
    }
    assert custom["config"] == instance["run_coordinator"]["config"]
    # the coordinator is the project's code: webserver and daemon run the project's image, with the
    # catalog settings it reads
    image = values["dagster-user-deployments"]["deployments"][0]["image"]
    for part in (daemon, values["dagsterWebserver"]):
        assert part["image"] == image
        assert part["envSecrets"] == [{"name": "caption-assets-env"}]

    assert {_snake(k): v for k, v in daemon["runMonitoring"].items()} == instance["run_monitoring"]
    assert daemon["runRetries"]["enabled"] is instance["run_retries"]["enabled"] is False
    for kind in ("sensors", "schedules"):
        assert {_snake(k): v for k, v in daemon[kind].items()} == instance[kind]
    assert values["retention"]["enabled"] is True
    for kind in ("schedule", "sensor"):
        assert values["retention"][kind]["purgeAfterDays"] == instance["retention"][kind]["purge_after_days"]
    assert values["telemetry"]["enabled"] is instance["telemetry"]["enabled"] is False

    storage = instance["storage"]["postgres"]["postgres_db"]
    assert storage["scheme"] == values["postgresql"]["postgresqlScheme"]
    # the instance file reads the password from the variable the chart fills from its Secret
    assert storage["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert "run_launcher" not in instance  # the chart injects K8sRunLauncher
