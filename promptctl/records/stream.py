"""A run's record written as its rows finish, so a run's memory does not grow with its rows.

* Each finished row goes at once, as one JSON line, to a spool file in ``.promptctl/runs/``
  (``.spool-<pid>-<nonce>.jsonl``, never mistaken for a record); only its place in the spool is
  kept (two integers per row), with the running summary (:class:`SummaryBuilder`) and the rows
  that did not pass (what the terminal's failure table shows).
* At the end the record is assembled in plan order, whatever order the rows finished in, into a
  temporary file in its folder, fsync'ed and renamed (:func:`promptctl.atomic.open_atomic`): a
  reader sees no record or the whole one, exactly as :func:`write_record` writes it. An
  interrupted run's record holds every row that finished.
* A spool left by a process that died (SIGKILL, power loss) is removed by the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
from array import array
from pathlib import Path
from typing import Any, BinaryIO

from promptctl.atomic import open_atomic
from promptctl.records.record import RUNS_DIR, Record, new_record_path
from promptctl.records.summary import SummaryBuilder
from promptctl.secrets import mask_data

__all__ = ["RecordStream"]

_NOT_DONE = -1


def _dumps(value: Any) -> bytes:
    # check_circular=False: rows are plain trees; the check costs ~15 % of dumping them.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), check_circular=False).encode("utf-8")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RecordStream:
    """Rows in, one record out. ``root`` None: nothing is written (the summary is still kept)."""

    def __init__(self, root: Path | None) -> None:
        self.builder = SummaryBuilder()
        self._attention: list[tuple[int, dict[str, Any]]] = []
        self.count = 0
        self._offsets = array("q")
        self._lengths = array("q")
        self._root = None if root is None else Path(root)
        self._spool: BinaryIO | None = None
        self._spool_path: Path | None = None
        self._size = 0

    def _open_spool(self) -> BinaryIO:
        """The spool, made with the first row (a run that fails before any row leaves nothing)."""
        if self._spool is None:
            assert self._root is not None
            runs = self._root / RUNS_DIR
            runs.mkdir(parents=True, exist_ok=True)
            _remove_dead_spools(runs)
            self._spool_path = runs / f".spool-{os.getpid()}-{os.urandom(4).hex()}.jsonl"
            self._spool = open(self._spool_path, "w+b")  # noqa: SIM115 - closed by finish/discard
        return self._spool

    def add(self, index: int, row: dict[str, Any]) -> None:
        """A finished row: ``index`` is its place in the plan. Masked (promptctl.secrets) as it
        is written, as :func:`write_record` masks a whole record."""
        row = mask_data(row)
        self.count += 1
        self.builder.add(row, index)
        if row.get("status") != "pass":
            self._attention.append((index, _compact(row)))
        if self._root is None:
            return
        spool = self._open_spool()
        data = _dumps(row) + b"\n"
        while len(self._offsets) <= index:
            grow = max(1024, len(self._offsets))
            self._offsets.extend([_NOT_DONE] * grow)
            self._lengths.extend([0] * grow)
        self._offsets[index] = self._size
        self._lengths[index] = len(data) - 1
        spool.write(data)
        self._size += len(data)

    @property
    def attention(self) -> list[dict[str, Any]]:
        """The rows that did not pass, in plan order (failing assertions only, output cut to
        :data:`ATTENTION_OUTPUT_CHARS`): what the terminal's failure table shows."""
        return [row for _index, row in sorted(self._attention, key=lambda item: item[0])]

    def summary(self) -> dict[str, Any]:
        return self.builder.summary()

    def finish(self, root: Path, record: Record) -> Path:
        """Write ``record`` (its header; its rows are the spooled ones, in plan order) atomically
        and return where; the spool is removed."""
        assert self._root is not None, "a RecordStream made without a root writes nothing"
        spool = self._open_spool()
        spool.flush()
        path = new_record_path(root, record)
        header = {
            k: v for k, v in record.__dict__.items() if k not in ("path", "rows") and not k.startswith("_")
        }
        fd = spool.fileno()
        try:
            with open_atomic(path) as out:
                out.write(b"{")
                for key, value in mask_data(header).items():
                    out.write(_dumps(key) + b":" + _dumps(value) + b",")
                out.write(b'"rows":[')
                first = True
                for offset, length in zip(self._offsets, self._lengths, strict=True):
                    if offset == _NOT_DONE:
                        continue
                    if not first:
                        out.write(b",")
                    out.write(os.pread(fd, length, offset))
                    first = False
                out.write(b'],"summary":' + _dumps(self.summary()) + b"}")
        finally:
            self.discard()
        record.path = str(path)
        return path

    def discard(self) -> None:
        """Close and remove the spool (idempotent)."""
        if self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.close()
            self._spool = None
        if self._spool_path is not None:
            with contextlib.suppress(OSError):
                self._spool_path.unlink()
            self._spool_path = None


ATTENTION_OUTPUT_CHARS = 1000


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    """What the failure table needs of a row that did not pass: its failing assertions and the
    start of its output (the table shows 60 characters of it)."""
    out = dict(row)
    text = out.get("output")
    if isinstance(text, str) and len(text) > ATTENTION_OUTPUT_CHARS:
        out["output"] = text[:ATTENTION_OUTPUT_CHARS]
    out["asserts"] = [a for a in row.get("asserts", []) if not a.get("passed") or a.get("error")]
    return out


def _remove_dead_spools(runs: Path) -> None:
    for spool in runs.glob(".spool-*.jsonl"):
        try:
            pid = int(spool.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not _pid_alive(pid):
            with contextlib.suppress(OSError):
                spool.unlink()
