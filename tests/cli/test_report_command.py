"""`promptctl report`: the pull-request report from the JSON that `compare` and `diff` wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import invoke
from tests.report.comparisons import a_pull_request
from tests.report.diffs import thousand_cases
from tests.review.common import KEY, commit, config, new_repo

URL = "https://github.com/o/r/actions/runs/7"


def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    c, d, log = tmp_path / "compare.json", tmp_path / "diff.json", tmp_path / "compare.log"
    c.write_text(json.dumps(a_pull_request()), "utf-8")
    d.write_text(json.dumps(thousand_cases()), "utf-8")
    log.write_text("gate: FAILED — quality drop\n", "utf-8")
    return c, d, log


def test_report_within_a_budget_outside_any_project(tmp_path: Path) -> None:
    c, d, log = files(tmp_path)
    out = tmp_path / "comment.md"
    args = ["report", "--compare", str(c), "--diff", str(d), "--gate-exit", "1", "--log", str(log)]
    r = invoke(*args, "--full-report", URL, "-o", str(out), cwd=tmp_path)
    assert r.exit_code == 0, r.output
    md = out.read_text("utf-8")
    assert md.startswith("**promptctl gate: failed**") and len(md.encode()) <= 60_000
    assert "gate: FAILED — quality drop" in md and f"[job summary]({URL})" in md
    whole = invoke(*args, "--max-bytes", "0", cwd=tmp_path)
    assert whole.exit_code == 0 and "Left out" not in whole.stdout and len(whole.stdout.encode()) > 60_000
    small = invoke(*args, "--max-bytes", "5000", cwd=tmp_path)
    assert small.exit_code == 0 and len(small.stdout.encode()) <= 5_000 + 1  # + the final newline


def test_reports_that_were_not_written(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("", "utf-8")
    r = invoke(
        "report", "--compare", "absent.json", "--diff", "empty.json", "--log", "absent.log", cwd=tmp_path
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("**promptctl gate: did not run** (exit none): see the job log.")
    assert "promptctl diff wrote no report" in r.stdout


def test_bad_input_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"base": 1,\n  oops}', "utf-8")
    r = invoke("report", "--compare", "bad.json", cwd=tmp_path)
    assert r.exit_code == 2 and "bad.json:2:3: not JSON: Expecting property name" in r.output
    (tmp_path / "other.json").write_text('{"rows": []}', "utf-8")
    r = invoke("report", "--diff", "other.json", cwd=tmp_path)
    assert r.exit_code == 2 and "other.json: not a report of `promptctl diff --format json`" in r.output
    shape = a_pull_request()
    shape["units"] = [{"transition": "pass_to_fail"}]
    (tmp_path / "shape.json").write_text(json.dumps(shape), "utf-8")
    r = invoke("report", "--compare", "shape.json", cwd=tmp_path)
    assert r.exit_code == 2 and "shape.json: unexpected shape of a JSON report (KeyError" in r.output
    assert "Traceback" not in r.output
    r = invoke("report", "--full-report", "javascript:alert(1)", cwd=tmp_path)
    assert r.exit_code == 2 and "--full-report must be an http(s) URL" in r.output


def test_compare_markdown_within_a_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    prompt = 'inputs: {text: {}}\ntemplate: "{{ text }}"\n'
    cases = "prompt: echo\ncases:\n" + "".join(
        f"  - {{id: c{i:02d}, vars: {{text: hello {i}}}, assert: [{{type: contains, value: hello}}]}}\n"
        for i in range(40)
    )
    with FakeServer(spec={"mode": "echo"}) as srv:
        root, base = new_repo(
            tmp_path / "repo",
            {"promptctl.yaml": config(srv.url), "prompts/echo.yaml": prompt, "cases/echo.yaml": cases},
        )
        commit(root, {"prompts/echo.yaml": prompt.replace("{{ text }}", "{{ text | upper }}")}, "upper")
        r = invoke("compare", base, "HEAD", "--gate", "--format", "markdown", "--max-bytes", "2500", cwd=root)
        assert r.exit_code == 1, r.output
        assert len(r.stdout.encode()) <= 2_500 + 1
        assert (
            "| pass→fail | 40 | 40 |" in r.stdout and "**pass→fail** · `echo` · `fake` · 40 cases" in r.stdout
        )
        assert "Left out to keep this report under 2,500 bytes" in r.stdout
        full = invoke("compare", base, "HEAD", "--format", "markdown", "--max-bytes", "0", cwd=root)
        assert full.exit_code == 0 and full.stdout.count("| `c") == 40 and "Left out" not in full.stdout
        r = invoke("compare", base, "HEAD", "--max-bytes", "100", cwd=root)
        assert r.exit_code == 2 and "--max-bytes applies to --format markdown only" in r.output
