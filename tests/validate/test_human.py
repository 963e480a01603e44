"""``human``: accepted identical output passes, rejected fails, unreviewed is pending; scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptctl.git.sources import WorktreeSource
from promptctl.run.runner import row_status
from promptctl.suite.reviews import Review, ReviewBook, ReviewFile, output_hash, write
from promptctl.validate import case_score, lint_assertion, row_passed
from promptctl.validate.human import ScoreSpec, score_spec, score_specs
from tests.helpers import write_files
from tests.validate.util import A, errors, fails, passes, run

OUT = "Dear Dana, your refund is on its way.\n"


def _reviewed(root: Path, *reviews: Review) -> str:
    write(root, ReviewFile(path="cases/__reviews__/p.yaml", case_file="cases/p.yaml", reviews=list(reviews)))
    return str(root)


def _r(output: str = OUT, verdict: str = "accepted", model: str = "fake", **kw: object) -> Review:
    return Review(
        case="c1",
        model=model,
        output_sha256=output_hash(output),
        verdict=verdict,
        reviewer="Rita <rita@example.invalid>",
        at="2026-11-30T10:00:00Z",
        output=output,
        **kw,  # type: ignore[arg-type]
    )


EXTRA = {"model_name": "fake"}


def test_unreviewed_output_is_pending_never_a_pass(tmp_path: Path) -> None:
    r = run(A("human"), OUT, root=str(tmp_path), extra=EXTRA)
    assert (r.passed, r.error, r.pending, r.score) == (False, False, True, 0.0)
    assert r.reason == "this output is not reviewed yet; run `promptctl review`"
    assert r.to_dict()["pending"] is True
    assert not row_passed([r])
    assert row_status_of(r) == "pending"


def row_status_of(*results: object) -> str:
    from promptctl.execute.types import ModelResponse

    return row_status(ModelResponse(status="ok", text="x"), list(results))  # type: ignore[arg-type]


def test_accepted_identical_output_passes_rejected_fails(tmp_path: Path) -> None:
    root = _reviewed(tmp_path, _r(comment="clear and kind"))
    r = passes(A("human"), OUT, root=root, extra=EXTRA)
    assert r.reason == "accepted by Rita <rita@example.invalid> on 2026-11-30: clear and kind"
    root = _reviewed(tmp_path, _r(verdict="rejected", comment="wrong amount"))
    r = fails(A("human"), OUT, root=root, extra=EXTRA)
    assert r.reason == "rejected by Rita <rita@example.invalid> on 2026-11-30: wrong amount"


def test_a_changed_output_is_pending_again_and_says_it_differs(tmp_path: Path) -> None:
    root = _reviewed(tmp_path, _r())
    r = run(A("human"), OUT + "P.S.", root=root, extra=EXTRA)
    assert r.pending and not r.passed
    assert "differs from the output Rita <rita@example.invalid> accepted on 2026-11-30" in r.reason


def test_the_raw_output_is_reviewed_transforms_do_not_apply(tmp_path: Path) -> None:
    root = _reviewed(tmp_path, _r())
    passes(A("human", transform=["strip", "upper"]), OUT, root=root, extra=EXTRA)
    assert run(A("human"), OUT.strip(), root=root, extra=EXTRA).pending


def test_verdicts_are_per_model_name_as_run(tmp_path: Path) -> None:
    root = _reviewed(tmp_path, _r(model="other"))
    assert run(A("human"), OUT, root=root, extra=EXTRA).pending
    passes(A("human"), OUT, root=root, extra={"model_name": "other"})


def test_the_review_book_of_the_run_is_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "rev"
    _reviewed(elsewhere, _r())
    book = ReviewBook(WorktreeSource(elsewhere))
    passes(A("human"), OUT, root=str(tmp_path / "worktree"), extra={**EXTRA, "reviews": book})


def test_not_keeps_pending_pending(tmp_path: Path) -> None:
    r = run(A("human", negate=True), OUT, root=str(tmp_path), extra=EXTRA)
    assert r.pending and not r.passed


def test_a_failure_beats_pending_and_an_error_beats_pending(tmp_path: Path) -> None:
    pend = run(A("human"), OUT, root=str(tmp_path), extra=EXTRA)
    fail = run(A("equals", "x"), OUT, root=str(tmp_path))
    err = run(A("cost", max_usd=1), OUT, root=str(tmp_path))
    assert row_status_of(pend, fail) == "fail"
    assert row_status_of(pend, err) == "error"
    assert case_score([pend]) == 0.0


@pytest.mark.parametrize(
    ("opts", "value", "score"),
    [
        ({"kind": "numeric", "min": 1, "max": 5}, 4, 0.75),
        ({"kind": "boolean"}, False, 0.0),
        ({"kind": "categorical", "labels": ["friendly", "rude"]}, "rude", 1.0),  # a list: the verdict's
        ({"kind": "categorical", "labels": {"friendly": 1, "neutral": 0.5, "rude": 0}}, "neutral", 0.5),
    ],
)
def test_scores_of_three_kinds(tmp_path: Path, opts: dict[str, object], value: object, score: float) -> None:
    root = _reviewed(tmp_path, _r(scores={"q": value}))
    r = passes(A("human", metric="q", **opts), OUT, root=root, extra=EXTRA)
    assert r.score == score and r.metric == "q"


def test_without_a_value_the_score_is_the_verdict(tmp_path: Path) -> None:
    root = _reviewed(tmp_path, _r(verdict="rejected"))
    assert (
        fails(A("human", metric="q", kind="numeric", min=1, max=5), OUT, root=root, extra=EXTRA).score == 0.0
    )


def test_a_stored_score_the_declaration_no_longer_allows_is_an_error(tmp_path: Path) -> None:
    root = _reviewed(tmp_path, _r(scores={"q": 9}))
    r = errors(A("human", metric="q", kind="numeric", min=1, max=5), OUT, root=root, extra=EXTRA)
    assert r.reason == (
        "the review's score q: 9 is not a number from 1 to 5 (as declared now); "
        "review the case again with `promptctl review`"
    )


def test_a_malformed_review_file_is_an_error_naming_the_place(tmp_path: Path) -> None:
    write_files(tmp_path, {"cases/__reviews__/p.yaml": "reviews:\n  - case: c1\n"})
    r = errors(A("human"), OUT, root=str(tmp_path), extra=EXTRA)
    assert r.reason.startswith("cannot read reviews: cases/__reviews__/p.yaml:2:5: reviews.0: ")


@pytest.mark.parametrize(
    ("a", "message"),
    [
        (A("human", value="x"), "'human' takes no `value`"),
        (A("human", kind="loud"), "option 'kind' must be one of boolean, numeric, categorical, got 'loud'"),
        (A("human", min=1), "'human' takes min only with `kind` (numeric or categorical)"),
        (
            A("human", kind="boolean"),
            "a 'human' assertion with a boolean score needs `metric`: the score's name",
        ),
        (A("human", kind="numeric", metric="q", min=1), "'human' with kind numeric requires `min` and `max`"),
        (A("human", kind="numeric", metric="q", min=5, max=1), "'human': `min` (5) must be below `max` (1)"),
        (
            A("human", kind="categorical", metric="q"),
            "'human' with kind categorical requires `labels` (a list, or label: score)",
        ),
        (
            A("human", kind="categorical", metric="q", labels={"a": 2}),
            "'human' label scores must be numbers in [0, 1]; not so for a",
        ),
        (A("human", kind="boolean", metric="q", labels=["a"]), "'human' with kind boolean takes no labels"),
        (A("human", negate=True), "`not` has no meaning for 'human': a rejected output already fails"),
    ],
)
def test_lint(a: object, message: str) -> None:
    assert message in lint_assertion(a)  # type: ignore[arg-type]


def test_lint_accepts_the_documented_forms() -> None:
    for a in (
        A("human"),
        A("human", metric="helpful", kind="numeric", min=1, max=5),
        A("human", metric="ok", kind="boolean", weight=2),
        A("human", metric="tone", kind="categorical", labels=["friendly", "neutral"]),
    ):
        assert lint_assertion(a) == [], a


def test_score_specs_parse_what_a_reviewer_types() -> None:
    numeric = score_spec(A("human", metric="q", kind="numeric", min=1, max=5))
    assert numeric == ScoreSpec("q", "numeric", 1.0, 5.0)
    assert numeric.parse(" 4 ") == 4 and numeric.parse("2.5") == 2.5
    with pytest.raises(ValueError, match=r"q: 7 is not a number from 1 to 5"):
        numeric.parse("7")
    boolean = ScoreSpec("ok", "boolean")
    assert (boolean.parse("y"), boolean.parse("No")) == (True, False)
    with pytest.raises(ValueError, match="is not yes or no"):
        boolean.parse("maybe")
    labels = score_specs(
        [A("human", metric="t", kind="categorical", labels=["a", "b"]), A("human"), A("not_empty")]
    )
    assert [s.metric for s in labels] == ["t"] and labels[0].parse("b") == "b"
