"""``human``: a person's verdict on the exact output, given with ``promptctl review``.

The check looks the output up in the committed review file of its case file
(``cases/__reviews__/<case file>``, see ``suite.reviews``) by case id, model name and the SHA-256
of the output text — the raw output: transforms do not apply, a person reviewed what the model
said. An accepted identical output passes, a rejected one fails, and an output nobody has
reviewed is *pending*: never a pass, reported on its own, and counted as not passed by the pass
rate, ``compare`` and the gate until someone reviews it.

A ``human`` assertion may declare one score of one of three kinds, named by its ``metric``:

- ``kind: boolean`` — yes or no (score 1 or 0);
- ``kind: numeric`` with ``min`` and ``max`` — a number in that range (score scaled to [0, 1]);
- ``kind: categorical`` with ``labels`` — one of the listed labels (a list: scored by the verdict;
  a mapping ``label: score`` gives each label its score in [0, 1]).

The reviewer gives the value in ``promptctl review`` (keys ``s`` and ``l``); the assertion's score
is that value, so human scores aggregate by metric like any other assertion's. Without a value
the score is the verdict's (accepted 1, rejected 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptctl.errors import InputError
from promptctl.git.sources import WorktreeSource
from promptctl.suite.model import Assertion, Case, Prompt
from promptctl.suite.reviews import Review, ReviewBook, ScoreValue, output_hash
from promptctl.validate.registry import CheckError, Opt, Outcome, fail, ok, pending, validator
from promptctl.validate.types import ValidationContext

KINDS = ("boolean", "numeric", "categorical")
TRUE_WORDS = ("y", "yes", "true", "1")
FALSE_WORDS = ("n", "no", "false", "0")


@dataclass(frozen=True)
class ScoreSpec:
    """The score a ``human`` assertion declares: its metric name, kind, range or labels."""

    metric: str
    kind: str  # boolean | numeric | categorical
    min: float = 0.0
    max: float = 1.0
    labels: tuple[str, ...] = ()
    label_scores: dict[str, float] | None = None

    def describe(self) -> str:
        if self.kind == "numeric":
            return f"a number from {self.min:g} to {self.max:g}"
        if self.kind == "categorical":
            return "one of " + ", ".join(self.labels)
        return "yes or no"

    def parse(self, text: str) -> ScoreValue:
        """A value typed by a reviewer (``4``, ``y``, ``friendly``); ValueError saying what fits."""
        raw = text.strip()
        if self.kind == "boolean":
            if raw.lower() in TRUE_WORDS:
                return True
            if raw.lower() in FALSE_WORDS:
                return False
        elif self.kind == "numeric":
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if math.isfinite(value):
                value_out: ScoreValue = int(value) if value.is_integer() else value
                self.check(value_out)
                return value_out
        elif raw in self.labels:
            return raw
        raise ValueError(f"{self.metric}: {raw!r} is not {self.describe()}")

    def check(self, value: ScoreValue) -> None:
        """ValueError when ``value`` is not a valid score of this spec (a range or labels changed
        since the review, or a hand edit)."""
        if self.kind == "boolean":
            ok_ = isinstance(value, bool)
        elif self.kind == "numeric":
            ok_ = (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and self.min <= value <= self.max
            )
        else:
            ok_ = isinstance(value, str) and value in self.labels
        if not ok_:
            raise ValueError(f"{self.metric}: {value!r} is not {self.describe()}")

    def normalize(self, value: ScoreValue, verdict_score: float) -> float:
        """The value as an assertion score in [0, 1]."""
        self.check(value)
        if self.kind == "boolean":
            return 1.0 if value else 0.0
        if self.kind == "numeric":
            assert isinstance(value, (int, float))
            return (float(value) - self.min) / (self.max - self.min)
        if self.label_scores is not None:
            return self.label_scores[str(value)]
        return verdict_score


def score_spec(a: Assertion) -> ScoreSpec | None:
    """The declared score of a ``human`` assertion, or None (verdict only). Assumes it linted."""
    kind = a.options.get("kind")
    if kind not in KINDS:
        return None
    metric = a.metric or "human"
    if kind == "numeric":
        return ScoreSpec(metric, kind, float(a.options["min"]), float(a.options["max"]))
    if kind == "categorical":
        labels = a.options["labels"]
        if isinstance(labels, dict):
            return ScoreSpec(
                metric,
                kind,
                labels=tuple(map(str, labels)),
                label_scores={str(k): float(v) for k, v in labels.items()},
            )
        return ScoreSpec(metric, kind, labels=tuple(str(x) for x in labels))
    return ScoreSpec(metric, kind)


def _lint(a: Assertion, case: Case | None, prompt: Prompt | None) -> list[str]:
    kind = a.options.get("kind")
    has = {k for k in ("min", "max", "labels") if k in a.options}
    problems: list[str] = []
    if a.negate:
        problems.append("`not` has no meaning for 'human': a rejected output already fails")
    if kind is None:
        if has:
            problems.append(
                f"'human' takes {', '.join(sorted(has))} only with `kind` (numeric or categorical)"
            )
        return problems
    if a.metric is None:
        problems.append(f"a 'human' assertion with a {kind} score needs `metric`: the score's name")
    if kind == "numeric":
        if "labels" in has:
            problems.append("'human' with kind numeric takes `min` and `max`, not `labels`")
        if "min" not in has or "max" not in has:
            problems.append("'human' with kind numeric requires `min` and `max`")
        elif float(a.options["min"]) >= float(a.options["max"]):
            problems.append(f"'human': `min` ({a.options['min']}) must be below `max` ({a.options['max']})")
    elif kind == "categorical":
        if has & {"min", "max"}:
            problems.append("'human' with kind categorical takes `labels`, not `min`/`max`")
        labels = a.options.get("labels")
        if not labels:
            problems.append("'human' with kind categorical requires `labels` (a list, or label: score)")
        elif isinstance(labels, dict):
            bad = [
                k
                for k, v in labels.items()
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1
            ]
            if bad:
                problems.append(
                    f"'human' label scores must be numbers in [0, 1]; not so for {', '.join(map(str, bad))}"
                )
        elif len(set(labels)) != len(labels):
            problems.append("'human' `labels` lists a label twice")
    elif has:
        problems.append(f"'human' with kind boolean takes no {', '.join(sorted(has))}")
    return problems


def find_review(ctx: ValidationContext) -> tuple[Review | None, Review | None]:
    """(the verdict on this exact output, the last accepted output of the case on this model)."""
    book = ctx.extra.get("reviews")
    if not isinstance(book, ReviewBook):  # outside a suite run: the worktree's review files
        book = ReviewBook(WorktreeSource(Path(ctx.config.root)), cases_dir=ctx.config.cases_dir)
    model = str(ctx.extra.get("model_name") or ctx.model)
    try:
        rf = book.file(ctx.case.file)
    except InputError as exc:
        first = next((p for p in exc.problems if p.is_error), None)
        raise CheckError(f"cannot read reviews: {first.format() if first else exc.message}") from exc
    return rf.find(ctx.case.id, model, output_hash(ctx.output)), rf.last_accepted(ctx.case.id, model)


@validator(
    "human",
    options={
        "kind": Opt("string", enum=KINDS, description="the score a reviewer gives (omit: the verdict only)"),
        "min": Opt("number", description="kind numeric: the lowest score"),
        "max": Opt("number", description="kind numeric: the highest score"),
        "labels": Opt(
            ("array", "object"), description="kind categorical: the labels (or label: score in [0, 1])"
        ),
    },
    lint=_lint,
)
def human(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """A person accepted this exact output with `promptctl review` (rejected: fail; nobody yet: pending)."""
    review, last = find_review(ctx)
    if review is None:
        why = "this output is not reviewed yet"
        if last is not None:
            why += f" (it differs from the output {last.reviewer} accepted on {last.at[:10]})"
        return pending(f"{why}; run `promptctl review`")
    verdict_score = 1.0 if review.accepted else 0.0
    score = verdict_score
    spec = score_spec(a)
    if spec is not None and spec.metric in review.scores:
        try:
            score = spec.normalize(review.scores[spec.metric], verdict_score)
        except ValueError as exc:
            raise CheckError(
                f"the review's score {exc} (as declared now); review the case again with `promptctl review`"
            ) from None
    by = f"{review.reviewer} on {review.at[:10]}"
    note = f": {review.comment}" if review.comment else ""
    if review.accepted:
        return ok(f"accepted by {by}{note}", score)
    return fail(f"rejected by {by}{note}", score)


def score_specs(asserts: list[Assertion]) -> list[ScoreSpec]:
    """The declared scores of a case's ``human`` assertions (what ``promptctl review`` asks for)."""
    out: list[ScoreSpec] = []
    for a in asserts:
        if a.type == "human":
            spec = score_spec(a)
            if spec is not None and all(s.metric != spec.metric for s in out):
                out.append(spec)
    return out


def describe_value(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else str(value)
