"""Recordings: exact round trips of model outputs, replay lookups, merging re-records, and
loud, located errors for a recording a human broke."""

from __future__ import annotations

import random
import time
from datetime import date
from pathlib import Path

import pytest

from promptctl import secrets
from promptctl.errors import ExecutionError, InputError
from promptctl.execute.recordings import parse as R
from promptctl.execute.recordings.emit import render_file
from promptctl.execute.recordings.model import RecordingEntry, RecordingFile, recording_path_for
from promptctl.execute.recordings.store import Recordings, RecordingWriter, load
from promptctl.execute.types import ModelResponse
from promptctl.git.sources import WorktreeSource

CASE_FILE = "cases/support/triage.yaml"
REC = "cases/__recordings__/support/triage.yaml"
DAY = date(2026, 3, 1)
FP = "3f2a" + "0" * 60
FP2 = "9b1c" + "0" * 60


def resp(text: str | None = "ok", **kw: object) -> ModelResponse:
    return ModelResponse.from_dict({"status": "ok", "text": text, **kw})


def writer(root: Path) -> RecordingWriter:
    return RecordingWriter(root, version="0.1.0", today=DAY)


@pytest.mark.parametrize(
    ("case_file", "cases_dir", "expected"),
    [
        ("cases/support/triage.yaml", "cases", "cases/__recordings__/support/triage.yaml"),
        ("cases/smoke.yml", "cases", "cases/__recordings__/smoke.yml"),
        ("./cases/a/b/c.yaml", "cases", "cases/__recordings__/a/b/c.yaml"),
        ("cases\\win\\x.yaml", "cases", "cases/__recordings__/win/x.yaml"),
        ("tests/cases/x.yaml", "tests/cases", "tests/cases/__recordings__/x.yaml"),
        ("elsewhere/x.yaml", "cases", "elsewhere/__recordings__/x.yaml"),
    ],
)
def test_recording_path_for(case_file: str, cases_dir: str, expected: str) -> None:
    assert recording_path_for(case_file, cases_dir) == expected


TEXTS = [
    "single line",
    "ends with a newline\n",
    "two trailing newlines\n\n",
    "three\n\n\n",
    "  leading spaces\nsecond line",
    "    indented code\n  less\n",
    "\n\nleading blank lines",
    "\tleading tab",
    "key: value # not a comment\n- not a list\n#hash line\n",
    "unicode: héllo 😀 — ✓ 日本語\n",
    "trailing spaces   \nx  ",
    "blank line with spaces\n   \nafter",
    "yes",
    "null",
    "123",
    "'single' and \"double\"",
    "| pipe\n> gt\n--- dashes\n...\n",
    "",
    "   ",
    "\n",
    "crlf\r\nline\r\n",
    "nul \x00 and esc \x1b[0m",
    "line separator\u2028here",
    "\ufeffbom first",
    "x" * 5000,
]


@pytest.mark.parametrize("text", TEXTS)
def test_output_round_trips_exactly(tmp_path: Path, text: str) -> None:
    w = writer(tmp_path)
    w.add(CASE_FILE, "c1", "gpt-4o-mini", 0, FP, resp(text))
    assert w.write() == [REC]
    status, got = load(WorktreeSource(tmp_path), CASE_FILE).lookup("c1", "gpt-4o-mini", 0, FP)
    assert status == "hit" and got is not None
    assert got.text == text


def test_random_outputs_round_trip(tmp_path: Path) -> None:
    pieces = ["a", "b c", " ", "\n", "\n\n", "\t", ": ", " #", "- ", "|", '"', "'", "é", "😀", "\\", "{", "%"]
    rng = random.Random(7)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 25))) for _ in range(300)]
    w = writer(tmp_path)
    for i, t in enumerate(texts):
        w.add(CASE_FILE, f"case-{i}", "m", 0, FP, resp(t))
    w.write()
    rec = load(WorktreeSource(tmp_path), CASE_FILE)
    for i, t in enumerate(texts):
        hit = rec.lookup(f"case-{i}", "m", 0, FP)[1]
        assert hit is not None and hit.text == t, repr(t)


