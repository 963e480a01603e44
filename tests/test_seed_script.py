"""scripts/seed_example_recordings.py (how the example suite's committed recordings were made on a
machine without a key) still runs, and writes exactly the recordings that are committed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_seed_script_reproduces_the_committed_recordings(tmp_path: Path) -> None:
    copy = tmp_path / "suite"
    copy.mkdir()
    shutil.copy(ROOT / "promptctl.yaml", copy / "promptctl.yaml")
    for d in ("prompts", "cases"):
        shutil.copytree(ROOT / d, copy / d)
    recs = sorted(p.relative_to(copy) for p in (copy / "cases" / "__recordings__").rglob("*") if p.is_file())
    assert recs, "the example suite has no recordings"
    before = {p: (copy / p).read_text("utf-8") for p in recs}
    for p in recs:
        (copy / p).unlink()
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/seed_example_recordings.py")],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    after = {p: (copy / p).read_text("utf-8") for p in recs if (copy / p).exists()}
    assert after == before
