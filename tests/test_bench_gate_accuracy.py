"""``python -m bench.gate_accuracy`` at a tiny size: it runs through the library against the fake
server and reports both designs per scenario (no accuracy or timing assertion: those are the
benchmark's business, at 40+ trials)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.gate_accuracy import main


def test_gate_accuracy_runs_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ga.json"
    argv = ["--trials", "1", "--cases", "3", "--max-repeat", "10", "--only", "a,b", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "adaptive fails" in printed and "one case 90 % -> 0 %" in printed
    data = json.loads(out.read_text("utf-8"))
    assert [r["name"] for r in data["results"]] == ["a", "b"]
    for r in data["results"]:
        for design in ("fixed", "adaptive"):
            d = r[design]
            assert len(d["failed"]) == len(d["samples"]) == len(d["calls"]) == 1
        # the fixed design is 3 cases x 5 samples x 2 sides; the adaptive one adds to it
        assert r["fixed"]["samples"] == [30]
        assert r["adaptive"]["samples"][0] >= 30
    with pytest.raises(SystemExit):
        main(["--only", "z"])
