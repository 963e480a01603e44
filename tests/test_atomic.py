"""Atomic writes: readers see the old file or the new one, never a torn one, and no litter."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from promptctl.atomic import write_bytes_atomic, write_text_atomic


def test_creates_parents_and_writes_text(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.md"
    write_text_atomic(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md"]


def test_replaces_existing_and_writes_verbatim(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    write_text_atomic(target, "a\r\nb\n")
    assert target.read_bytes() == b"a\r\nb\n"  # no newline translation
    write_bytes_atomic(target, b"\x00\xff")
    assert target.read_bytes() == b"\x00\xff"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_new_file_follows_umask_and_existing_mode_is_kept(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        new = tmp_path / "new.txt"
        write_text_atomic(new, "x")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # not mkstemp's 0600
        script = tmp_path / "run.sh"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
        write_text_atomic(script, "#!/bin/sh\necho hi\n")
        assert stat.S_IMODE(script.stat().st_mode) == 0o755
    finally:
        os.umask(old)


def test_failure_keeps_old_content_and_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")

    def boom(src: object, dst: object) -> None:
        raise KeyboardInterrupt  # an interrupt between write and rename

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
