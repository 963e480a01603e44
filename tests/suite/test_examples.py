"""Few-shot example sets: the file format, deterministic selections, the ``examples()`` template
global, and the selection being part of the rendered request (so of its fingerprint)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptctl.git.sources import WorktreeSource
from promptctl.run.plan import build_plan
from promptctl.suite.examples import Example, ExampleLibrary, choose, similarity
from promptctl.suite.project import open_project
from promptctl.suite.render import make_renderer
from tests.helpers import invoke, write_files


def ex(i: int, q: str, added: str = "") -> Example:
    return Example(id=f"e{i}", vars={"q": q}, output=f"A{i}", position=i, added=added)


POOL = [
    ex(0, "refund for my cancelled plan", "2026-01-03"),
    ex(1, "where is my parcel", "2026-01-01"),
    ex(2, "parcel arrived broken", "2026-01-02"),
    ex(3, "change my billing address"),
]


def ids(chosen: list[Example]) -> list[str]:
    return [e.id for e in chosen]


def test_recent_takes_the_latest_added_in_file_order() -> None:
    # undated entries count as older than dated ones; the chosen ones keep their file order
    assert ids(choose(POOL, {"q": "x"}, k=2, select="recent")) == ["e0", "e2"]
    assert ids(choose(POOL, {"q": "x"}, k=0, select="recent")) == []
    assert ids(choose(POOL, {"q": "x"}, k=10, select="recent")) == ["e0", "e1", "e2", "e3"]


def test_random_is_seeded_stable_and_does_not_reshuffle_when_the_set_grows() -> None:
    a = ids(choose(POOL, {"q": "x"}, k=2, select="random", seed=1))
    assert a == ids(choose(POOL, {"q": "x"}, k=2, select="random", seed=1))
    seeds = {tuple(ids(choose(POOL, {"q": "x"}, k=2, select="random", seed=s))) for s in range(12)}
    assert len(seeds) > 1  # the seed matters
    grown = [*POOL, ex(4, "another question")]
    b = ids(choose(grown, {"q": "x"}, k=2, select="random", seed=1))
    assert b == a or "e4" in b  # only the newcomer can take a place
    assert a == ["e1", "e3"]  # pinned: the same on every machine and Python version


def test_similar_ranks_by_words_of_the_shared_variables() -> None:
    chosen = choose(POOL, {"q": "parcel arrived but broken", "other": "refund"}, k=2, select="similar")
    assert ids(chosen) == ["e2", "e1"]  # most similar first
    by_field = choose(POOL, {"q": "zzz", "topic": "billing"}, k=1, select="similar", fields=["topic"])
    assert ids(by_field) == ["e0"]  # no overlap anywhere: ties go to the most recent


def test_an_example_of_the_very_input_is_never_shown() -> None:
    assert "e1" not in ids(choose(POOL, {"q": "where is my parcel"}, k=4, select="recent"))
    assert "e1" not in ids(choose(POOL, {"q": "where is my parcel"}, k=4, select="similar"))


def test_similarity_is_a_cosine() -> None:
    from collections import Counter

    assert similarity(Counter("ab"), Counter("ab")) == 1.0
    assert similarity(Counter("a"), Counter("b")) == 0.0
    assert similarity(Counter(), Counter("b")) == 0.0


SET = """\
description: Approved replies.
examples:
  - vars: {email: "My parcel never arrived."}
    output: |
      We are sorry: a new parcel is on its way.
    added: "2026-11-01T09:00:00Z"
    source: {kind: review, case: "reply::lost", reviewer: "R <r@x>"}
  - id: refund
    vars: {email: "I want my money back for the cancelled plan."}
    output: We will refund within 5 days.
    source: {kind: feedback, trace_id: t-17}
