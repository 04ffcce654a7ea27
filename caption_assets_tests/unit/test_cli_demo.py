"""The demo's last line about the operations run says what happened to it."""

from __future__ import annotations

import dagster_graphql
import pytest

from caption_assets.app import cli


class _Client:
    """Stands in for the UI's GraphQL client: the launch answers or not, then the UI goes away."""

    launches = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def submit_job_execution(self, job_name: str) -> str:
        if not self.launches:
            raise ConnectionError("Connection refused")
        return "run-1"

    def get_run_status(self, run_id: str) -> object:
        raise ConnectionError("Connection refused")


def test_a_launched_operations_run_is_not_reported_as_not_launched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dagster_graphql, "DagsterGraphQLClient", _Client)
    line = cli.demo_operations("http://127.0.0.1:3000")
    assert line == (
        "(the operations run was launched but not followed to its end: http://127.0.0.1:3000/runs/run-1)"
    )
    monkeypatch.setattr(_Client, "launches", False)
    line = cli.demo_operations("http://127.0.0.1:3000")
    assert line == "(the operations assets were not launched: Connection refused)"
