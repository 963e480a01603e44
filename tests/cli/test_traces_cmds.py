"""`promptctl traces` and `promptctl traces stats` on traces written by real API calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import promptctl
from promptctl.git import labels
from tests.fakeserver import FakeServer
from tests.helpers import invoke
from tests.runtime.project import KEY, KEY_ENV, edit, make_project


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


@pytest.fixture
def traced(tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, str]:
    """Calls of two versions of support/reply (one failing) and one of greet; returns the project
    and the two versions."""
    monkeypatch.setenv(KEY_ENV, KEY)
    root = make_project(tmp_path / "proj", server.url, "traces: .promptctl/traces.jsonl")
    labels.set_label(root, "production")
    v1 = promptctl.get_prompt("support/reply", label="production", root=root)
    v1.complete(name="a", question="q1")
    v1.complete(name="b", question="q2")
    edit(root, {"prompts/_partials/style.j2": "Be very brief."}, "style v2")
    v2 = promptctl.get_prompt("support/reply", ref="HEAD", root=root)
    v2.complete(name="c", question="q3")
    server.configure(faults=[{"kind": "500", "always": True}])
    with pytest.raises(promptctl.CompletionError):
        v2.complete(name="d", question="q4")
    server.configure(faults=[])
    promptctl.get_prompt("greet", root=root).complete(name="e")
    return root, v1.version, v2.version


def test_traces_lists_filters_and_names_versions(traced: tuple[Path, str, str]) -> None:
    root, v1, v2 = traced
    everything = json.loads(invoke("traces", "--json", cwd=root).stdout)
    assert [(t["prompt"], t["version"], t["status"]) for t in everything] == [
        ("support/reply", v1, "ok"),
        ("support/reply", v1, "ok"),
        ("support/reply", v2, "ok"),
        ("support/reply", v2, "error"),
        ("greet", everything[4]["version"], "ok"),
    ]
    failed = json.loads(invoke("traces", "--failed", "--json", cwd=root).stdout)
    assert len(failed) == 1 and failed[0]["version"] == v2
    greet = json.loads(invoke("traces", "--prompt", "greet", "--json", cwd=root).stdout)
    assert [t["prompt"] for t in greet] == ["greet"]
    assert (
        json.loads(invoke("traces", "--prompt", "support/*", "-n", "2", "--json", cwd=root).stdout)
        == everything[2:4]
    )
    assert json.loads(invoke("traces", "--since", "1h", "--json", cwd=root).stdout) == everything
    assert invoke("traces", "--since", "2099-01-01", cwd=root).stdout.strip() == "no traces match"
    table = invoke("traces", cwd=root).stdout.splitlines()
    assert table[0].split()[:4] == ["TIME", "TRACE", "PROMPT", "VERSION"]
    assert v1[:12] in table[1] and "production" in table[1] and "ok" in table[1]
    assert "error" in table[4] and "500" in table[4]


def test_traces_stats_per_version(traced: tuple[Path, str, str]) -> None:
    root, v1, v2 = traced
    rows = json.loads(invoke("traces", "stats", "--prompt", "support/reply", "--json", cwd=root).stdout)
    assert [(r["version"], r["calls"], r["errors"], r["labels"]) for r in rows] == [
        (v1, 2, 0, ["production"]),
        (v2, 2, 1, []),
    ]
    assert rows[0]["p50_latency_ms"] > 0 and rows[0]["cost"] > 0 and rows[1]["error_rate"] == 0.5
    text = invoke("traces", "stats", cwd=root).stdout
    assert "support/reply" in text and v2[:12] in text and "1 (50.0%)" in text and "greet" in text


def test_traces_errors(tmp_path: Path, server: FakeServer, traced: tuple[Path, str, str]) -> None:
    root, _v1, _v2 = traced
    bad = invoke("traces", "--since", "yesterday", cwd=root)
    assert bad.exit_code == 2 and "--since expects a duration" in bad.stderr
    off = make_project(tmp_path / "off", server.url)
    none = invoke("traces", cwd=off)
    assert (
        none.exit_code == 2
        and "tracing is off" in none.stderr
        and "traces: .promptctl/traces.jsonl" in none.stderr
    )
    other = invoke("traces", "--file", str(root / ".promptctl/traces.jsonl"), "--json", cwd=off)
    assert other.exit_code == 0 and len(json.loads(other.stdout)) == 5
    with (root / ".promptctl/traces.jsonl").open("a") as fh:
        fh.write('{"torn line')
    torn = invoke("traces", "stats", cwd=root)
    assert torn.exit_code == 0 and "warning: 1 line(s)" in torn.stderr
