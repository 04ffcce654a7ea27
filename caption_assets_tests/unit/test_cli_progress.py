"""``process``'s step printer on a scripted event log: plain lines off a terminal, rich bars on one."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import dagster as dg
from rich.console import Console

from caption_assets.app.cli import _StepPrinter


def _step(kind: dg.DagsterEventType, step: str) -> Any:
    event = SimpleNamespace(event_type=kind, step_key=step, event_specific_data=None)
    return SimpleNamespace(dagster_event=event, user_message="")


def _log(message: str) -> Any:
    return SimpleNamespace(dagster_event=None, user_message=message)


class ScriptedLog:
    """An instance whose run's event log grows by one batch per read."""

    def __init__(self, batches: list[list[Any]]) -> None:
        self.batches = batches
        self.read = 0

    def get_records_for_run(self, run_id: str, cursor: str | None = None) -> Any:
        assert cursor == (None if self.read == 0 else str(self.read))
        batch = self.batches[self.read] if self.read < len(self.batches) else []
        self.read += 1
        records = [SimpleNamespace(event_log_entry=e) for e in batch]
        return SimpleNamespace(records=records, cursor=str(self.read))


BATCHES = [
    [_step(dg.DagsterEventType.STEP_START, "full_frames"), _log("full_frames: 0/20 frames decoded")],
    [_log("full_frames: 8/20 frames decoded"), _log("full_frames: Modal call fc-1 of app/full_frames")],
    [_log("full_frames: 20/20 frames decoded"), _step(dg.DagsterEventType.STEP_SUCCESS, "full_frames")],
]


def test_off_a_terminal_the_first_and_last_report_frame_the_step_lines() -> None:
    out = io.StringIO()
    printer = _StepPrinter(ScriptedLog(BATCHES), "run", Console(file=out, force_terminal=False))
    for _ in BATCHES:
        printer._poll()
    assert out.getvalue().splitlines() == [
        "  full_frames: started",
        "  full_frames: 0/20 frames decoded",
        # 8/20 came within the plain interval of 0/20: held back, then replaced by the last one
        "  full_frames: 20/20 frames decoded",
        "  full_frames: done",
    ]


def test_on_a_terminal_a_bar_per_running_step() -> None:
    out = io.StringIO()
    printer = _StepPrinter(ScriptedLog(BATCHES), "run", Console(file=out, force_terminal=True, width=100))
    printer.stop.set()  # the test polls: the printer's own thread ends at once
    with printer:
        printer._poll()
        (task,) = printer.bars.tasks
        assert (task.description, task.completed, task.total) == ("full_frames", 0, 20)
        printer._poll()
        assert printer.bars.tasks[0].completed == 8
        printer._poll()
        assert printer.bars.tasks == []  # the step ended: its bar went, its lines stay
    text = out.getvalue()
    assert "full_frames: started" in text and "full_frames: done" in text
