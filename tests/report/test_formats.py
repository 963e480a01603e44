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
    assert {(f["case"], f["passed"], f["assertion"]) for f in fails} == {
        ("bad", "0/1", "equals"),
        ("rep", "1/2", "equals"),
        ("boom", "0/1", "error"),
    }
    line = summary_line(rec.summary)
    assert line.startswith("1 passed, 2 failed, 1 errors · pass rate 33.3%")


@pytest.mark.parametrize("render", [render_record, render_comparison, render_diff])
def test_unknown_formats_name_the_valid_ones(render: object) -> None:
    with pytest.raises(UsageError, match="unknown --format 'xml'; use"):
        render({}, "xml")  # type: ignore[operator]


def _repeated() -> Record:
    """'flaky' passes overall (3/5 with min 0.6); 'broken' fails 1/5, mostly for one reason."""

    def failing(case: str, i: int, reason: str, output: str) -> dict[str, object]:
        r = row(case, "fail", sample=i, output=output, min_pass_rate=0.6)
        r["asserts"][0]["reason"] = reason
        return r

    flaky = [row("flaky", sample=i, min_pass_rate=0.6) for i in range(3)] + [
        failing("flaky", 3, "too long", "flaky out 3"),
        failing("flaky", 4, "too long", "flaky out 4"),
    ]
    broken = [
        row("broken", sample=0, min_pass_rate=0.6),
        failing("broken", 1, "missing 'refund'", "first miss"),
        failing("broken", 2, "too long", "long one"),
        failing("broken", 3, "missing 'refund'", "second miss"),
        failing("broken", 4, "missing 'refund'", "third miss"),
    ]
    return record(flaky + broken)


def test_failures_group_samples_by_case_with_the_most_common_reason() -> None:
    fails = failures(_repeated())
    assert len(fails) == 1  # the samples of 'flaky', which passed overall, are not failures
    f = fails[0]
    assert (f["case"], f["passed"], f["passes"], f["samples"]) == ("broken", "1/5", 1, 5)
    assert (f["assertion"], f["reason"], f["reason_samples"], f["failing"]) == (
        "equals",
        "missing 'refund'",
        3,
        4,
    )
    assert f["output"] == "first miss" and f["sample"] == 1  # one example, of that reason


def test_markdown_failure_table_has_one_row_per_case() -> None:
    md = render_record(_repeated(), "markdown")
    rows = [line for line in md.splitlines() if line.startswith("| p |")]
    assert len(rows) == 1 and "| broken | m | 1/5 |" in rows[0]
    assert "missing 'refund' (3 of 5 samples)" in rows[0] and "first miss" in rows[0]
