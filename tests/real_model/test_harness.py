"""The real-model harness without the model (main suite, no `real_model` marker): the script's
failures say why, the tests are deselected by default, skipped only by the explicit switch, and a
failed set-up fails them rather than skipping them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.real_model.conftest import REPO, script


def test_failed_setup_exits_non_zero_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "venv").write_text("not a folder")
    r = script("--dir", str(tmp_path), "setup")
    assert r.returncode == 1
    assert (
        f"cannot create the virtual environment: {tmp_path / 'venv'} exists and is not a folder" in r.stderr
    )


def test_start_without_setup_says_what_to_run(tmp_path: Path) -> None:
    r = script("--dir", str(tmp_path), "--state", str(tmp_path / "s.json"), "start")
    assert r.returncode == 1 and r.stdout == ""
    assert "not set up: no virtual environment" in r.stderr and "scripts/real_model.py setup" in r.stderr


def test_status_reports_a_damaged_model(tmp_path: Path) -> None:
    (tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF" + b"\0" * 100)
    r = script("--dir", str(tmp_path), "status")
    assert r.returncode == 3 and "is damaged" in r.stdout and "server: not running" in r.stdout, r.stdout


def nested_pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/real_model/test_script.py", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_real_model_tests_are_deselected_by_default() -> None:
    r = nested_pytest("--collect-only")
    assert r.returncode == 5, r.stdout + r.stderr  # nothing selected
    assert "deselected" in r.stdout and "test_second_setup" not in r.stdout


def test_the_explicit_switch_skips_them_with_its_reason() -> None:
    r = nested_pytest("-m", "real_model", "-k", "second_setup", PROMPTCTL_SKIP_REAL_MODEL="1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 skipped" in r.stdout and "PROMPTCTL_SKIP_REAL_MODEL=1" in r.stdout, r.stdout


def test_a_failed_setup_fails_them_rather_than_skipping(tmp_path: Path) -> None:
    (tmp_path / "venv").write_text("not a folder")
    r = nested_pytest("-m", "real_model", "-k", "second_setup", PROMPTCTL_REAL_MODEL_DIR=str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 error" in r.stdout and "skipped" not in r.stdout, r.stdout
    assert "real-model set-up failed (exit 1)" in r.stdout and "is not a folder" in r.stdout, r.stdout