"""

PROJECT = {
    "promptctl.yaml": "model: openai/test-model\n",
    "prompts/reply.yaml": """
        inputs:
          email: {}
        messages:
          - role: system
            content: |
              Answer support email.
              {% for ex in examples("reply", k=1, select="similar") %}
              Email: {{ ex.vars.email }}
              Answer: {{ ex.output }}
              {% endfor %}
          - role: user
            content: "{{ email }}"
    """,
    "cases/reply.yaml": """
        prompt: reply
        cases:
          - id: refund
            vars: {email: "Please refund my cancelled plan"}
            assert: [not_empty]
    """,
    "examples/reply.yaml": SET,
}


def test_sets_load_with_ids_positions_and_provenance(tmp_path: Path) -> None:
    write_files(tmp_path, {"examples/reply.yaml": SET, "examples/nested/x.yml": "examples: []\n"})
    lib = ExampleLibrary(WorktreeSource(tmp_path), "examples")
    assert lib.names() == ["nested/x", "reply"] and lib.sets == {}  # nothing read until asked for
    reply = lib.load("reply")
    assert reply is not None and lib.load("nested/x") is not None and lib.load("none") is None
    assert lib.load("../reply") is None and lib.problems == {}
    first, second = reply.examples
    assert (first.id, first.position, first.added, first.loc.line) == (
        "example-1",
        0,
        "2026-11-01T09:00:00Z",
        3,
    )
    assert first.source == {"kind": "review", "case": "reply::lost", "reviewer": "R <r@x>"}
    assert (second.id, second.output, second.source["trace_id"]) == (
        "refund",
        "We will refund within 5 days.",
        "t-17",
    )


def test_malformed_sets_are_located_one_problem_one_message(tmp_path: Path) -> None:
    bad = """\
examples:
  - vars: {email: x}
  - id: a
    vars: {email: y}
    output: z
    source: {kind: magic}
  - id: a
    vars: {email: w}
    output: v
