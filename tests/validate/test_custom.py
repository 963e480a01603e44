from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest

from tests.validate.util import A, errors, fails, passes

_counter = itertools.count()

MODULE = """
import asyncio

def as_bool(output):
    return "yes" in output

def as_float(output, context):
    return context["args"].get("score", 0.7)

def as_dict(output, case=None, context=None):
    reason = f"saw {output!r} for {context['case_id']}"
    return {"pass": output == case.vars["want"], "score": 0.25, "reason": reason}

def score_only(output, **kwargs):
    return {"score": 0.4, "reason": "partial"}

def raises(output):
    raise ValueError("bad output\\nsecond line")

def returns_none(output):
    pass

def out_of_range(output):
    return 3.5

async def async_check(output, context):
    await asyncio.sleep(0)
    return True

class Checks:
    @staticmethod
    def method(output):
        return False
"""


@pytest.fixture
def repo(tmp_path: Path) -> tuple[str, str]:
    """A repository root with a unique package ``checks_N/validators.py``."""
    pkg = f"checks_{next(_counter)}"
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "validators.py").write_text(textwrap.dedent(MODULE))
    return str(tmp_path), f"{pkg}.validators"


def test_bool(repo: tuple[str, str]) -> None:
    root, mod = repo
    passes(A("python", f"{mod}:as_bool"), "yes sir", root=root)
    r = fails(A("python", f"{mod}:as_bool"), "no", root=root)
    assert r.reason.endswith("returned False")


def test_float_threshold_and_context_args(repo: tuple[str, str]) -> None:
    root, mod = repo
    r = passes(A("python", f"{mod}:as_float"), "x", root=root)
    assert r.score == pytest.approx(0.7)
    fails(A("python", f"{mod}:as_float", threshold=0.8), "x", root=root)
    fails(A("python", f"{mod}:as_float", args={"score": 0.1}), "x", root=root)


def test_dict_with_case_and_context(repo: tuple[str, str]) -> None:
    root, mod = repo
    r = passes(A("python", f"{mod}:as_dict"), "hi", root=root, vars={"want": "hi"})
    assert r.score == 0.25 and r.reason == "saw 'hi' for c1"
    fails(A("python", f"{mod}:as_dict"), "ho", root=root, vars={"want": "hi"})
    r = fails(A("python", f"{mod}:score_only"), "x", root=root)
    assert r.reason == "partial"
    passes(A("python", f"{mod}:score_only", threshold=0.4), "x", root=root)


def test_async_and_dotted_attribute(repo: tuple[str, str]) -> None:
    root, mod = repo
    passes(A("python", f"{mod}:async_check"), "x", root=root)
    fails(A("python", f"{mod}:Checks.method"), "x", root=root)


def test_errors(repo: tuple[str, str]) -> None:
    root, mod = repo
    r = errors(A("python", f"{mod}:raises"), "x", root=root)
    assert r.reason == f"{mod}:raises raised ValueError: bad output"
    r = errors(A("python", f"{mod}:raises", negate=True), "x", root=root)
    assert "ValueError" in r.reason
    assert "missing return" in errors(A("python", f"{mod}:returns_none"), "x", root=root).reason
    assert "outside [0, 1]" in errors(A("python", f"{mod}:out_of_range"), "x", root=root).reason
    assert "no attribute" in errors(A("python", f"{mod}:nope"), "x", root=root).reason
    assert "cannot import" in errors(A("python", "no_such_module_xyz:f"), "x", root=root).reason
    assert "module.path:function" in errors(A("python", "not a ref"), "x", root=root).reason


def test_sys_path_restored(repo: tuple[str, str]) -> None:
    import sys

    root, mod = repo
    before = list(sys.path)
    passes(A("python", f"{mod}:as_bool"), "yes", root=root)
    assert sys.path == before


def test_same_module_name_from_two_roots(tmp_path: Path) -> None:
    """Two worktrees (e.g. base and head of a compare) each get their own version."""
    for side, answer in (("base", "False"), ("head", "True")):
        (tmp_path / side / "samename_checks").mkdir(parents=True)
        init = tmp_path / side / "samename_checks" / "__init__.py"
        init.write_text(f"def check(output):\n    return {answer}\n")
    fails(A("python", "samename_checks:check"), "x", root=str(tmp_path / "base"))
    passes(A("python", "samename_checks:check"), "x", root=str(tmp_path / "head"))
    fails(A("python", "samename_checks:check"), "x", root=str(tmp_path / "base"))