def test_file_format_is_readable(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.add(CASE_FILE, "refund-request", "gpt-4o-mini", 0, FP, resp("Category: billing\nUrgency: high\n"))
    w.add(
        CASE_FILE,
        "refund-request",
        "claude",
        1,
        FP2,
        resp(
            "short",
            provider_model="claude-3-5-haiku-20241022",
            input_tokens=120,
            output_tokens=7,
            cost=1.5e-05,
            latency_ms=432.4,
            finish_reason="stop",
            answered_by="claude-fallback",
            attempts=3,
        ),
    )
    w.write()
    text = (tmp_path / REC).read_text(encoding="utf-8")
    assert text == (
        "# Recorded model outputs for cases/support/triage.yaml — replayed by `promptctl test`; "
        "refresh with `promptctl test --record`.\n"
        "version: 1\n"
        "case_file: cases/support/triage.yaml\n"
        "source: recorded from claude, gpt-4o-mini by promptctl 0.1.0 on 2026-03-01\n"
        "entries:\n"
        "  - case: refund-request\n"
        "    model: claude\n"
        "    sample: 1\n"
        f"    fingerprint: {FP2}\n"
        "    output: |-\n"
        "      short\n"
        "    answered_by: claude-fallback\n"
        "    provider_model: claude-3-5-haiku-20241022\n"
        "    finish_reason: stop\n"
        "    input_tokens: 120\n"
        "    output_tokens: 7\n"
        "    cost: 1.5e-05\n"
        "    latency_ms: 432.0\n"
        "  - case: refund-request\n"
        "    model: gpt-4o-mini\n"
        "    sample: 0\n"
        f"    fingerprint: {FP}\n"
        "    output: |\n"
        "      Category: billing\n"
        "      Urgency: high\n"
    )
    status, hit = load(WorktreeSource(tmp_path), CASE_FILE).lookup("refund-request", "claude", 1, FP2)
    assert status == "hit" and hit is not None
    assert hit.source == "recording" and hit.status == "ok" and hit.attempts == 0
    assert (hit.input_tokens, hit.output_tokens, hit.cost, hit.latency_ms) == (120, 7, 1.5e-05, 432.0)
    assert hit.provider_model == "claude-3-5-haiku-20241022" and hit.answered_by == "claude-fallback"
    assert hit.finish_reason == "stop"


def test_hit_stale_missing(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.add(CASE_FILE, "c1", "m", 0, FP, resp("one"))
    w.write()
    rec = load(WorktreeSource(tmp_path), CASE_FILE)
    assert rec.exists
    status, hit = rec.lookup("c1", "m", 0, FP)
    assert status == "hit" and hit is not None and hit.text == "one" and hit.answered_by == "m"
    assert rec.lookup("c1", "m", 0, FP2) == ("stale", None)
    assert rec.lookup("c1", "m", 1, FP) == ("missing", None)
    assert rec.lookup("c2", "m", 0, FP) == ("missing", None)
    assert rec.lookup("c1", "other", 0, FP) == ("missing", None)


def test_absent_recording_is_empty(tmp_path: Path) -> None:
    rec = load(WorktreeSource(tmp_path), "cases/none.yaml")
    assert not rec.exists and rec.entries == {} and rec.path == "cases/__recordings__/none.yaml"
    assert rec.lookup("c", "m", 0, FP) == ("missing", None)


def test_hand_written_sample_loads(tmp_path: Path) -> None:
    path = tmp_path / REC
    path.parent.mkdir(parents=True)
    path.write_text(
        "version: 1\n"
        "case_file: cases/support/triage.yaml\n"
        "source: hand-written sample\n"
        "entries:\n"
        "  - case: refund-request\n"
        "    model: gpt-4o-mini\n"
        "    sample: 0\n"
        f"    fingerprint: {FP}\n"
        "    output: 'Category: billing'\n"
        "    cost: 1\n",
        encoding="utf-8",
    )
    rec = load(WorktreeSource(tmp_path), CASE_FILE)
    assert rec.source == "hand-written sample"
    hit = rec.lookup("refund-request", "gpt-4o-mini", 0, FP)[1]
    assert hit is not None and hit.text == "Category: billing" and hit.cost == 1.0


def test_merge_keeps_other_entries_and_replaces_rerun_ones(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.add(CASE_FILE, "a", "m", 0, FP, resp("a old"))
    w.add(CASE_FILE, "b", "m", 0, FP, resp("b old"))
    w.add(CASE_FILE, "b", "other", 0, FP, resp("b other"))
    w.write()

    w2 = RecordingWriter(tmp_path, version="0.2.0", today=date(2026, 4, 2))
    w2.add(CASE_FILE, "b", "m", 0, FP2, resp("b new"))
    w2.add(CASE_FILE, "c", "m", 0, FP, resp("c new"))
    w2.add(CASE_FILE, "d", "m", 0, FP, ModelResponse(status="error", error="boom"))  # never recorded
    assert w2.write() == [REC]
    rec = load(WorktreeSource(tmp_path), CASE_FILE)
    texts = {k: e.output for k, e in rec.entries.items()}
    assert texts == {
        ("a", "m", 0): "a old",
        ("b", "m", 0): "b new",
        ("b", "other", 0): "b other",
        ("c", "m", 0): "c new",
    }
    assert rec.entries[("b", "m", 0)].fingerprint == FP2
    assert rec.source == "recorded from m, other by promptctl 0.2.0 on 2026-04-02"


def test_rerecording_unchanged_output_leaves_file_alone(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.add(CASE_FILE, "a", "m", 0, FP, resp("same", latency_ms=100.0, input_tokens=5))
    w.write()
    before = (tmp_path / REC).read_text(encoding="utf-8")

    w2 = RecordingWriter(tmp_path, version="9.9.9", today=date(2030, 1, 1))
    w2.add(CASE_FILE, "a", "m", 0, FP, resp("same", latency_ms=250.0, input_tokens=6))
    assert w2.write() == []
    assert (tmp_path / REC).read_text(encoding="utf-8") == before


def test_prune_drops_cases_that_no_longer_exist(tmp_path: Path) -> None:
    w = writer(tmp_path)
    for case in ("keep", "gone"):
        for sample in (0, 1):
            w.add(CASE_FILE, case, "m", sample, FP, resp(case))
    w.write()

    w2 = writer(tmp_path)
    w2.prune(CASE_FILE, [("keep", "m", 0), ("keep", "m", 1), ("new", "m", 0)])
    assert w2.write() == [REC]
    assert sorted(load(WorktreeSource(tmp_path), CASE_FILE).entries) == [("keep", "m", 0), ("keep", "m", 1)]

    rec = load(WorktreeSource(tmp_path), CASE_FILE)
    assert rec.prune([("keep", "m", 0)]) == 1 and list(rec.entries) == [("keep", "m", 0)]


def test_ordering_is_stable(tmp_path: Path) -> None:
    keys = [(c, m, s) for c in ("b", "a", "c") for m in ("y", "x") for s in (10, 2, 0)]
    texts = []
    for seed in (1, 2):
        root = tmp_path / str(seed)
        w = writer(root)
        shuffled = keys[:]
        random.Random(seed).shuffle(shuffled)
        for c, m, s in shuffled:
            w.add(CASE_FILE, c, m, s, FP, resp(f"{c}{m}{s}"))
        w.write()
        texts.append((root / REC).read_text(encoding="utf-8"))
    assert texts[0] == texts[1]
    order = [tuple(e.key) for e in load(WorktreeSource(tmp_path / "1"), CASE_FILE).entries.values()]
    assert order == sorted(keys)  # numeric sample order: 0, 2, 10


def test_write_is_atomic_and_idempotent(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.add(CASE_FILE, "a", "m", 0, FP, resp("x"))
    w.add("cases/other.yaml", "a", "m", 0, FP, resp("y"))
    assert w.write() == ["cases/__recordings__/other.yaml", REC]
    assert w.write() == []  # second call (e.g. from an interrupt handler) changes nothing
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["cases/__recordings__/other.yaml", REC]  # no temp files left


def test_never_writes_an_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789abcdefXYZ"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("LOCAL_KEY", "loc4")  # any length from 4, once a config names it
    secrets.add_key_names(["LOCAL_KEY"])
    w = writer(tmp_path)
    w.add(CASE_FILE, "a", "gpt-4o-mini", 0, FP, resp("hello", provider_model="gpt-4o-mini-2024"))
    w.write()
    assert secret not in (tmp_path / REC).read_text(encoding="utf-8")

    # A model that echoes a key back gets it masked, whatever the variable's name or length.
    w2 = writer(tmp_path)
    w2.add(CASE_FILE, "a", "gpt-4o-mini", 0, FP2, resp(f"your key is {secret}, or loc4"))
    assert w2.write() == [REC]
    text = (tmp_path / REC).read_text(encoding="utf-8")
    assert secret not in text and "loc4" not in text and "your key is ***, or ***" in text


def test_refuses_a_key_where_masking_would_break_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefXYZ")
    w = writer(tmp_path)
    w.add(CASE_FILE, "sk-test-0123456789abcdefXYZ", "gpt-4o-mini", 0, FP, resp("hello"))
    with pytest.raises(ExecutionError, match="key variable"):
        w.write()
    assert not (tmp_path / REC).exists()


def write_rec(root: Path, text: str) -> None:
    path = root / REC
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_malformed_yaml_is_located(tmp_path: Path) -> None:
    write_rec(tmp_path, "version: 1\nentries:\n  - case: a\n    model: [unclosed\n")
    with pytest.raises(InputError) as info:
        load(WorktreeSource(tmp_path), CASE_FILE)
    (problem,) = info.value.problems
    assert problem.path == REC and problem.line >= 4 and problem.col >= 1
    assert "invalid YAML" in problem.message


def test_merge_conflict_markers_are_named(tmp_path: Path) -> None:
    write_rec(tmp_path, "version: 1\nentries:\n<<<<<<< HEAD\n  - case: a\n=======\n>>>>>>> branch\n")
    with pytest.raises(InputError) as info:
        load(WorktreeSource(tmp_path), CASE_FILE)
    assert "merge conflict" in info.value.problems[0].message


def test_bad_entries_are_located(tmp_path: Path) -> None:
    write_rec(
        tmp_path,
        "version: 1\n"
        "entries:\n"
        "  - case: a\n"
        "    model: m\n"
        "    sample: first\n"
        f"    fingerprint: {FP}\n"
        "    output: x\n"
        "  - case: b\n"
        "    model: m\n"
        "    sample: 0\n"
        "    output: x\n",
    )
    with pytest.raises(InputError) as info:
        load(WorktreeSource(tmp_path), CASE_FILE)
    got = [(p.line, p.col, p.message) for p in info.value.problems]
    assert (5, 13, "`sample` must be a non-negative integer, got 'first'") in got
    assert (8, 5, "entry is missing `fingerprint`") in got


def test_duplicates_and_versions_are_errors(tmp_path: Path) -> None:
    entry = f"  - case: a\n    model: m\n    sample: 0\n    fingerprint: {FP}\n    output: x\n"
    write_rec(tmp_path, "version: 1\nentries:\n" + entry + entry)
    with pytest.raises(InputError, match="error") as info:
        load(WorktreeSource(tmp_path), CASE_FILE)
    assert "duplicate entry" in info.value.problems[0].message
    assert info.value.problems[0].line == 8

    write_rec(tmp_path, "version: 2\nentries: []\n")
    with pytest.raises(InputError) as info:
        load(WorktreeSource(tmp_path), CASE_FILE)
    assert (info.value.problems[0].line, info.value.problems[0].col) == (1, 10)
    assert "unsupported recording version 2" in info.value.problems[0].message


def test_writer_refuses_to_overwrite_an_unreadable_recording(tmp_path: Path) -> None:
    write_rec(tmp_path, "version: 1\nentries: [\n")
    w = writer(tmp_path)
    w.add(CASE_FILE, "a", "m", 0, FP, resp("x"))
    w.add("cases/fine.yaml", "a", "m", 0, FP, resp("y"))
    with pytest.raises(InputError) as info:
        w.write()
    assert info.value.problems[0].path == REC
    assert (tmp_path / REC).read_text(encoding="utf-8") == "version: 1\nentries: [\n"
    assert (
        load(WorktreeSource(tmp_path), "cases/fine.yaml").lookup("a", "m", 0, FP)[0] == "hit"
    )  # others still written


def test_recordings_load_lazily_once_and_through_any_source(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.add(CASE_FILE, "a", "m", 0, FP, resp("on disk"))
    w.write()
    recs = Recordings(WorktreeSource(tmp_path))
    first = recs.load(CASE_FILE)
    assert recs.load(CASE_FILE) is first
    assert recs.lookup(CASE_FILE, "a", "m", 0, FP)[0] == "hit"

    at_ref = RecordingFile(path=REC, case_file=CASE_FILE)
    at_ref.entries[("a", "m", 0)] = RecordingEntry("a", "m", 0, FP2, "at main")
    reads: list[str] = []

    class AtRef:
        """A source answering like a git revision whose recording differs from the worktree's."""

        label = "main"

        def read_text(self, relpath: str) -> str:
            reads.append(relpath)
            if relpath != REC:
                raise FileNotFoundError(relpath)
            return render_file(at_ref)

        def exists(self, relpath: str) -> bool:
            return relpath == REC

        def list_files(self, reldir: str, suffixes: tuple[str, ...]) -> list[str]:
            return [REC]

        def resolves_within(self, relpath: str, reldir: str) -> bool:
            return True

    from_git = Recordings(AtRef())
    status, hit = from_git.lookup(CASE_FILE, "a", "m", 0, FP2)
    assert status == "hit" and hit is not None and hit.text == "at main"
    assert from_git.load("cases/x.yaml").exists is False
    assert reads == [REC, "cases/__recordings__/x.yaml"]


def test_large_recording_loads_quickly(tmp_path: Path) -> None:
    w = writer(tmp_path)
    for i in range(1000):
        w.add(
            CASE_FILE, f"case-{i:04d}", "gpt-4o-mini", 0, FP, resp(f"line one {i}\nline two\n", cost=0.0001)
        )
    w.write()
    start = time.perf_counter()
    rec = load(WorktreeSource(tmp_path), CASE_FILE)
    elapsed = time.perf_counter() - start
    assert len(rec.entries) == 1000
    print(f"loading a 1,000-entry recording took {elapsed * 1000:.1f} ms")
    assert elapsed < 5.0  # generous; measured well under 0.1 s with the C loader


def test_fast_reader_agrees_with_yaml() -> None:
    """The line-based reader for promptctl's own output must mean exactly what YAML means, and
    hand it anything it is not sure about (then YAML decides, errors included)."""
    import yaml

    rng = random.Random(3)
    pieces = ["a", "x y", " ", "  ", "\n", "\n\n", "\t", ":", " #", "- ", "|", '"', "'", "é", "\\", "1", "."]
    extra_lines = [
        "",
        " ",
        "# c",
        "      ",
        "   x",
        "  - case: z",
        "    output: |",
        "    output: |1",
        "        deep",
    ]
    checked = fast = 0
    for _ in range(400):
        entries = {}
        for k in range(rng.randint(0, 3)):
            t = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 15)))
            e = RecordingEntry(
                t or "c", rng.choice(["m", "yes", "1.5", "007"]), k, "ab" * 32, t, cost=rng.random()
            )
            entries[e.key] = e
        rec_file = RecordingFile("p", "cases/x.yaml", entries, source=rng.choice([None, "on", "a: b", "s"]))
        text = render_file(rec_file)
        assert R._fast_load(text) is not R._NOT_FAST  # our own output always takes the fast path
        variants = [text]
        for _ in range(4):
            lines = text.split("\n")
            j = rng.randrange(len(lines))
            op = rng.randrange(4)
            if op == 0:
                lines[j] = " " + lines[j]
            elif op == 1:
                lines.insert(j, rng.choice(extra_lines))
            elif op == 2:
                lines[j] += rng.choice([" # c", " ", ":"])
            else:
                del lines[j]
            variants.append("\n".join(lines))
        for v in variants:
            got = R._fast_load(v)
            if got is R._NOT_FAST:
                continue
            fast += 1
            assert got == yaml.load(v, Loader=yaml.SafeLoader), repr(v)
        checked += len(variants)
    assert fast > checked // 3


def test_hand_edited_file_with_comments_still_loads(tmp_path: Path) -> None:
    write_rec(
        tmp_path,
        "version: 1  # format\n"
        "entries:\n"
        "- case: a      # not the writer's indentation\n"
        "  model: m\n"
        "  sample: 0\n"
        f"  fingerprint: {FP}\n"
        "  output: >\n"
        "    folded\n"
        "    text\n",
    )
    hit = load(WorktreeSource(tmp_path), CASE_FILE).lookup("a", "m", 0, FP)[1]
    assert hit is not None and hit.text == "folded text\n"


def test_an_alias_bomb_in_a_recording_is_a_located_error_at_once() -> None:
    import time

    bomb = (
        "version: 1\nx0: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        + "".join(
            f"x{i}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
            for i, (p, n) in enumerate(zip("abcdefgh", "bcdefghi", strict=True), 1)
        )
        + "entries: *i\n"
    )
    started = time.perf_counter()
    with pytest.raises(InputError) as exc:
        R.parse(bomb, REC, CASE_FILE)
    assert time.perf_counter() - started < 2
    assert exc.value.problems[0].path == REC and "alias bomb" in exc.value.problems[0].message
