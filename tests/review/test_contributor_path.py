"""The contributor's path, end to end on throwaway repositories and the loopback server (issue 20):
a pull request from a fork — no key in CI — changes a prompt and brings recordings its author
refreshed. The gate job's commands (those of the workflow: compare, diff, report) produce a
comment that shows the rendered diff and the replayed results marked unverified, and exit 3.
A maintainer's run with a key verifies them by calling the model: exit 0 for a good change,
exit 1 for one whose recordings claimed what the model does not give."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import commit_all, git, invoke
from tests.review.common import KEY, config, new_repo

PROMPT = 'inputs: {{q: {{}}}}\ntemplate: "{template}"\n'
CASES = """
    prompt: ask
    cases:
      - {id: one, vars: {q: first}, assert: [{type: contains, value: first}]}
      - {id: two, vars: {q: second}, assert: [{type: contains, value: second}]}
"""


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def _upstream(tmp_path: Path, srv: FakeServer, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    root, _ = new_repo(
        tmp_path / "upstream",
        {
            "promptctl.yaml": config(srv.url),
            "prompts/ask.yaml": PROMPT.format(template="{{ q }}"),
            "cases/ask.yaml": CASES,
        },
    )
    monkeypatch.setenv("FAKE_KEY", KEY)
    assert invoke("test", "--record", cwd=root).exit_code == 0
    monkeypatch.delenv("FAKE_KEY")
    return root, commit_all(root, "recordings")


def _fork_pr(
    tmp_path: Path,
    upstream: Path,
    template: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    tamper: tuple[tuple[str, str], ...] = (),
) -> str:
    """The contributor: a clone, a prompt edit, recordings refreshed with their own key
    (``tamper``: then an output edited by hand), one commit. Returns the commit."""
    fork = tmp_path / f"fork-{len(list(tmp_path.iterdir()))}"
    git(tmp_path, "clone", "-q", str(upstream), str(fork))
    (fork / "prompts/ask.yaml").write_text(PROMPT.format(template=template), "utf-8")
    monkeypatch.setenv("FAKE_KEY", KEY)  # the author's own key
    invoke("test", "--record", cwd=fork)
    monkeypatch.delenv("FAKE_KEY")
    rec = fork / "cases/__recordings__/ask.yaml"
    for old, new in tamper:
        rec.write_text(rec.read_text("utf-8").replace(old, new), "utf-8")
    sha = commit_all(fork, "contributor: reword the prompt, recordings refreshed")
    git(upstream, "fetch", "-q", str(fork), f"{sha}:refs/pull/{sha[:7]}/head")
    return sha


def _gate_job(tmp_path: Path, upstream: Path, base: str, head: str) -> tuple[int, str]:
    """What the workflow's gate job runs, in a fresh checkout with no key: the exit code of
    `compare --gate` and the comment `report` assembles."""
    ci = tmp_path / f"ci-{head[:7]}"
    git(tmp_path, "clone", "-q", str(upstream), str(ci))
    git(ci, "fetch", "-q", "origin", f"refs/pull/{head[:7]}/head")
    git(ci, "checkout", "-q", head)
    gate = invoke(
        "compare", "--gate", base, "HEAD", "--format", "json", "-o", "promptctl-compare.json", cwd=ci
    )
    (ci / "promptctl-compare.log").write_text(gate.stderr, "utf-8")
    diff = invoke("diff", base, "HEAD", "--format", "json", "-o", "promptctl-diff.json", cwd=ci)
    assert diff.exit_code == 0, diff.output
    report = invoke(
        "report",
        "--gate-exit",
        str(gate.exit_code),
        "--compare",
        "promptctl-compare.json",
        "--diff",
        "promptctl-diff.json",
        "--log",
        "promptctl-compare.log",
        "--max-bytes",
        "60000",
        cwd=ci,
    )
    assert report.exit_code == 0, report.output
    return gate.exit_code, report.stdout


def _maintainer(
    tmp_path: Path, upstream: Path, base: str, head: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict]:  # type: ignore[type-arg]
    """A maintainer's run with the key: a checkout of the pull request, then the gate."""
    work = tmp_path / f"maintainer-{head[:7]}"
    git(tmp_path, "clone", "-q", str(upstream), str(work))
    git(work, "fetch", "-q", "origin", f"refs/pull/{head[:7]}/head")
    git(work, "checkout", "-q", head)
    monkeypatch.setenv("FAKE_KEY", KEY)
    try:
        r = invoke("compare", "--gate", base, "HEAD", "--format", "json", cwd=work)
    finally:
        monkeypatch.delenv("FAKE_KEY")
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout)


def test_fork_pull_request_then_a_maintainer_with_a_key(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream, base = _upstream(tmp_path, server, monkeypatch)
    good = _fork_pr(tmp_path, upstream, "Answer: {{ q }}", monkeypatch)

    code, comment = _gate_job(tmp_path, upstream, base, good)
    assert code == 3
    assert comment.startswith("**promptctl gate: cannot evaluate** (exit 3): not a quality drop")
    assert "unverified: 2 rows from recordings changed by this PR (exit 3)" in comment
    assert "⛔ **unverified:** 2 rows answered only by recordings this pull request changed" in comment
    assert (
        "`cases/__recordings__/ask.yaml` (modified, 2 entries changed) — source: recorded from fake"
        in comment
    )
    assert "-first\n+Answer: first" in comment  # the rendered diff of the request the model will see
    assert (
        "| `one` | pass 1/1 | pass 1/1 (unverified) |" in comment
    )  # the replayed results (the author's claim)
    assert "regression" not in comment

    requests = server.stats()["requests"]
    code, data = _maintainer(tmp_path, upstream, base, good, monkeypatch)
    assert code == 0 and data["gate"]["verdict"] == "passed"
    assert data["claims"]["verified"] == 2 and data["gate"]["unverified"]["rows"] == 0
    assert server.stats()["requests"] == requests + 2  # verified by calling the model

    # the same path with a recording edited to claim what the model does not answer
    shout = "{{ q | upper }}"
    bad = _fork_pr(tmp_path, upstream, shout, monkeypatch, tamper=(("FIRST", "first"), ("SECOND", "second")))
    code, comment = _gate_job(tmp_path, upstream, base, bad)
    assert code == 3 and "| `one` | pass 1/1 | pass 1/1 (unverified) |" in comment  # only claimed ...
    code, data = _maintainer(tmp_path, upstream, base, bad, monkeypatch)
    assert code == 1  # ... and the model says otherwise
    assert "regression: ask::one [fake] passed at base, fail at head" in data["gate"]["causes"]
    # an honest pull request of the same change fails without a key already: a drop its own
    # recordings show is believed (they can only make it look worse)
    honest = _fork_pr(tmp_path, upstream, shout, monkeypatch)
    code, comment = _gate_job(tmp_path, upstream, base, honest)
    assert code == 1 and comment.startswith("**promptctl gate: failed**")
