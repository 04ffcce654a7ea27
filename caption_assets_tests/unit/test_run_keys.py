"""Run keys decide when Dagster starts a run again and when it does not; the assets of a run decide
which locks and statuses a finished run settles; settings find the instance's home."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import pytest

from caption_assets.core.config import PIPELINE_VERSION, Settings, repo_root
from caption_assets.defs import runs

pytestmark = pytest.mark.unit


def test_a_retry_and_a_new_approval_get_new_run_keys() -> None:
    assert runs.layout_run_key("v", 1) == runs.layout_run_key("v", 1)
    assert runs.layout_run_key("v", 1) != runs.layout_run_key("v", 2)
    assert runs.layout_run_key("v", 1).endswith(f":{PIPELINE_VERSION}")
    approved = datetime(2025, 1, 1, tzinfo=UTC)
    assert runs.captions_run_key("v", approved) == runs.captions_run_key("v", approved)
    assert runs.captions_run_key("v", approved) != runs.captions_run_key("v", approved + timedelta(seconds=1))
    assert runs.layout_run_key("v", 1) != runs.layout_run_key("w", 1)


def test_one_reocr_run_per_set_of_requests_whatever_their_order() -> None:
    assert runs.reocr_run_key("v", ["b", "a"]) == runs.reocr_run_key("v", ["a", "b"])
    assert runs.reocr_run_key("v", ["a"]) != runs.reocr_run_key("v", ["a", "b"])


@pytest.mark.parametrize(
    ("tags", "attempt"), [({runs.ATTEMPT_TAG: "3"}, 3), ({runs.ATTEMPT_TAG: "x"}, None), ({}, None)]
)
def test_requested_attempt_reads_only_a_number(tags: dict[str, str], attempt: int | None) -> None:
    assert runs.requested_attempt(tags) == attempt


class _Plans:
    """The one instance call assets_of_run makes: a stored execution plan, or none."""

    def __init__(self, plan: Any) -> None:
        self.plan = plan

    def get_execution_plan_snapshot(self, snapshot_id: str) -> Any:
        if isinstance(self.plan, Exception):
            raise self.plan
        return self.plan


def test_the_assets_of_a_run() -> None:
    selected = dg.DagsterRun(job_name="video_job", run_id="r1", asset_selection={dg.AssetKey("layout_db")})
    assert runs.assets_of_run(selected) == {"layout_db"}
    planned = dg.DagsterRun(job_name="a_new_job", run_id="r2", execution_plan_snapshot_id="snap")
    plan = SimpleNamespace(step_keys_to_execute=["cropped_frames"], steps=[])
    assert runs.assets_of_run(planned, _Plans(plan)) == {"cropped_frames"}
    every_step = SimpleNamespace(step_keys_to_execute=None, steps=[SimpleNamespace(key="full_frames")])
    assert runs.assets_of_run(planned, _Plans(every_step)) == {"full_frames"}
    # no plan to read: the job's assets as jobs.py selects them (none for a job it does not know)
    layout = dg.DagsterRun(job_name="layout_job", run_id="r3", execution_plan_snapshot_id="snap")
    assert runs.assets_of_run(layout, _Plans(KeyError("snap"))) == set(runs.LAYOUT_ASSETS)
    assert runs.assets_of_run(planned, _Plans(None)) == set()


def test_the_instance_home_is_dagster_home_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert settings.dagster_home() == (tmp_path / "data").resolve() / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    assert settings.dagster_home() == tmp_path / "elsewhere"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings(data_dir=Path("~/d")).resolved_data_dir() == tmp_path / "d"
    assert (repo_root() / "pyproject.toml").is_file()
