"""The statistical gate with repeated samples: the fake server passes with a probability chosen by
the prompt text (QUALITY=HIGH / QUALITY=LOW), seeded so every run draws the same outcomes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import invoke
from tests.review.common import KEY, commit, config, new_repo

SPEC = {
    "mode": "bernoulli",
    "p": 0.5,
    "pass": "PASS",
    "fail": "FAIL",
    "seed": 11,
    "rules": [{"match": "QUALITY=HIGH", "p": 0.95}, {"match": "QUALITY=LOW", "p": 0.3}],
}
CASES = """
    prompt: ask
    repeat: 20
    cases:
      - {id: one, vars: {q: first question}, assert: [{type: equals, value: PASS}]}
      - {id: two, vars: {q: second question}, assert: [{type: equals, value: PASS}]}
      - {id: three, vars: {q: third question}, assert: [{type: equals, value: PASS}]}
"""


def prompt(quality: str, wording: str) -> str:
    return f"""
        inputs: {{q: {{}}}}
        template: "QUALITY={quality}. {wording} {{{{ q }}}}"
    """


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(spec=SPEC) as srv:
        yield srv


def gate(root: Path, base: str, head: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    r = invoke("compare", base, head, "--gate", "--format", "json", *extra, cwd=root)
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout), r.stderr


def test_gate_with_repeats(tmp_path: Path, server: FakeServer) -> None:
    root, high_a = new_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(server.url),
            "prompts/ask.yaml": prompt("HIGH", "Answer this:"),
            "cases/ask.yaml": CASES,
        },
    )
    high_b = commit(root, {"prompts/ask.yaml": prompt("HIGH", "Please answer:")}, "reworded, same quality")
    low = commit(root, {"prompts/ask.yaml": prompt("LOW", "Please answer:")}, "worse")

    # equal quality, re-sampled outputs: noise must not fail the build
    code, data, err = gate(root, high_a, high_b)
    assert code == 0, data["gate"]
    assert server.stats()["requests"] == 120  # 3 cases x 20 samples x 2 sides
    st = data["gate"]["stats"]
    assert len(st["cases"]) == 3 and st["suite_significant"] is False
    assert not any(c["significant"] for c in st["cases"])
    assert "gate: passed" in err and "suite CMH p=" in err
    assert all(u["base"]["samples"] == 20 and u["head"]["samples"] == 20 for u in data["units"])

    # a real drop: every case significant after Holm, and the suite test too
    code, data, err = gate(root, high_b, low)
    assert code == 1
    st = data["gate"]["stats"]
    assert st["suite_significant"] is True and all(c["significant"] for c in st["cases"])
    assert st["suite_p"] < 1e-6
    causes = data["gate"]["causes"]
    assert sum(c.startswith("regression: ask::") for c in causes) == 3
    assert any(c.startswith("suite-wide drop") for c in causes)
    assert "holm-adjusted" in causes[0] and "one-sided Fisher p=" in causes[0]
    assert "gate: FAILED" in err

    # thresholds from promptctl.yaml, overridden on the command line
    code, data, _ = gate(root, high_b, low, "--alpha", "1e-30", "--correction", "bh")
    assert code == 0 and data["gate"]["settings"]["correction"] == "bh"
    bad = invoke("compare", high_b, low, "--gate", "--correction", "nope", cwd=root)
    assert bad.exit_code == 2 and "'nope' is not one of 'holm', 'bh', 'none'" in bad.stderr
