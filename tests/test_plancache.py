"""The plan cache: a rerun of an unchanged suite reuses its rendered plan; any edit to what the plan
was built from (prompt, partial, case file, dataset, {file:} var, config, a new or deleted case
file) rebuilds it; a broken entry is ignored; selections never collide; --ref never uses it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from promptctl import testrun
from promptctl.execute.recordings import RecordingWriter
from promptctl.execute.types import ModelResponse
from promptctl.plancache import PLAN_DIR
from promptctl.project import open_project
from tests.helpers import init_repo

FILES = {
    "promptctl.yaml": """
        model: fake
        models:
          fake:
            model: openai/gpt-4o-mini
            api_base: http://127.0.0.1:9/v1
            api_key_env: FAKE_KEY
    """,
    "prompts/echo.yaml": """
        inputs: {text: {}, extra: {default: ""}}
        params: {temperature: 0}
        messages:
          - role: system
            content: "You echo things back. {% include '_partials/sig.j2' %}"
          - role: user
            content: "Please echo: {{ text }}{{ extra }}"
    """,
    "prompts/_partials/sig.j2": "Signed: v1",
    "cases/echo.yaml": """
        prompt: echo
        cases:
          - id: alpha
            vars: {text: one}
            assert: [not_empty]
          - id: beta
            vars: {text: two, extra: {file: extra.txt}}
            assert: [{type: contains, value: two}]
    """,
    "cases/extra.txt": "-file-v1",
    "cases/data.yaml": """
        prompt: echo
        dataset: data.jsonl
        defaults:
          assert: [not_empty]
    """,
    "cases/data.jsonl": '{"id": "d1", "text": "from dataset v1"}\n',
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    _write(root, FILES)
    return root


def _run(root: Path, **kw: Any) -> testrun.TestOutcome:
    ref = kw.pop("ref", None)
    opts = testrun.TestOptions(offline=True, write_record=False, **kw)
    return testrun.run_tests(open_project(root, ref), opts)


def _status(out: testrun.TestOutcome) -> str:
    return str(out.record.stats["plan_cache"])


def _messages(out: testrun.TestOutcome) -> dict[str, str]:
    """case key -> the rendered conversation, one string."""
    return {r.row.case.key: " | ".join(m["content"] for m in r.row.messages) for r in out.results}


def test_second_run_reuses_the_plan(proj: Path) -> None:
    first = _run(proj)
    assert _status(first) == "miss"
    assert list((proj / PLAN_DIR).glob("*.pickle"))
    second = _run(proj)
    assert _status(second) == "hit"
    assert _messages(second) == _messages(first)
    assert [r.row.fingerprint for r in second.results] == [r.row.fingerprint for r in first.results]
    assert [r.row.key for r in second.results] == [r.row.key for r in first.results]
    assert _messages(second)["echo::beta"] == "You echo things back. Signed: v1 | Please echo: two-file-v1"
    assert _messages(second)["echo::d1"].endswith("from dataset v1")
    # The reused suite still carries what --record and other callers need, on the live source.
    project = open_project(proj)
    suite, rows, _notes = testrun.plan_tests(project, testrun.TestOptions())
    assert suite.source is project.source
    assert [cf.path for cf in suite.case_files] == ["cases/data.yaml", "cases/echo.yaml"]
    assert set(suite.prompts) == {"echo"}
    assert all(r.prompt is suite.prompts["echo"] for r in rows)


@pytest.mark.parametrize(
    ("rel", "old", "new", "key", "expect"),
    [
        ("prompts/echo.yaml", "Please echo:", "Echo please:", "echo::alpha", "Echo please: one"),
        ("prompts/_partials/sig.j2", "v1", "v2", "echo::alpha", "Signed: v2"),
        ("cases/echo.yaml", "text: one", "text: uno", "echo::alpha", "Please echo: uno"),
        ("cases/data.jsonl", "dataset v1", "dataset v2", "echo::d1", "from dataset v2"),
        ("cases/extra.txt", "-file-v1", "-file-v2", "echo::beta", "two-file-v2"),
    ],
)
def test_editing_an_input_file_rebuilds_the_plan(
    proj: Path, rel: str, old: str, new: str, key: str, expect: str
) -> None:
    _run(proj)
    assert _status(_run(proj)) == "hit"
    path = proj / rel
    path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")
    out = _run(proj)
    assert _status(out) == "miss"
    assert expect in _messages(out)[key]
    assert _status(_run(proj)) == "hit"  # and the rebuilt plan is cached in turn


def test_editing_the_config_rebuilds_the_plan(proj: Path) -> None:
    first = _run(proj)
    cfg = proj / "promptctl.yaml"
    cfg.write_text(cfg.read_text("utf-8").replace("gpt-4o-mini", "gpt-4o"), "utf-8")
    out = _run(proj)
    assert _status(out) == "miss"
    assert {r.row.target.model for r in out.results} == {"openai/gpt-4o"}
    assert out.results[0].row.fingerprint != first.results[0].row.fingerprint


def test_a_new_or_deleted_case_file_rebuilds_the_plan(proj: Path) -> None:
    _run(proj)
    _write(proj, {"cases/more.yaml": "prompt: echo\ncases:\n  - id: gamma\n    vars: {text: three}\n"})
    out = _run(proj)
    assert _status(out) == "miss"
    assert "echo::gamma" in _messages(out)
    (proj / "cases/more.yaml").unlink()
    out = _run(proj)
    assert _status(out) == "miss"
    assert "echo::gamma" not in _messages(out)


def test_a_new_partial_or_prompt_rebuilds_the_plan(proj: Path) -> None:
    _run(proj)
    _write(proj, {"prompts/other.yaml": "inputs: {text: {}}\ntemplate: '{{ text }}'\n"})
    assert _status(_run(proj)) == "miss"
    _write(proj, {"prompts/_partials/unused.j2": "x"})
    assert _status(_run(proj)) == "miss"
    assert _status(_run(proj)) == "hit"


def test_a_lint_error_introduced_later_is_reported(proj: Path) -> None:
    from promptctl.errors import InputError

    _run(proj)
    path = proj / "cases/echo.yaml"
    path.write_text(path.read_text("utf-8").replace("not_empty", "not_emptyy"), "utf-8")
    with pytest.raises(InputError):
        _run(proj)


@pytest.mark.parametrize("damage", ["garbage", "truncate", "empty"])
def test_a_corrupt_entry_is_ignored(proj: Path, damage: str) -> None:
    first = _run(proj)
    (entry,) = [p for p in (proj / PLAN_DIR).glob("*.pickle") if not p.name.startswith("rec-")]
    data = entry.read_bytes()
    entry.write_bytes(
        {"garbage": b"not a pickle at all", "truncate": data[: len(data) // 2], "empty": b""}[damage]
    )
    out = _run(proj)
    assert _status(out) == "miss"
    assert _messages(out) == _messages(first)
    assert _status(_run(proj)) == "hit"  # rewritten


def test_an_entry_from_other_code_is_ignored(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from promptctl import plancache

    _run(proj)
    monkeypatch.setattr(plancache, "_code_stamp", "from-another-promptctl")
    assert _status(_run(proj)) == "miss"


def test_selections_do_not_collide(proj: Path) -> None:
    a = _run(proj, keywords=["alpha"])
    assert _status(a) == "miss"
    assert set(_messages(a)) == {"echo::alpha"}
    b = _run(proj, keywords=["beta"])
    assert _status(b) == "miss"
    assert set(_messages(b)) == {"echo::beta"}
    a2 = _run(proj, keywords=["alpha"])
    assert _status(a2) == "hit"
    assert set(_messages(a2)) == {"echo::alpha"}
    everything = _run(proj)
    assert _status(everything) == "miss"
    assert set(_messages(everything)) == {"echo::alpha", "echo::beta", "echo::d1"}
    only_file = _run(proj, paths=[str(proj / "cases/data.yaml")])
    assert set(_messages(only_file)) == {"echo::d1"}
    assert _status(_run(proj, repeat=2)) == "miss"
    assert len(_run(proj, repeat=2).results) == 6


def test_ref_never_uses_the_plan_cache(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    init_repo(root, {k: textwrap.dedent(v).lstrip("\n") for k, v in FILES.items()})
    out = _run(root, ref="HEAD")
    assert _status(out) == "off"
    assert not (root / PLAN_DIR).exists()
    assert _status(_run(root)) == "miss"
    # A worktree edit is never seen through --ref, and --ref never reads the worktree's entry.
    p = root / "prompts/echo.yaml"
    p.write_text(p.read_text("utf-8").replace("Please echo:", "Worktree:"), "utf-8")
    assert _status(_run(root)) == "miss"
    out = _run(root, ref="HEAD")
    assert _status(out) == "off"
    assert "Please echo: one" in _messages(out)["echo::alpha"]


def test_plan_cache_can_be_turned_off(proj: Path) -> None:
    _run(proj)
    assert _status(_run(proj, use_plan_cache=False)) == "off"


def test_replays_follow_edits_to_recordings(proj: Path) -> None:
    first = _run(proj)
    writer = RecordingWriter(proj)
    for r in first.results:
        resp = ModelResponse(status="ok", text=f"out v1 {r.row.case.id}", source="live", attempts=1)
        writer.add(r.row.case.file, r.row.case.id, r.row.model_name, r.row.sample, r.row.fingerprint, resp)
    writer.write()
    out = _run(proj)
    assert out.stats.replays == 3
    assert {r.response.text for r in out.results} == {"out v1 alpha", "out v1 beta", "out v1 d1"}
    assert _run(proj).stats.replays == 3  # parsed recording reused
    rec = proj / "cases/__recordings__/echo.yaml"
    rec.write_text(rec.read_text("utf-8").replace("out v1 alpha", "out v2 alpha"), "utf-8")
    out = _run(proj)
    assert "out v2 alpha" in {r.response.text for r in out.results}
    # A corrupt parsed-recording entry is ignored too.
    for p in (proj / PLAN_DIR).glob("rec-*.pickle"):
        p.write_bytes(b"junk")
    out = _run(proj)
    assert "out v2 alpha" in {r.response.text for r in out.results}


def test_a_hit_does_not_import_jinja2(proj: Path) -> None:
    # Both runs in fresh processes: this one's code stamp is computed once and kept.
    code = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from promptctl.project import open_project
        from promptctl.testrun import TestOptions, run_tests
        out = run_tests(open_project(Path(sys.argv[1])), TestOptions(offline=True, write_record=False))
        print(json.dumps([out.record.stats["plan_cache"], "jinja2" in sys.modules, "litellm" in sys.modules]))
        """
    )
    seen = []
    for _ in range(2):
        p = subprocess.run(
            [sys.executable, "-c", code, str(proj)], capture_output=True, text=True, check=True
        )
        seen.append(json.loads(p.stdout.strip().splitlines()[-1]))
    assert seen == [["miss", True, False], ["hit", False, False]]


def test_the_record_says_whether_the_plan_was_reused(proj: Path) -> None:
    opts = testrun.TestOptions(offline=True)
    testrun.run_tests(open_project(proj), opts)
    out = testrun.run_tests(open_project(proj), testrun.TestOptions(offline=True))
    assert out.record_path is not None
    data = json.loads(Path(out.record_path).read_text("utf-8"))
    assert data["stats"]["plan_cache"] == "hit"
