"""Reports of a record: JSON (everything), JUnit XML (one testcase per case × model), Markdown, the
terminal summary line; unknown formats are usage errors naming the valid ones."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from promptctl.errors import UsageError
from promptctl.records.record import Record
from promptctl.report.formats import render_comparison, render_diff, render_record
from promptctl.report.text import failures, summary_line
from tests.records.rows import record, row


def _record() -> Record:
    return record(
        [
            row("ok"),
            row("bad", "fail", output="wrong | answer"),
            row("rep", sample=0),
            row("rep", "fail", sample=1),
            row("boom", "error", error="provider said no"),
        ]
    )


def test_json_holds_every_row_and_the_summary() -> None:
    data = json.loads(render_record(_record(), "json"))
    assert len(data["rows"]) == 5 and data["summary"]["errors"] == 1


def test_junit_has_one_testcase_per_case_and_model() -> None:
    root = ET.fromstring(render_record(_record(), "junit"))
    assert root.attrib["tests"] == "4" and root.attrib["failures"] == "2" and root.attrib["errors"] == "1"
    cases = {tc.attrib["name"]: tc for tc in root.iter("testcase")}
    assert set(cases) == {"ok [m]", "bad [m]", "rep [m]", "boom [m]"}
    rep = cases["rep [m]"].find("failure")
    assert rep is not None and rep.attrib["message"] == "1/2 samples passed (min 1)"
    boom = cases["boom [m]"].find("error")
    assert boom is not None and "provider said no" in (boom.text or "")


def test_markdown_lists_failures_with_escaped_cells() -> None:
    md = render_record(_record(), "markdown")
    assert md.startswith("### ❌ promptctl test — `aaaaaaaaaaaa`")
    assert "wrong \\| answer" in md and "provider said no" in md


def test_failures_and_summary_line() -> None:
    rec = _record()
    fails = failures(rec)
    assert {(f["case"], f["assertion"]) for f in fails} == {
        ("bad", "equals"),
        ("rep #1", "equals"),
        ("boom", "error"),
    }
    line = summary_line(rec.summary)
    assert line.startswith("1 passed, 2 failed, 1 errors · pass rate 33.3%")


@pytest.mark.parametrize("render", [render_record, render_comparison, render_diff])
def test_unknown_formats_name_the_valid_ones(render: object) -> None:
    with pytest.raises(UsageError, match="unknown --format 'xml'; use"):
        render({}, "xml")  # type: ignore[operator]
