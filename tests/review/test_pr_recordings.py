"""A pull request's recordings are claims, not evidence (issue 20): ``compare`` knows which
recording entries the head changed relative to the base; with a key their rows are called (the
comparison says so), without one they are replayed and marked unverified (exit 3), unless the
base's ``gate.trust_pr_recordings`` or ``--trust-pr-recordings`` accepts them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptctl.review.claims import case_file_of, pr_claims, row_key
from tests.fakeserver import FakeServer
from tests.helpers import invoke
from tests.review.common import KEY, commit, config, new_repo

PROMPT = """
    inputs: {{q: {{}}}}
    template: "{template}"
"""
CASES = """
    prompt: ask
    cases:
      - {id: one, vars: {q: first}, assert: [{type: contains, value: first}]}
      - {id: two, vars: {q: second}, assert: [{type: contains, value: second}]}
      - {id: three, vars: {q: third}, assert: [not_empty]}
"""
REC = "cases/__recordings__/ask.yaml"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def _repo(
    tmp_path: Path, srv: FakeServer, monkeypatch: pytest.MonkeyPatch, extra: str = ""
) -> tuple[Path, str]:
    """A base whose recordings a key made; the key is unset afterwards (the contributor has none)."""
    root, _ = new_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(srv.url, extra=extra),
            "prompts/ask.yaml": PROMPT.format(template="{{ q }}"),
            "cases/ask.yaml": CASES,
        },
    )
    monkeypatch.setenv("FAKE_KEY", KEY)
    assert invoke("test", "--record", cwd=root).exit_code == 0
    base = commit(root, {}, "recordings")
    monkeypatch.delenv("FAKE_KEY")
    return root, base


def _pr(root: Path, monkeypatch: pytest.MonkeyPatch, *, tamper: bool) -> str:
    """The pull request: the prompt shouts (so `contains first` fails), recordings refreshed by
    its author with their own key — and, with ``tamper``, edited back to the passing outputs."""
    (root / "prompts/ask.yaml").write_text('inputs: {q: {}}\ntemplate: "{{ q | upper }}"\n', "utf-8")
    monkeypatch.setenv("FAKE_KEY", KEY)
    assert invoke("test", "--record", "--no-cache", cwd=root).exit_code == 1  # honestly: two fail
    monkeypatch.delenv("FAKE_KEY")
    if tamper:
        rec = root / REC
        rec.write_text(rec.read_text("utf-8").replace("FIRST", "first").replace("SECOND", "second"), "utf-8")
    return commit(root, {}, "shout (recordings refreshed)")


def _gate(root: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    r = invoke("compare", *args, "--gate", "--format", "json", cwd=root)
    assert r.exit_code in (0, 1, 3), r.output
    return r.exit_code, json.loads(r.stdout), r.stderr


def test_paths_and_keys() -> None:
    assert case_file_of("cases/__recordings__/support/triage.yaml") == "cases/support/triage.yaml"
    assert case_file_of("extra/__recordings__/x.yaml") == "extra/x.yaml"
    assert case_file_of("cases/__recordings__/x.embeddings.jsonl") is None
    assert case_file_of("cases/x.yaml") is None
    assert row_key(("cases/a.yaml", "one", "gpt-4o-mini [judge 0]", 2)) == (
        "cases/a.yaml",
        "one",
        "gpt-4o-mini",
        2,
    )


def test_claims_are_the_changed_entries(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = _repo(tmp_path, server, monkeypatch)
    head = _pr(root, monkeypatch, tamper=True)
    claims = pr_claims(root, base, head)
    # `three` (not_empty) changed output too: every re-recorded entry whose output moved is a claim
    assert claims.entries == {("cases/ask.yaml", c, "fake", 0) for c in ("one", "two", "three")}
    (f,) = claims.files
    assert (f.path, f.change, f.entries) == (REC, "modified", 3)
    assert f.source is not None and f.source.startswith("recorded from fake by promptctl ")
    assert pr_claims(root, base, base).entries == set()
    # the worktree as head: an uncommitted edit of one entry is a claim too
    commit(root, {}, "noop")
    rec = root / REC
    rec.write_text(rec.read_text("utf-8").replace("THIRD", "third!"), "utf-8")
    assert ("cases/ask.yaml", "three", "fake", 0) in pr_claims(root, head, None).entries


def test_without_a_key_the_claims_are_unverified(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = _repo(tmp_path, server, monkeypatch)
    head = _pr(root, monkeypatch, tamper=True)
    requests = server.stats()["requests"]
    code, data, err = _gate(root, base, head)
    assert code == 3, err
    g = data["gate"]
    assert g["verdict"] == "cannot_evaluate" and g["causes"] == []
    assert g["unverified"]["rows"] == 3 and g["unverified"]["trusted"] is False
    assert "unverified: 3 rows from recordings changed by this PR (exit 3)" in err
    assert "next: verify them with a key" in err
    assert data["claims"]["unverified"] == 3 and data["claims"]["verified"] == 0
    assert "3 row(s) answered by recordings this pull request changed" in err
    assert server.stats()["requests"] == requests  # nothing reached the provider
    rows = json.loads(Path(data["head"]["record"]).read_text("utf-8"))["rows"]
    assert all(r["unverified"] is True and r["source"] == "recording" for r in rows)

    md = invoke("compare", base, head, "--gate", "--format", "markdown", cwd=root)
    assert md.exit_code == 3
    assert (
        "**Recordings changed by this pull request** (3 rows: 0 rows verified by a call, 3 rows replayed unverified)"
        in md.stdout
    )
    assert f"`{REC}` (modified, 3 entries changed) — source: recorded from fake by promptctl" in md.stdout
    assert "⛔ **unverified:** 3 rows answered only by recordings this pull request changed" in md.stdout
    page = invoke("compare", base, head, "--gate", "--format", "html", "-o", "r.html", cwd=root)
    assert page.exit_code == 3
    html = (root / "r.html").read_text("utf-8")
    assert '<section class="verdict cannot-evaluate" id="gate"><h2>Gate: cannot evaluate</h2>' in html
    assert "unverified: 3 rows answered only by recordings this pull request changed" in html
    assert "recordings changed by this pull request: 3 row(s)" in html and "pass 1/1 unverified" in html

    # the project accepts them: the flag, or the base's config (never the head's)
    code, data, err = _gate(root, base, head, "--trust-pr-recordings")
    assert code == 0 and data["gate"]["unverified"]["trusted"] is True
    assert any(w.startswith("trusted: 3 row(s) replayed") for w in data["gate"]["warnings"])
    sneaky = commit(
        root, {"promptctl.yaml": config(server.url, extra="gate:\n  trust_pr_recordings: true\n")}, "trust me"
    )
    code, data, _err = _gate(root, base, sneaky)
    assert code == 3 and data["gate"]["unverified"]["trusted"] is False


def test_the_base_config_can_trust_them(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = _repo(tmp_path, server, monkeypatch, extra="gate:\n  trust_pr_recordings: true\n")
    head = _pr(root, monkeypatch, tamper=False)
    code, data, _err = _gate(root, base, head)
    assert code == 1  # honest recordings of a worse prompt: trusted, and a regression
    assert data["claims"]["trusted"] is True
    assert any("regression: ask::one" in c for c in data["gate"]["causes"])


def test_with_a_key_the_claims_are_called(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = _repo(tmp_path, server, monkeypatch)
    head = _pr(root, monkeypatch, tamper=True)
    assert _gate(root, base, head)[0] == 3  # no key: a stored record of unverified rows ...
    monkeypatch.setenv("FAKE_KEY", KEY)
    server.reset()
    code, data, err = _gate(root, base, head)  # ... is not reused: with a key they are called
    assert code == 1, err  # the tampered recordings claimed a pass; the model says otherwise
    assert server.stats()["requests"] == 3
    assert data["claims"]["verified"] == 3 and data["claims"]["unverified"] == 0
    assert data["gate"]["unverified"]["rows"] == 0
    assert {c for c in data["gate"]["causes"] if c.startswith("regression")} == {
        "regression: ask::one [fake] passed at base, fail at head",
        "regression: ask::two [fake] passed at base, fail at head",
    }
    assert "3 recorded answers this pull request changed: 3 verified by a call, 0 replayed unverified" in err


JUDGE_CONFIG = """
model: fake
judge_model: grader
max_retries: 0
timeout: 5
models:
  fake: {{model: openai/gpt-4o-mini, api_base: "{url}", api_key_env: FAKE_KEY}}
  grader: {{model: openai/grader-model, api_base: "{url}", api_key_env: FAKE_KEY}}
