"""The CI workflows: the repository's own and the one ``promptctl init`` writes.

What is checked is what they do on GitHub: when they run, with which token permissions and
secrets, which code they pin, where untrusted text can reach a shell, and that both pass the
security linter (zizmor) and GitHub's workflow schema, so a regression fails CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptctl.scaffold import InstallSource, template_text, workflow_text

REPO = Path(__file__).resolve().parent.parent
OWN = REPO / ".github/workflows/promptctl.yml"
PINNED = InstallSource("promptctl-git==1.2.3", "a release")
UNKNOWN = InstallSource(None, "promptctl 0.1.0 here is an editable install of the directory /src")
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses:\s*(\S+)\s+#\s*v\d+\.\d+\.\d+\s*$")


def workflow_texts() -> dict[str, str]:
    """Every workflow shipped: ours, the template, and what init writes (pinned or to fill in)."""
    return {
        "repository": OWN.read_text("utf-8"),
        "template": template_text("workflow.yml"),
        "init-pinned": workflow_text(PINNED)[0],
        "init-fill-in": workflow_text(UNKNOWN)[0],
    }


def load(text: str) -> dict[str, Any]:
    wf: dict[Any, Any] = yaml.safe_load(text)
    if True in wf:  # YAML 1.1 reads the key `on` as a boolean
        wf["on"] = wf.pop(True)
    return wf


@pytest.fixture(params=sorted(workflow_texts()))
def wf_text(request: pytest.FixtureRequest) -> str:
    return workflow_texts()[request.param]


@pytest.fixture
def wf(wf_text: str) -> dict[str, Any]:
    return load(wf_text)


def steps(wf: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in wf["jobs"].items():
        for step in job["steps"]:
            yield name, step


def step_named(job: dict[str, Any], prefix: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("name", "").startswith(prefix))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]


# -- triggers, jobs, permissions -------------------------------------------------------------------
def test_triggers_pull_requests_and_default_branch_pushes_only(wf: dict[str, Any]) -> None:
    on = wf["on"]
    assert set(on) == {"pull_request", "push"}  # never pull_request_target / workflow_run
    assert on["push"] == {"branches": ["main", "master"]}
    jobs = wf["jobs"]
    assert set(jobs) == {"gate", "comment", "record"}
    assert jobs["gate"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["record"]["if"] == "github.event_name == 'push'"
    assert "github.event_name == 'pull_request'" in jobs["comment"]["if"]


def test_least_permissions_per_job(wf: dict[str, Any]) -> None:
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    # the job that runs the pull request's code can only read; the one that can comment runs none
    assert jobs["gate"]["permissions"] == {"contents": "read"}
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}
    assert jobs["record"]["permissions"] == {"contents": "write"}


def test_only_pull_requests_cancel_in_progress(wf: dict[str, Any]) -> None:
    conc = wf["concurrency"]
    assert conc["group"] == "promptctl-${{ github.ref }}"
    assert conc["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


# -- pins, credentials, secrets, injection --------------------------------------------------------
def test_every_action_pinned_to_a_commit_with_its_version(wf: dict[str, Any], wf_text: str) -> None:
    refs = [s["uses"] for _, s in steps(wf) if "uses" in s]
    assert refs, "no actions?"
    for ref in refs:
        assert SHA_PIN.match(ref), f"{ref}: pin actions to a full commit SHA"
    commented = {m.group(1) for line in wf_text.splitlines() if (m := VERSION_COMMENT.search(line))}
    assert commented == set(refs), "every `uses:` line ends with its version, e.g. `# v4.2.2`"


def test_pins_agree_across_workflows() -> None:
    seen: dict[str, set[str]] = {}
    for text in workflow_texts().values():
        for line in text.splitlines():
            if m := VERSION_COMMENT.search(line):
                seen.setdefault(m.group(1).split("@")[0], set()).add(line.split("uses:")[1].strip())
    assert seen and all(len(v) == 1 for v in seen.values()), seen


def test_checkouts_keep_no_credentials(wf: dict[str, Any]) -> None:
    checkouts = [s for _, s in steps(wf) if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 2  # gate and record; the comment job checks nothing out
    for s in checkouts:
        assert s["with"]["persist-credentials"] is False
        assert s["with"]["fetch-depth"] == 0  # compare needs the base commit's objects


def test_no_expression_inside_scripts(wf: dict[str, Any]) -> None:
    for _, s in steps(wf):
        for script in (s.get("run", ""), s.get("with", {}).get("script", "")):
            assert "${{" not in script, f"{s.get('name')}: pass values through env:, not ${{{{ }}}}"


def test_secrets_reach_only_the_steps_that_call_models(wf: dict[str, Any], wf_text: str) -> None:
    assert "env" not in wf or all("secrets." not in str(v) for v in wf["env"].values())
    for job in wf["jobs"].values():
        assert "secrets." not in json.dumps(job.get("env", {}))
    with_secrets = [
        (name, s["run"].split()[:2]) for name, s in steps(wf) if "secrets." in json.dumps(s.get("env", {}))
    ]
    assert sorted(with_secrets) == [("gate", ["code=0", "promptctl"]), ("record", ["promptctl", "test"])]
    assert "secrets.GITHUB_TOKEN" not in wf_text


def test_token_reaches_only_the_git_notes_steps(wf: dict[str, Any]) -> None:
    holders = []
    for name, s in steps(wf):
        if "github.token" in json.dumps(s.get("env", {})):
            holders.append((name, s["name"]))
            assert "promptctl records" in s["run"] and "::add-mask::" in s["run"]
            assert 'GIT_CONFIG_KEY_0="http.$GITHUB_SERVER_URL/.extraheader"' in s["run"]
    assert holders == [
        ("gate", "Fetch the base branch's run records (git notes)"),
        ("record", "Publish the run record as a git note"),
    ]


def test_no_workflow_installs_an_unpinned_name(wf_text: str) -> None:
    installs = [line.strip() for line in wf_text.splitlines() if "pip install" in line]
    assert installs
    for line in installs:
        assert not re.search(r"pip install\s+[\"']?promptctl([\s\"']|$)", line), line
        assert line.endswith(('"$PROMPTCTL_REQUIREMENT"', "-c requirements.lock -e .")), line


# -- the gate job -----------------------------------------------------------------------------
def test_gate_job_runs_compare_diff_summary_and_verdict(wf: dict[str, Any]) -> None:
    gate = wf["jobs"]["gate"]
    assert uses(gate, "actions/cache")[0]["with"]["path"] == ".promptctl/cache"
    compare = step_named(gate, "Compare")
    assert compare["id"] == "gate" and "continue-on-error" not in compare
    assert (
        'promptctl compare --gate "$BASE_SHA" HEAD --format json -o promptctl-compare.json' in compare["run"]
    )
    assert compare["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert 'echo "code=$code" >> "$GITHUB_OUTPUT"' in compare["run"]
    # report, summary and verdict run whatever happened before them
    for prefix in ("Rendered prompt diffs", "Report and job summary", "Verdict"):
        assert step_named(gate, prefix)["if"] == "always()"
    report = step_named(gate, "Report")["run"]
    assert "GITHUB_STEP_SUMMARY" in report
    # promptctl assembles the report within a budget; nothing cuts it with head/tail/cut
    assert report.count("promptctl report ") == 2 and "--max-bytes 60000 --full-report" in report
    assert not re.search(r"\b(head|tail|cut|dd)\b", report)
    assert gate["outputs"] == {"report": "${{ steps.report.outputs.report }}"}
    assert gate["steps"][-1]["name"] == "Verdict"


# -- the comment job --------------------------------------------------------------------------
def test_comment_job_runs_no_repository_code(wf: dict[str, Any]) -> None:
    job = wf["jobs"]["comment"]
    assert job["needs"] == "gate"
    # runs after a failed gate (to post its report), not after a cancelled one (superseded)
    assert job["if"].startswith("${{ !cancelled() &&") and "needs.gate.outputs.report != ''" in job["if"]
    assert [s.get("uses", "").split("@")[0] for s in job["steps"]] == ["actions/github-script"]
    assert job["steps"][0]["env"] == {"REPORT": "${{ needs.gate.outputs.report }}"}


def test_sticky_comment_is_found_by_marker_and_bot_author(wf: dict[str, Any]) -> None:
    script = wf["jobs"]["comment"]["steps"][0]["with"]["script"]
    assert "const marker = '<!-- promptctl-report -->';" in script
    assert "const bot = 'github-actions[bot]';" in script
    assert "c.user.login === bot" in script and "c.body.startsWith(marker)" in script
    assert "catch (error)" in script and "core.warning(" in script
    # behaviour of this script against a fake GitHub API: tests/test_workflow_comment.py


# -- the record job ---------------------------------------------------------------------------
def test_record_job_runs_the_suite_and_publishes_notes(wf: dict[str, Any]) -> None:
    rec = wf["jobs"]["record"]
    assert step_named(rec, "Run the suite")["run"] == "promptctl test"
    publish = step_named(rec, "Publish")
    assert publish["if"] == "${{ !cancelled() }}"  # a failing suite still publishes its record
    assert "promptctl records pull origin" in publish["run"]
    assert "promptctl records push origin" in publish["run"]


# -- init's workflow versus ours ----------------------------------------------------------------
def _strip_install(wf: dict[str, Any]) -> dict[str, Any]:
    wf.pop("env", None)
    for _, s in steps(wf):
        if s.get("name") == "Install promptctl":
            s.pop("run")
    return wf


def test_repository_workflow_is_inits_except_the_install() -> None:
    ours = load(OWN.read_text("utf-8"))
    assert "env" not in ours
    installs = [s["run"] for _, s in steps(ours) if s.get("name") == "Install promptctl"]
    assert installs == ["python -m pip install -c requirements.lock -e ."] * 2
    assert _strip_install(ours) == _strip_install(load(template_text("workflow.yml")))


def test_init_workflow_requirement_line() -> None:
    text, line = workflow_text(PINNED)
    assert text.splitlines()[line - 1] == '  PROMPTCTL_REQUIREMENT: "promptctl-git==1.2.3"'
    assert load(text)["env"] == {"PROMPTCTL_REQUIREMENT": "promptctl-git==1.2.3"}
    text, line = workflow_text(UNKNOWN)
    assert text.splitlines()[line - 1].startswith('  PROMPTCTL_REQUIREMENT: ""  # FILL IN, e.g. ')
    assert "editable install of the directory /src" in text.splitlines()[line - 1]
    assert load(text)["env"] == {"PROMPTCTL_REQUIREMENT": ""}


# -- the linters ------------------------------------------------------------------------------
def tool(name: str) -> str:
    if sys.version_info < (3, 11):  # zizmor's and check-jsonschema's wheels need Python 3.11
        pytest.skip(f"{name} needs Python 3.11 or newer (the dev extra installs it there)")
    found = Path(sys.executable).parent / name
    path = str(found) if found.exists() else shutil.which(name)
    assert path, f"{name} is a dev dependency: pip install -e '.[dev]'"
    return path


def lint_workflow(path: Path) -> None:
    """zizmor (no finding at its default level, offline) and GitHub's workflow schema."""
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_CONFIG")}
    z = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--format", "plain", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=path.parent,
    )
    assert z.returncode == 0 and "No findings to report" in z.stdout, z.stdout + z.stderr
    s = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert s.returncode == 0, s.stdout + s.stderr


def test_workflows_pass_zizmor_and_the_schema(tmp_path: Path) -> None:
    for name, text in workflow_texts().items():
        target = tmp_path / name / "promptctl.yml"
        target.parent.mkdir()
        target.write_text(text, "utf-8")
        lint_workflow(target)
    lint_workflow(OWN)


def test_linter_catches_a_regression(tmp_path: Path) -> None:
    """The lint really fails on what it guards against (so a pass above means something)."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        template_text("workflow.yml").replace(
            "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", "actions/checkout@v7", 1
        ),
        "utf-8",
    )
    with pytest.raises(AssertionError, match="unpinned-uses"):
        lint_workflow(bad)
