"""compare --gate with adaptive sampling (gate.max_repeat) and only the touched cases on trial,
through the CLI against the loopback server (pass probability chosen by the prompt text)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import invoke
from tests.review.common import KEY, commit, config, new_repo

SPEC: dict[str, Any] = {
    "mode": "bernoulli",
    "p": 0.5,
    "pass": "PASS",
    "fail": "FAIL",
    "seed": 3,
    "rules": [{"match": "QUALITY=HIGH", "p": 0.9}, {"match": "QUALITY=ZERO", "p": 0.0}],
}
PROMPT = """
    inputs: {q: {}, quality: {}}
    template: "QUALITY={{ quality }}. Answer: {{ q }}"
"""


def cases(collapsed: str | None = None) -> str:
    lines = ["prompt: ask", "repeat: 5", "cases:"]
    for i in range(1, 6):
        quality = "ZERO" if f"c{i}" == collapsed else "HIGH"
        lines.append(
            f"  - {{id: c{i}, vars: {{q: question {i}, quality: {quality}}}, "
            "assert: [{type: equals, value: PASS}]}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(spec=SPEC) as srv:
        yield srv


def _repo(tmp_path: Path, url: str, gate: str) -> tuple[Path, str, str]:
    root, base = new_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(url, extra=gate),
            "prompts/ask.yaml": PROMPT,
            "cases/ask.yaml": cases(),
        },
    )
    head = commit(root, {"cases/ask.yaml": cases(collapsed="c3")}, "c3 collapses")
    return root, base, head


def _gate(root: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    r = invoke("compare", *args, "--gate", "--format", "json", cwd=root)
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout), r.stderr


def test_a_collapsed_case_is_resampled_and_caught(tmp_path: Path, server: FakeServer) -> None:
    root, base, head = _repo(tmp_path, server.url, "gate:\n  max_repeat: 20\n")
    code, data, err = _gate(root, base, head)
    g = data["gate"]
    assert code == 1, g
    assert g["on_trial"] == 1  # only c3's request changed
    r = g["resampling"]
    assert r["rounds"] >= 1 and r["extra_samples"] > 0 and r["stopped"] is None
    assert [c["case_key"] for c in r["cases"]] == ["ask::c3"]
    c3 = r["cases"][0]
    assert c3["first"][1] == 5 and c3["first"][2] == 0  # 0/5 at head after repeat 5
    assert c3["final"][1] > 5 and c3["final"][3] == c3["final"][1] and c3["final"][2] == 0
    # the extra samples are new ones on both sides, rows with sample indexes from 5 up
    unit = next(u for u in data["units"] if u["case_key"] == "ask::c3")
    assert unit["base"]["samples"] == unit["head"]["samples"] == c3["final"][1]
    assert r["extra_samples"] == 2 * (c3["final"][1] - 5)
    # 25 rows a side at repeat 5, c3 extended on both sides; the unchanged cases' head rows are
    # the cache's (their requests did not change), nothing is asked twice
    assert server.stats()["requests"] == 25 + 5 + r["extra_samples"]
    cause = next(c for c in g["causes"] if "ask::c3" in c)
    assert "(sequential one-sided Fisher over looks at 5/10" in cause and ": p=" in cause
    assert any(line.startswith("resampling: ") for line in g["pvalues"])
    a, b, _x, _y = c3["first"]
    shown = f"ask::c3 [fake]: {a}/{b} → 0/5, resampled to {c3['final'][0]}/{c3['final'][1]} → 0/"
    assert any(line.strip().startswith(shown) for line in g["pvalues"])
    assert "resampled to" in err and "drawing more samples of 1 undecided case" in err

    # again: the extra samples come from the cache this time, the verdict is the same
    before = server.stats()["requests"]
    code2, data2, _ = _gate(root, base, head)
    assert code2 == 1 and server.stats()["requests"] == before
    assert data2["gate"]["resampling"]["cases"] == r["cases"]


def test_max_cost_caps_the_extra_calls_and_is_reported(tmp_path: Path, server: FakeServer) -> None:
    root, base, head = _repo(tmp_path, server.url, "gate:\n  max_repeat: 20\n")
    code, data, err = _gate(root, base, head, "--max-cost", "0")
    r = data["gate"]["resampling"]
    assert r["extra_samples"] == 0 and r["max_cost"] == 0
    assert r["stopped"] == "--max-cost $0 is spent"
    assert server.stats()["requests"] == 30  # the sides' runs only
    assert "stopped early: --max-cost $0 is spent" in err
    # at 5 samples a side the sequential rule spends almost nothing: the collapse is not proven
    assert code == 0


def test_without_max_repeat_the_gate_is_the_fixed_design(tmp_path: Path, server: FakeServer) -> None:
    root, base, head = _repo(tmp_path, server.url, "")
    code, data, _ = _gate(root, base, head)
    g = data["gate"]
    assert g["resampling"] is None and g["stats"]["sequential"] is False
    assert server.stats()["requests"] == 30
    c3 = next(c for c in g["stats"]["cases"] if c["case_key"] == "ask::c3")
    assert c3["looks"] == [] and c3["n_head"] == 5
    # the CLI option turns it on
    code, data, _ = _gate(root, base, head, "--max-repeat", "20")
    assert code == 1 and data["gate"]["settings"]["max_repeat"] == 20
    bad = invoke("compare", base, head, "--max-repeat", "20", cwd=root)
    assert bad.exit_code == 2 and "--max-repeat has no effect without --gate" in bad.stderr
    bad = invoke("compare", base, head, "--gate", "--allow-unknown-cost", cwd=root)
    assert bad.exit_code == 2 and "--allow-unknown-cost has no effect without --max-cost" in bad.stderr


def test_untouched_case_that_drops_is_drift_not_a_cause(tmp_path: Path, server: FakeServer) -> None:
    root, base = new_repo(
        tmp_path / "repo",
        {"promptctl.yaml": config(server.url), "prompts/ask.yaml": PROMPT, "cases/ask.yaml": cases()},
    )
    assert invoke("test", cwd=root).exit_code in (0, 1)
    # the provider changes its answers for c5; the change only rewords c1
    rules = [{"match": "question 5", "p": 0.0}, *SPEC["rules"]]
    server.configure(spec={**SPEC, "rules": rules})
    head = commit(root, {"cases/ask.yaml": cases().replace("question 1", "question one")}, "reword c1")
    shutil.rmtree(root / ".promptctl" / "cache")  # or the head would replay c5's cached answers
    code, data, _ = _gate(root, base, head)
    g = data["gate"]
    assert code == 0, g["causes"]
    assert g["on_trial"] == 1 and [d["case_key"] for d in g["drift"]] == ["ask::c5"]
    assert any(w.startswith("drift: ask::c5 [fake]") for w in g["warnings"])
