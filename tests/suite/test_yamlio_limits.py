"""Resource limits of the YAML loader (suite/yamlio.py): alias expansion and nesting depth end in a
located problem, quickly, instead of minutes, gigabytes, a RecursionError or a crash."""

from __future__ import annotations

import time
from pathlib import Path

from promptctl.suite.yamlio import MAX_ALIAS_VALUES, MAX_DEPTH, load_yaml, too_deep
from tests.helpers import MINIMAL, invoke, write_files

# The classic "billion laughs": 342 bytes, 9**9 strings once expanded.
BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

MERGE_BOMB = "a: &a {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x}\n" + "".join(
    f"{n}: &{n} {{<<: [{', '.join(f'*{p}' for _ in range(9))}], v: {{<<: [{', '.join(f'*{p}' for _ in range(9))}]}}}}\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def timed(text: str, path: str = "cases/x.yaml") -> tuple[list[str], float]:
    started = time.perf_counter()
    _, problems = load_yaml(text, path)
    return [p.format() for p in problems], time.perf_counter() - started


def test_billion_laughs_stops_at_the_alias_budget() -> None:
    problems, seconds = timed(BOMB)
    assert seconds < 2, seconds
    # At the list whose aliases expand past the budget (line 6, `f: &f [*e, ...]`: 9**6 strings).
    assert problems == [
        f"cases/x.yaml:6:4: YAML aliases here expand to more than {MAX_ALIAS_VALUES:,} values "
        "(an alias bomb?); write the values out or use fewer nested aliases"
    ]


def test_merge_key_bomb_stops_at_the_alias_budget() -> None:
    problems, seconds = timed(MERGE_BOMB)
    assert seconds < 2, seconds
    assert len(problems) == 1 and f"more than {MAX_ALIAS_VALUES:,} values" in problems[0], problems


def test_deep_flow_nesting_is_a_located_problem() -> None:
    text = "cases:\n  - vars: " + "[" * 900 + "]" * 900 + "\n"
    problems, seconds = timed(text)
    assert seconds < 2, seconds
    assert problems == [f"cases/x.yaml:2:{MAX_DEPTH + 8}: nesting deeper than {MAX_DEPTH} levels"]


def test_deep_block_nesting_is_a_located_problem() -> None:
    text = "".join(f"{'  ' * i}k{i}:\n" for i in range(300)) + "  " * 300 + "end\n"
    problems, _ = timed(text)
    assert len(problems) == 1 and f"nesting deeper than {MAX_DEPTH} levels" in problems[0], problems
    assert problems[0].startswith(f"cases/x.yaml:{MAX_DEPTH + 1}:")


def test_nesting_up_to_the_limit_and_ordinary_aliases_load() -> None:
    depth = MAX_DEPTH - 1
    doc, problems = load_yaml("[" * depth + "1" + "]" * depth, "x.yaml")
    assert problems == []
    value = doc.data
    for _ in range(depth):
        value = value[0]
    assert value == 1
    doc, problems = load_yaml("d: &d {x: 1, y: [1, 2]}\nb: {<<: *d, x: 2}\nc: *d\n", "x.yaml")
    assert problems == []
    assert doc.data == {"d": {"x": 1, "y": [1, 2]}, "b": {"x": 2, "y": [1, 2]}, "c": {"x": 1, "y": [1, 2]}}


def test_an_alias_bomb_in_a_case_file_is_exit_2_at_once(tmp_path: Path) -> None:
    write_files(tmp_path, {**MINIMAL, "cases/bomb.yaml": "prompt: greet\n" + BOMB})
    started = time.perf_counter()
    r = invoke("lint", cwd=tmp_path)
    assert time.perf_counter() - started < 10
    assert r.exit_code == 2, r.output
    assert "cases/bomb.yaml:" in r.output and "values (an alias bomb?)" in r.output
    assert "Traceback" not in r.output


def test_deep_json_in_a_dataset_is_a_located_problem(tmp_path: Path) -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    rows = f'{{"name": "ok"}}\n{{"name": {deep}}}\n{{"name": {"[" * 100_000 + "]" * 100_000}}}\n'
    write_files(tmp_path, {**MINIMAL, "cases/greet.yaml": "prompt: greet\ndataset: rows.jsonl\n"})
    (tmp_path / "cases/rows.jsonl").write_text(rows)
    r = invoke("lint", cwd=tmp_path)
    assert r.exit_code == 2, r.output
    assert f"cases/rows.jsonl:2:1: nesting deeper than {MAX_DEPTH} levels" in r.output
    assert f"cases/rows.jsonl:3:1: nesting deeper than {MAX_DEPTH} levels" in r.output
    assert "internal error" not in r.output
    assert not too_deep([[1]], limit=2) and too_deep([[[1]]], limit=2) and too_deep({"a": [{}]}, limit=2)
