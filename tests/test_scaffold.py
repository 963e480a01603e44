"""`promptctl init`'s first project: `$schema` lines that resolve on a fresh clone (and this
repository's own), the sample only in an empty prompts folder, a first `promptctl test` that passes
offline with no key, and next steps that say how to add a key and record real outputs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from promptctl.scaffold import InstallSource, scaffold
from tests.helpers import commit_all, init_repo, invoke, write_files

SCHEMA_LINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=(\S+)\s*$", re.MULTILINE)
REPO = Path(__file__).resolve().parent.parent
PACKAGE_SCHEMAS = REPO / "promptctl" / "schemas"
SOURCE = InstallSource("promptctl-git==1.2.3", "a release")


def kind_of(path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    if rel == "promptctl.yaml":
        return "config"
    return "prompt" if rel.startswith("prompts/") else "cases"


def check_schema_lines(root: Path, files: list[Path]) -> int:
    """Every `$schema` line among ``files`` names a file that exists (resolved from the file's own
    folder, as the YAML language server does), is the schema of that kind of file, and the file
    validates against it. Returns how many lines were checked."""
    checked = 0
    for f in files:
        for target in SCHEMA_LINE.findall(f.read_text("utf-8")):
            assert "://" not in target, f"{f}: $schema={target} is a URL, not a file on a fresh clone"
            schema_path = (f.parent / target).resolve()
            assert schema_path.is_file(), f"{f}: $schema={target} does not exist ({schema_path})"
            kind = kind_of(f, root)
            assert schema_path.name == f"{kind}.schema.json", (
                f"{f}: $schema={target} is not the {kind} schema"
            )
            schema = json.loads(schema_path.read_text("utf-8"))
            assert schema == json.loads((PACKAGE_SCHEMAS / schema_path.name).read_text("utf-8"))
            jsonschema.validate(yaml.safe_load(f.read_text("utf-8")), schema)
            checked += 1
    return checked


def test_every_schema_line_init_writes_resolves_on_a_fresh_clone(tmp_path: Path) -> None:
    work = init_repo(tmp_path / "work")
    scaffold(work, SOURCE)
    commit_all(work, "init")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(work), str(clone)], check=True)
    yamls = [p for p in clone.rglob("*.y*ml") if ".git" not in p.parts]
    with_lines = [p for p in yamls if SCHEMA_LINE.search(p.read_text("utf-8"))]
    assert {p.relative_to(clone).as_posix() for p in with_lines} == {
        "promptctl.yaml",
        "prompts/summarize.yaml",
        "cases/summarize.yaml",
    }
    assert check_schema_lines(clone, with_lines) == 3


def test_every_schema_line_of_this_repository_resolves(repo_root: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.yaml", "*.yml"], cwd=repo_root, capture_output=True, text=True
    ).stdout.split()
    files = [
        repo_root / t
        for t in tracked
        if not t.startswith("promptctl/templates/") and SCHEMA_LINE.search((repo_root / t).read_text("utf-8"))
    ]
    assert len(files) >= 13  # promptctl.yaml and every example prompt and case file
    assert check_schema_lines(repo_root, files) == len(files)


def test_schema_lines_follow_the_configured_folders(tmp_path: Path) -> None:
    write_files(tmp_path, {"promptctl.yaml": "prompts_dir: src/prompts\ncases_dir: tests/cases\n"})
    scaffold(tmp_path, SOURCE)
    prompt = tmp_path / "src/prompts/summarize.yaml"
    case = tmp_path / "tests/cases/summarize.yaml"
    assert prompt.is_file() and case.is_file() and not (tmp_path / "prompts").exists()
    assert (tmp_path / "tests/cases/__recordings__/summarize.yaml").is_file()
    assert SCHEMA_LINE.findall(prompt.read_text())[0] == "../../schemas/promptctl/prompt.schema.json"
    assert (prompt.parent / "../../schemas/promptctl/prompt.schema.json").resolve().is_file()
    r = invoke("test", cwd=tmp_path)
    assert r.exit_code == 0, r.output


def test_the_sample_goes_only_into_an_empty_prompts_folder(tmp_path: Path) -> None:
    write_files(tmp_path, {"prompts/mine.yaml": 'template: "hi"\n'})
    actions = scaffold(tmp_path, SOURCE)
    assert not (tmp_path / "prompts/summarize.yaml").exists()
    assert not (tmp_path / "cases/summarize.yaml").exists()
    assert not (tmp_path / "cases/__recordings__").exists()
    skipped = [msg for act, msg in actions if act == "skipped"]
    assert len(skipped) == 1 and "prompts/ already holds files" in skipped[0]
    # an empty folder (or one with only hidden files) gets it
    empty = tmp_path / "other"
    (empty / "prompts").mkdir(parents=True)
    (empty / "prompts/.gitkeep").write_text("")
    scaffold(empty, SOURCE)
    assert (empty / "prompts/summarize.yaml").is_file()


def test_first_test_after_init_passes_offline_without_a_key(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "new")
    r = invoke("init", cwd=root)
    assert r.exit_code == 0, r.output
    first = invoke("test", cwd=root)  # no key in the environment (conftest), no network
    assert first.exit_code == 0, first.output
    assert "1 passed, 0 failed, 0 errors" in first.stdout and "1 replayed, 0 live" in first.stdout
    assert "cost unknown" not in first.stdout
    assert invoke("test", "--offline", cwd=root).exit_code == 0
    assert invoke("lint", cwd=root).exit_code == 0


def test_next_steps_say_how_to_add_a_key_and_record(tmp_path: Path) -> None:
    r = invoke("init", cwd=tmp_path)
    assert "next steps:" in r.stdout
    out = r.stdout[r.stdout.index("next steps:") :]
    assert "promptctl test" in out and "cases/__recordings__/summarize.yaml" in out
    assert "OPENAI_API_KEY" in out and ".env" in out
    assert "promptctl test --record" in out
    # every command the text names exists
    for cmd in set(re.findall(r"promptctl ([a-z]+)", out)):
        assert invoke(cmd, "--help").exit_code == 0, cmd


def test_an_outdated_schema_copy_is_reported_never_overwritten(tmp_path: Path) -> None:
    scaffold(tmp_path, SOURCE)
    copy = tmp_path / "schemas/promptctl/prompt.schema.json"
    copy.write_text("{}\n")
    actions = scaffold(tmp_path, SOURCE)
    outdated = [msg for act, msg in actions if act == "outdated"]
    assert len(outdated) == 1 and "schemas/promptctl/prompt.schema.json" in outdated[0]
    assert "delete it" in outdated[0] and copy.read_text() == "{}\n"


@pytest.mark.parametrize("name", ["config", "prompt", "cases"])
def test_the_written_schemas_are_the_packaged_ones(tmp_path: Path, name: str) -> None:
    scaffold(tmp_path, SOURCE)
    written = (tmp_path / f"schemas/promptctl/{name}.schema.json").read_text("utf-8")
    assert written == (PACKAGE_SCHEMAS / f"{name}.schema.json").read_text("utf-8")


def test_the_sample_recording_answers_the_sample_request(tmp_path: Path) -> None:
    """The shipped recording carries the fingerprint of the request the sample makes."""
    from promptctl.run.plan import build_plan
    from promptctl.suite.project import open_project
    from promptctl.suite.render import make_renderer

    scaffold(tmp_path, SOURCE)
    suite = open_project(tmp_path).load()
    rows = build_plan(suite, make_renderer(suite))
    assert len(rows) == 1
    recorded = yaml.safe_load((tmp_path / "cases/__recordings__/summarize.yaml").read_text())
    entry = recorded["entries"][0]
    assert (entry["case"], entry["model"], entry["sample"]) == (rows[0].case.id, rows[0].model_name, 0)
    assert entry["fingerprint"] == rows[0].fingerprint, (
        "the sample's request changed: set the fingerprint in "
        f"promptctl/templates/init/summarize.recording.yaml to {rows[0].fingerprint}"
    )
    assert "hand-written sample" in recorded["source"]