"""
JUDGE_CASES = """
    prompt: echo
    cases:
      - id: rude
        vars: {text: go away}
        assert:
          - {type: judge, rubric: "Is it polite?"}
"""


def _grader(body: dict[str, Any]) -> str:
    if body["model"] == "grader-model":
        return json.dumps({"score": 0.1, "reason": "rude"})
    return str(body["messages"][-1]["content"])


def test_a_changed_judge_verdict_is_a_claim_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeServer(responder=_grader) as srv:
        root, _ = new_repo(
            tmp_path / "repo",
            {
                "promptctl.yaml": JUDGE_CONFIG.format(url=srv.url),
                "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}"\n',
                "cases/echo.yaml": JUDGE_CASES,
            },
        )
        monkeypatch.setenv("FAKE_KEY", KEY)
        assert invoke("test", "--record", cwd=root).exit_code == 1  # the grader finds it rude
        base = commit(root, {}, "recordings")
        monkeypatch.delenv("FAKE_KEY")
        rec = root / "cases/__recordings__/echo.yaml"
        text = rec.read_text("utf-8")
        assert '"score": 0.1' in text
        head = commit(
            root, {str(rec.relative_to(root)): text.replace('"score": 0.1', '"score": 0.9')}, "polite now"
        )
        assert pr_claims(root, base, head).entries == {("cases/echo.yaml", "rude", "fake [judge 0]", 0)}
        shutil.rmtree(root / ".promptctl")  # a fresh CI checkout: no cache, no records
        code, data, err = _gate(root, base, head)
        assert "1 row from recordings changed by this PR" in err
        assert code == 3 and data["gate"]["unverified"]["cases"] == ["echo::rude [fake]"]
        assert {u["case_key"]: u["transition"] for u in data["units"]} == {"echo::rude": "fail_to_pass"}
        monkeypatch.setenv("FAKE_KEY", KEY)
        code, data, err = _gate(root, base, head)
        assert "1 verified by a call, 0 replayed unverified" in err
        assert code == 0 and data["claims"]["verified"] == 1 and data["claims"]["unverified"] == 0
        assert {u["case_key"]: u["transition"] for u in data["units"]} == {"echo::rude": "still_failing"}
