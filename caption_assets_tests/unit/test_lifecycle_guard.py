"""Nothing outside ``catalog/`` (the adapters and ``lifecycle``) writes a video status or releases
a lock: the state machine stays readable in one file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import caption_assets

pytestmark = pytest.mark.unit

PACKAGE = Path(caption_assets.__file__).parent
ALLOWED = PACKAGE / "core" / "catalog"
# the Catalog methods that change a video's status, its claims or its locks' holders
WRITES = {
    "set_status",
    "begin_processing",
    "approve_layout",
    "finish_ocr_request",
    "release_server_lock",
    "release_client_lock",
    "clear_stale_locks",
    "claim_pending_uploads",
    "claim_approved_layouts",
    "release_claim",
}


def status_writes(path: Path) -> list[str]:
    """``file:line name`` of every call of a status write or lock release in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = (
            func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        )
        if name in WRITES:
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {name}")
    return found


def test_only_lifecycle_writes_statuses_and_releases_locks() -> None:
    stray = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if ALLOWED not in path.parents
        for hit in status_writes(path)
    ]
    assert stray == [], (
        "status writes / lock releases outside caption_assets/core/catalog/lifecycle.py: " + ", ".join(stray)
    )


def test_the_guard_sees_the_calls_lifecycle_makes() -> None:
    """Guards the guard: the walk finds the writes where they are allowed."""
    hits = {hit.split()[-1] for hit in status_writes(ALLOWED / "lifecycle.py")}
    assert hits == WRITES - {"release_client_lock"}
