"""The record schema: what a stored record must look like before it is believed."""

from __future__ import annotations

from typing import Any

import pytest

from promptctl.records.schema import record_problems
from tests.records.rows import record, row


def good() -> dict[str, Any]:
    return record([row("a"), row("b", "fail", metric=("quality", 0.2)), row("c", "error")]).to_dict()


def test_a_written_record_is_sound() -> None:
    assert record_problems(good()) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"schema_version": 99}, "schema_version 99 is newer than this promptctl reads (1)"),
        ({"schema_version": "1"}, "schema_version: expected an integer, got '1'"),
        ({"schema_version": 0}, "schema_version 0 is not a record version"),
        ({"rows": "all good"}, "rows: expected a list, got 'all good'"),
        ({"complete": 1}, "complete: expected true or false, got 1"),
        ({"commit": 7}, "commit: expected a string or null, got 7"),
        ({"created_at": None}, "created_at: expected a string, got None"),
        ({"rows": [5]}, "rows[0]: expected an object, got 5"),
        ({"rows": [{**row("a"), "status": "great"}]}, "rows[0].status: 'great' is not one of"),
        ({"rows": [{**row("a"), "score": 1.5}]}, "rows[0].score: 1.5 is outside [0, 1]"),
        ({"rows": [{**row("a"), "score": float("nan")}]}, "rows[0].score: expected a number or null"),
        ({"rows": [{**row("a"), "sample": True}]}, "rows[0].sample: expected an integer, got True"),
        ({"rows": [{**row("a"), "sample": -1}]}, "rows[0].sample: -1 is negative"),
        ({"rows": [{**row("a"), "case_key": "q::z"}]}, "rows[0].case_key: 'q::z' is not prompt::case"),
        ({"rows": [{**row("a"), "source": "imagination"}]}, "rows[0].source: 'imagination' is not one of"),
        ({"rows": [{**row("a"), "asserts": [{"type": "x"}]}]}, "rows[0].asserts[0]: missing 'label'"),
        (
            {
                "rows": [
                    {
                        **row("a", metric=("q", 0.5)),
                        "asserts": [{**row("a", metric=("q", 0.5))["asserts"][0], "score": "high"}],
                    }
                ]
            },
            "rows[0].asserts[0].score: expected a number, got 'high'",
        ),
        ({"rows": [row("a"), row("a")]}, "rows[1]: a second row for p::a [m] sample 0"),
    ],
)
def test_problems_are_named_with_their_place(change: dict[str, Any], problem: str) -> None:
    problems = record_problems({**good(), **change})
    assert problems and any(p.startswith(problem) for p in problems), problems


def test_missing_fields_and_not_an_object() -> None:
    data = good()
    del data["rows"]
    assert record_problems(data) == ["missing 'rows'"]
    assert record_problems([1, 2]) == ["not a JSON object (got list)"]
    assert len(record_problems({**good(), "rows": [{}] * 10})) == 3  # the first few, not thousands
