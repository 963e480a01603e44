"""The CI workflow shipped by `promptctl init` and the repository's own: safe and complete."""

from __future__ import annotations

from pathlib import Path

import yaml

from promptctl.scaffold import template_text


def _check(text: str) -> None:
    wf = yaml.safe_load(text)
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in on and "pull_request_target" not in on
    gate = wf["jobs"]["gate"]
    steps = gate["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    assert any(
        s.get("uses", "").startswith("actions/cache") and s["with"]["path"] == ".promptctl/cache"
        for s in steps
    )
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "promptctl compare --gate" in runs and "promptctl diff" in runs and "GITHUB_STEP_SUMMARY" in runs
    assert "promptctl records pull" in runs
    sticky = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    assert (
        "<!-- promptctl-report -->" in sticky["with"]["script"]
        and "updateComment" in sticky["with"]["script"]
    )
    assert any("exit 1" in s.get("run", "") and "failure" in s.get("if", "") for s in steps)
    record = wf["jobs"]["record"]
    assert record["if"] == "github.event_name == 'push'"
    record_runs = "\n".join(s.get("run", "") for s in record["steps"])
    assert "promptctl test" in record_runs and "promptctl records push" in record_runs


def test_init_workflow() -> None:
    _check(template_text("workflow.yml"))


def test_repository_workflow_matches_init_except_install(repo_root: Path) -> None:
    ours = (repo_root / ".github/workflows/promptctl.yml").read_text()
    _check(ours)
    strip = [line for line in ours.splitlines() if not line.startswith("#") and "pip install" not in line]
    theirs = [
        line
        for line in template_text("workflow.yml").splitlines()
        if not line.startswith("#") and "pip install" not in line
    ]
    assert strip == theirs