"""
    write_files(tmp_path, {**PROJECT, "examples/reply.yaml": bad, "examples/empty.yaml": ""})
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stdout == (  # empty.yaml: no prompt uses it, so it is not read
        "examples/reply.yaml:2:5: examples.0: 'output' is required\n"
        "examples/reply.yaml:6:20: examples.1.source.kind: 'magic' is not allowed; expected one of: feedback, "
        "manual, review\n"
    )
    write_files(
        tmp_path,
        {
            "examples/reply.yaml": "examples:\n  - {id: a, vars: {}, output: x}\n  - {id: a, vars: {}, output: y}\n",
            "prompts/other.yaml": "template: \"{% for e in examples('empty') %}{{ e.output }}{% endfor %}\"\n",
        },
    )
    result = invoke("lint", cwd=tmp_path)
    assert result.stdout == (
        "examples/empty.yaml:1:1: file is empty; an empty set is `examples: []`\n"
        "examples/reply.yaml:3:10: duplicate example id 'a' in set 'reply' (first at line 2)\n"
    )


def test_unrelated_yaml_in_the_examples_folder_is_never_read(tmp_path: Path) -> None:
    write_files(tmp_path, {**PROJECT, "examples/docker-compose.yaml": "services: {web: {image: x}}\n"})
    assert invoke("lint", cwd=tmp_path).exit_code == 0
    assert invoke("render", "reply", "--case", "refund", cwd=tmp_path).exit_code == 0


def test_a_set_named_only_at_render_time_reports_its_first_problem_located(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            **PROJECT,
            "examples/dyn.yaml": "examples:\n  - {vars: {}}\n",
            "prompts/t.yaml": 'inputs: {which: {}}\ntemplate: "{{ examples(which) }}"\n',
        },
    )
    result = invoke("render", "t", "--var", "which=dyn", cwd=tmp_path)
    assert result.exit_code == 2
    assert (
        "example set 'dyn' has errors: examples/dyn.yaml:2:5: examples.0: 'output' is required"
        in result.stderr
    )


def test_render_shows_the_selected_examples(tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)
    result = invoke("render", "reply", "--case", "refund", "--json", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    system = json.loads(result.stdout)[0]["content"]
    assert (
        "Email: I want my money back for the cancelled plan.\nAnswer: We will refund within 5 days." in system
    )
    assert "parcel" not in system  # k=1, the most similar one


def test_an_unknown_set_is_an_error_at_the_template_line(tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)
    (tmp_path / "examples/reply.yaml").rename(tmp_path / "examples/replies.yaml")
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2
    assert (
        "prompts/reply.yaml:7:7: unknown example set 'reply' (no examples/reply.yaml); did you mean 'replies'?; "
        "create it (`examples: []`) or grow it with `promptctl examples add reply --from-reviews` "
        "(rendering case at cases/reply.yaml:3)"
    ) in result.stdout


def test_bad_arguments_are_render_errors(tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)
    for call, message in (
        ('examples("reply", k=-1)', "examples(): k must be a whole number >= 0, got -1"),
        (
            'examples("reply", select="best")',
            "examples(): select='best' is not one of recent, random, similar",
        ),
        (
            'examples("reply", fields="email")',
            "examples(): fields must be a list of variable names, got 'email'",
        ),
        ("examples(3)", "examples(): the set name must be a string, got 3"),
    ):
        write_files(tmp_path, {"prompts/t.yaml": f"inputs: {{email: {{}}}}\ntemplate: '{{{{ {call} }}}}'\n"})
        result = invoke("render", "t", "--var", "email=x", cwd=tmp_path)
        assert result.exit_code == 2 and message in result.stderr, (call, result.output)


def test_the_selection_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)

    def fingerprints() -> list[str]:
        suite = open_project(tmp_path).load()
        return [r.fingerprint for r in build_plan(suite, make_renderer(suite))]

    before = fingerprints()
    assert before == fingerprints()  # deterministic
    text = (tmp_path / "examples/reply.yaml").read_text("utf-8")
    (tmp_path / "examples/reply.yaml").write_text(text.replace("5 days", "3 days"), "utf-8")
    assert fingerprints() != before
    (tmp_path / "examples/reply.yaml").write_text(text.replace("My parcel", "My box"), "utf-8")
    assert fingerprints() == before  # an example that is not selected changes nothing


def test_examples_dir_is_configurable(tmp_path: Path) -> None:
    write_files(tmp_path, {**PROJECT, "promptctl.yaml": "model: openai/test-model\nexamples_dir: shots\n"})
    (tmp_path / "shots").mkdir()
    (tmp_path / "examples/reply.yaml").rename(tmp_path / "shots/reply.yaml")
    assert invoke("render", "reply", "--case", "refund", cwd=tmp_path).exit_code == 0
    write_files(tmp_path, {"promptctl.yaml": "examples_dir: ../elsewhere\n"})
    result = invoke("list", cwd=tmp_path)
    assert result.exit_code == 2 and "examples_dir must be a path inside the project" in result.output


def test_the_schema_agrees_with_jsonschema() -> None:
    import jsonschema

    from promptctl.suite.schemacheck import Checker
    from promptctl.suite.yamlio import load_schema

    schema = load_schema("examples")
    jsonschema.validators.validator_for(schema).check_schema(schema)
    reference = jsonschema.validators.validator_for(schema)(schema)
    good = {"vars": {"a": 1}, "output": "x", "added": "2026-11-30", "source": {"kind": "manual"}}
    samples: list[Any] = [
        {"examples": [good]},
        {"examples": [{**good, "added": "yesterday", "source": {"kind": "x", "y": 1}}]},
        {"examples": [{"vars": [], "output": 3}]},
        {"description": 1},
        {"examples": None},
    ]
    for sample in samples:
        theirs = {tuple(e.absolute_path) for e in reference.iter_errors(sample)}
        assert theirs == {tuple(e.absolute_path) for e in Checker(schema).iter_errors(sample)}, sample
