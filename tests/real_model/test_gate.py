"""`compare --gate` on a suite whose quality did not change (every case touched by a check that
always passes), sampled at temperature 0.8 with repeats: the two commits get different samples
(real sampling noise), and the gate must not call that noise a drop.

Each test starts a server of its own with a fixed seed and runs ``-j 1``: llama-cpp-python derives
each request's sampling seed from the previous one, so every sample is a different draw, yet the
whole test is reproducible (it cannot fail one run in twenty by chance)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from math import comb
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import commit_all, init_repo, write_files
from tests.real_model.conftest import cli, config, last_record, own_server

pytestmark = pytest.mark.real_model

SEED = 5
PROMPT = """
    inputs: {q: {}}
    params: {temperature: 0.8, max_tokens: 40}
    messages:
      - role: user
        content: "{{ q }}"
"""
QUESTIONS = {
    "france": ("What is the capital of France? Answer in one sentence.", "Paris"),
    "sea": ("Write one line of poetry about the sea.", "[sea, ocean]"),
    "color": ("Name a color. Answer with one word.", "blue"),
}


def cases_yaml(metric: bool) -> str:
    extra = ", metric: accuracy" if metric else ""
    return "prompt: sample\nrepeat: 10\nmin_pass_rate: 0.5\ncases:\n" + "".join(
        f"  - id: {cid}\n    vars: {{q: {q!r}}}\n    assert: [{{type: icontains, value: {v}{extra}}}]\n"
        for cid, (q, v) in QUESTIONS.items()
    )


@pytest.fixture
def seeded_url(real_model_url: str, tmp_path: Path) -> Iterator[str]:
    with own_server(tmp_path, SEED) as url:
        yield url


def fisher_drop_p(pass_base: int, n_base: int, pass_head: int, n_head: int) -> float:
    """One-sided Fisher exact p for "head passes less often": P(X <= pass_head), X hypergeometric."""
    total, passes = n_base + n_head, pass_base + pass_head
    denom = comb(total, n_head)
    return sum(comb(passes, k) * comb(total - passes, n_head - k) for k in range(0, pass_head + 1)) / denom


def two_sampled_commits(root: Path, metric: bool) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """Commit A, sample the suite live; commit B, sample it again. B gives every case one more
    check that always passes (`not_empty`): the requests are the same, so is the quality, but every
    case is on trial (a case the change did not touch is not judged, only reported as drift)."""
    base = commit_all(root, "suite")
    r1 = cli(root, "test", "--no-cache", "-j", "1")
    assert r1.code in (0, 1), r1.output
    rec_a = last_record(root)
    checked = cases_yaml(metric).replace("assert: [", "assert: [not_empty, ")
    write_files(root, {"cases/sample.yaml": checked, "README.md": "The prompts did not change.\n"})
    head = commit_all(root, "one more check per case")
    r2 = cli(root, "test", "--no-cache", "-j", "1")
    assert r2.code in (0, 1), r2.output
    rec_b = last_record(root)
    assert (rec_a["commit"], rec_b["commit"]) == (base, head)
    assert {r["source"] for r in rec_a["rows"] + rec_b["rows"]} == {"live"}
    return base, head, rec_a, rec_b


def pass_counts(record: dict[str, Any]) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in record["rows"]:
        out[r["case_key"]][0] += r["status"] == "pass"
        out[r["case_key"]][1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_gate_passes_an_unchanged_suite_despite_sampling_noise(seeded_url: str, tmp_path: Path) -> None:
    root = init_repo(
        tmp_path / "repo",
        {
            ".gitignore": ".promptctl/\n",  # as `promptctl init` writes: run records are never committed
            "promptctl.yaml": config(seeded_url),
            "prompts/sample.yaml": PROMPT,
            "cases/sample.yaml": cases_yaml(False),
        },
    )
    base, head, rec_a, rec_b = two_sampled_commits(root, False)
    # The noise is real: samples of one case differ, and the two commits got different outputs.
    outputs_a: defaultdict[str, list[str]] = defaultdict(list)
    outputs_b: defaultdict[str, list[str]] = defaultdict(list)
    for rows, out in ((rec_a["rows"], outputs_a), (rec_b["rows"], outputs_b)):
        for r in rows:
            out[r["case_key"]].append(r["output"])
    assert all(len(v) == 10 for v in outputs_a.values()) and len(outputs_a) == 3
    assert any(len(set(v)) > 1 for v in outputs_a.values())
    assert any(Counter(outputs_a[k]) != Counter(outputs_b[k]) for k in outputs_a)

    r = cli(root, "compare", base, head, "--gate", "--format", "json")
    assert r.code == 0, r.output
    data = json.loads(r.stdout)
    assert data["base"]["origin"] == data["head"]["origin"] == "record"  # compared the two samples
    gate = data["gate"]
    assert gate["failed"] is False and gate["causes"] == [], gate
    counts_a, counts_b = pass_counts(rec_a), pass_counts(rec_b)
    for c in gate["stats"]["cases"]:
        key = c["case_key"]
        assert (c["pass_base"], c["n_base"]) == counts_a[key]
        assert (c["pass_head"], c["n_head"]) == counts_b[key]
        assert c["p"] == pytest.approx(fisher_drop_p(*counts_a[key], *counts_b[key]), abs=1e-9)
    # The table form says so too, with the p-values behind the verdict.
    table = cli(root, "compare", base, head, "--gate")
    assert table.code == 0 and "no quality drop" in table.stdout + table.stderr, table.output


def test_gate_metric_rule_does_not_fail_on_sampling_noise(seeded_url: str, tmp_path: Path) -> None:
    root = init_repo(
        tmp_path / "repo",
        {
            ".gitignore": ".promptctl/\n",  # as `promptctl init` writes: run records are never committed
            "promptctl.yaml": config(seeded_url),
            "prompts/sample.yaml": PROMPT,
            "cases/sample.yaml": cases_yaml(True),
        },
    )
    base, head, rec_a, rec_b = two_sampled_commits(root, True)
    r = cli(root, "compare", base, head, "--gate", "--format", "json")
    gate = json.loads(r.stdout)["gate"]
    assert (
        not any(c["significant"] for c in gate["stats"]["cases"]) and not gate["stats"]["suite_significant"]
    )
    assert r.code == 0, gate["causes"]
    # The metric is judged per case by the rank-sum test on the per-sample scores: with 0/1 scores
    # that is Fisher's exact test on the same counts, computed here from the records.
    counts_a, counts_b = pass_counts(rec_a), pass_counts(rec_b)
    scores = gate["stats"]["scores"]
    assert {s["case_key"] for s in scores} == set(counts_a) and all(s["metric"] == "accuracy" for s in scores)
    for s in scores:
        expected = fisher_drop_p(*counts_a[s["case_key"]], *counts_b[s["case_key"]])
        assert s["p"] == pytest.approx(expected, abs=1e-9) and not s["significant"]
    assert "accuracy" in gate["metrics"]  # the raw means are still reported
