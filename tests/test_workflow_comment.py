"""The sticky-comment script of the comment job, run by Node.js the way actions/github-script runs
it (an async function of ``github``, ``context``, ``core``), against an in-memory GitHub API."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.test_workflow import load, workflow_texts

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is needed to run the github-script step")

MARKER = "<!-- promptctl-report -->"
BOT = {"login": "github-actions[bot]", "type": "Bot"}
MALLORY = {"login": "mallory", "type": "User"}

HARNESS = r"""
const fs = require('fs');
const [scriptPath, scenarioPath] = process.argv.slice(2);
const script = fs.readFileSync(scriptPath, 'utf8');
const scenario = JSON.parse(fs.readFileSync(scenarioPath, 'utf8'));
const calls = [];
const warnings = [];
const fail = (what) => {
  if (scenario.fail === what) {
    const e = new Error('Resource not accessible by integration');
    e.status = 403;
    throw e;
  }
};
const listComments = async () => {};
const github = {
  rest: { issues: {
    listComments,
    createComment: async (p) => { fail('create'); calls.push(['create', p]); return {}; },
    updateComment: async (p) => { fail('update'); calls.push(['update', p]); return {}; },
  } },
  paginate: async (fn, p) => {
    if (fn !== listComments) throw new Error('unexpected paginate');
    fail('list');
    calls.push(['list', p]);
    return scenario.comments;
  },
};
const context = { repo: { owner: 'o', repo: 'r' }, payload: { pull_request: { number: 7 } } };
const core = { warning: (m) => warnings.push(m), setFailed: (m) => warnings.push('FAILED ' + m) };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'core', 'require', script)(github, context, core, require)
  .then(() => console.log(JSON.stringify({ calls, warnings })))
  .catch((e) => { console.log(JSON.stringify({ calls, warnings, thrown: String(e) })); });
"""


@pytest.fixture(params=sorted(workflow_texts()))
def script(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    wf = load(workflow_texts()[request.param])
    step = wf["jobs"]["comment"]["steps"][0]
    path = tmp_path / "script.js"
    path.write_text(step["with"]["script"], "utf-8")
    return path


def run(script: Path, comments: list[dict[str, Any]], fail: str | None = None) -> dict[str, Any]:
    scenario = script.parent / "scenario.json"
    scenario.write_text(json.dumps({"comments": comments, "fail": fail}), "utf-8")
    harness = script.parent / "harness.js"
    harness.write_text(HARNESS, "utf-8")
    assert NODE is not None
    proc = subprocess.run(
        [NODE, str(harness), str(script), str(scenario)],
        capture_output=True,
        text=True,
        env={"REPORT": "## promptctl report\n\n1 case dropped", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


BODY = f"{MARKER}\n## promptctl report\n\n1 case dropped"


def test_creates_the_comment_when_there_is_none(script: Path) -> None:
    out = run(script, [{"id": 1, "user": MALLORY, "body": "looks good"}])
    assert out["calls"][1] == ["create", {"owner": "o", "repo": "r", "issue_number": 7, "body": BODY}]
    assert out["warnings"] == [] and "thrown" not in out


def test_updates_its_own_comment(script: Path) -> None:
    comments: list[dict[str, Any]] = [
        {"id": 1, "user": MALLORY, "body": "first"},
        {"id": 2, "user": BOT, "body": f"{MARKER}\nold report"},
    ]
    out = run(script, comments)
    assert out["calls"][1] == ["update", {"owner": "o", "repo": "r", "comment_id": 2, "body": BODY}]


def test_never_edits_someone_elses_comment_carrying_the_marker(script: Path) -> None:
    # anyone can paste the marker; a bot comment of another kind has no marker
    comments: list[dict[str, Any]] = [
        {"id": 1, "user": MALLORY, "body": f"{MARKER}\nfake report: all green"},
        {"id": 2, "user": {"login": "github-actions[bot]", "type": "User"}, "body": f"{MARKER}\nx"},
        {"id": 3, "user": BOT, "body": "a comment from another workflow"},
        {"id": 4, "user": None, "body": f"{MARKER}\nghost"},
    ]
    out = run(script, comments)
    assert [c[0] for c in out["calls"]] == ["list", "create"]


@pytest.mark.parametrize("fail", ["list", "create", "update"])
def test_read_only_token_warns_instead_of_failing(script: Path, fail: str) -> None:
    """Pull requests from forks get a read-only token: the step must not fail the run."""
    comments = [{"id": 2, "user": BOT, "body": f"{MARKER}\nold"}] if fail == "update" else []
    out = run(script, comments, fail=fail)
    assert "thrown" not in out
    assert len(out["warnings"]) == 1
    assert "403 Resource not accessible by integration" in out["warnings"][0]
    assert "the report is in the summary of the gate job" in out["warnings"][0]
