"""docs/testing.md maps every case of the test plan to the tests that prove it: each test it names
exists (read from the test files' syntax trees, nothing is run), each case names a test or says why
it is not covered, and the counts it states are the table's."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "testing.md"
# a case row: | 1.2.3 | what the plan asks | proof |
ROW = re.compile(r"^\|\s*(?P<case>(?:\d+|T)(?:\.\d+)+)\s*\|(?P<what>[^|]+)\|(?P<proof>.+)\|\s*$")
REFERENCE = re.compile(r"`(?P<path>caption_assets_tests/[\w/]+\.py)::(?P<test>\w+)`")
NOT_COVERED = re.compile(r"\bnot covered\b: \S")
COUNT = re.compile(r"^\*\*(?P<section>[^*]+)\*\*: (?P<covered>\d+) of (?P<total>\d+) covered", re.M)


def rows(text: str) -> list[tuple[str, str]]:
    """(case, proof cell) of every case row."""
    return [(m["case"], m["proof"]) for line in text.splitlines() if (m := ROW.match(line))]


@cache
def collected_names(path: Path) -> frozenset[str]:
    """The test functions pytest would collect by name in ``path``: module level or in a Test class."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in tree.body:
        bodies = [node]
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            bodies = node.body
        names.update(
            n.name
            for n in bodies
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test")
        )
    return frozenset(names)


def missing_tests(text: str) -> list[str]:
    missing = []
    for m in REFERENCE.finditer(text):
        path = ROOT / m["path"]
        if not path.is_file() or m["test"] not in collected_names(path):
            missing.append(f"{m['path']}::{m['test']}")
    return missing


def covered(proof: str) -> bool:
    """A case is covered by the tests it names, unless it says it is not (naming a partial proof)."""
    return bool(REFERENCE.search(proof)) and not NOT_COVERED.search(proof)


def counts(text: str) -> dict[str, tuple[int, int]]:
    """Covered and total of the plan's cases ("plan") and of its test data ("T")."""
    out: dict[str, tuple[int, int]] = {}
    for case, proof in rows(text):
        section = "T" if case.startswith("T") else "plan"
        done, total = out.get(section, (0, 0))
        out[section] = (done + covered(proof), total + 1)
    return out


def test_every_named_test_exists() -> None:
    text = DOC.read_text()
    assert REFERENCE.search(text), "docs/testing.md names no test"
    assert missing_tests(text) == []


def test_every_case_names_a_test_or_why_not() -> None:
    text = DOC.read_text()
    cases = [case for case, _ in rows(text)]
    assert len(cases) == len(set(cases)), "a case is listed twice"
    vague = [case for case, proof in rows(text) if not (REFERENCE.search(proof) or NOT_COVERED.search(proof))]
    assert vague == []


def test_the_stated_counts_are_the_tables() -> None:
    text = DOC.read_text()
    stated = {m["section"]: (int(m["covered"]), int(m["total"])) for m in COUNT.finditer(text)}
    assert stated == {"Plan cases": counts(text)["plan"], "Test data": counts(text)["T"]}


def test_the_checks_catch_a_renamed_test_and_a_bare_case(tmp_path: Path) -> None:
    # the parser itself: a name that is not a test, a case with neither proof nor reason
    real = "caption_assets_tests/unit/test_testing_doc.py::test_every_named_test_exists"
    text = (
        f"| 1.1.1 | a | `{real}` |\n"
        "| 1.1.2 | b | `caption_assets_tests/unit/test_testing_doc.py::test_gone` |\n"
        "| 1.1.3 | c | soon |\n"
        "| 1.1.4 | d | not covered: needs a GPU |\n"
        f"| 1.1.5 | e | not covered: only in part, `{real}` |\n"
    )
    assert missing_tests(text) == ["caption_assets_tests/unit/test_testing_doc.py::test_gone"]
    assert [case for case, proof in rows(text) if not NOT_COVERED.search(proof)] == [
        "1.1.1",
        "1.1.2",
        "1.1.3",
    ]
    assert counts(text) == {"plan": (2, 5)}
