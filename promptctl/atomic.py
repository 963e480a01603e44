"""Crash-safe file writes for everything promptctl leaves on disk (records, recordings, reports).

A reader (another promptctl process, an editor, ``git diff``) must only ever see the old file or
the complete new one, never a half-written one: an interrupted ``--record`` run that truncated a
committed recording would silently turn replayed tests into "missing" ones. So every write goes
to a temporary file in the *same directory* (``os.replace`` is only atomic within a filesystem),
is flushed and fsync'ed, and then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["open_atomic", "write_bytes_atomic", "write_text_atomic"]

_TMP_SUFFIX = ".tmp"


def write_text_atomic(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Atomically replace ``path`` with ``text``, written verbatim (no newline translation, so a
    file written on Windows diffs the same as one written on Linux)."""
    write_bytes_atomic(path, text.encode(encoding))


@contextlib.contextmanager
def open_atomic(path: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` atomically when the block ends (flushed, fsync'ed,
    renamed); an exception in the block leaves no trace. Also for a file too large to build in
    memory first (a run record of 100,000 rows, written row by row).

    The temporary file is created with ``O_EXCL`` and mode 0o666 so the user's umask applies, as
    it would for a plain ``open(path, "w")`` (``tempfile.mkstemp`` would leave a committed file
    0600). When the target already exists its permission bits are kept.
    """
    path = Path(path)
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(parent, path.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        # BaseException too: a Ctrl-C between write and rename must not leave litter behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``; creates missing parent directories."""
    with open_atomic(path) as fh:
        fh.write(data)


def _open_temp(directory: Path, name: str) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {directory / name}")


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (POSIX only; best effort: some filesystems refuse it)."""
    if os.name != "posix":
        return
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
