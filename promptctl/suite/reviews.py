"""Human verdicts on model outputs: the committed review files ``cases/__reviews__/<case file>``.

A pull request reviews them like any other file, so the format is plain YAML, one entry per
(case id, model, SHA-256 of the output text): the verdict (``accepted`` or ``rejected``), who gave
it (their git identity), when, optional scores and a comment, and the output itself as a ``|``
block (what ``promptctl review`` diffs a new output against, and what ``promptctl examples add
--from-reviews`` takes). A new output of a case is a new hash, so an old verdict never covers it.

Read through a file source (the worktree or a revision), schema-checked after a safe load, every
problem located; written atomically by ``promptctl review`` (``promptctl.curate.review``).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from promptctl.atomic import write_text_atomic
from promptctl.errors import InputError, Problem
from promptctl.git.sources import Source
from promptctl.suite.model import Loc
from promptctl.suite.yamlemit import dump
from promptctl.suite.yamlio import check_schema, load_yaml

REVIEWS_DIRNAME = "__reviews__"
VERDICTS = ("accepted", "rejected")
HEADER = (
    "# yaml-language-server: $schema={schema}\n"
    "# Verdicts on model outputs for {case_file}, written by `promptctl review`. Commit this file.\n"
)
ScoreValue = bool | float | int | str


def output_hash(text: str) -> str:
    """The identity of an output: SHA-256 (hex) of its exact UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reviews_path_for(case_file: str, cases_dir: str = "cases") -> str:
    """``cases/support/reply.yaml`` -> ``cases/__reviews__/support/reply.yaml`` (a case file
    outside ``cases_dir`` gets a ``__reviews__`` folder next to it)."""
    case = PurePosixPath(case_file)
    base = PurePosixPath(cases_dir.rstrip("/"))
    try:
        rel = case.relative_to(base)
    except ValueError:
        return str(case.parent / REVIEWS_DIRNAME / case.name)
    return str(base / REVIEWS_DIRNAME / rel)


def _schema_ref(path: str) -> str:
    depth = len(PurePosixPath(path).parts) - 1
    return "../" * depth + "promptctl/schemas/reviews.schema.json"


@dataclass(frozen=True)
class Review:
    """One verdict on one exact output of a case on a model."""

    case: str
    model: str
    output_sha256: str
    verdict: str  # accepted | rejected
    reviewer: str
    at: str  # ISO 8601, UTC
    scores: dict[str, ScoreValue] = field(default_factory=dict)
    comment: str = ""
    output: str | None = None
    loc: Loc = field(default_factory=lambda: Loc(""), compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.case, self.model, self.output_sha256)

    @property
    def accepted(self) -> bool:
        return self.verdict == "accepted"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "case": self.case,
            "model": self.model,
            "output_sha256": self.output_sha256,
            "verdict": self.verdict,
            "reviewer": self.reviewer,
            "at": self.at,
        }
        if self.scores:
            out["scores"] = dict(self.scores)
        if self.comment:
            out["comment"] = self.comment
        if self.output is not None:
            out["output"] = self.output
        return out


@dataclass
class ReviewFile:
    """The verdicts for one case file, in the order they were given."""

    path: str
    case_file: str
    reviews: list[Review] = field(default_factory=list)

    def find(self, case: str, model: str, sha: str) -> Review | None:
        for r in self.reviews:
            if r.key == (case, model, sha):
                return r
        return None

    def last_accepted(self, case: str, model: str) -> Review | None:
        """The most recent accepted output of a case on a model (what a new output is diffed
        against)."""
        best: Review | None = None
        for r in self.reviews:
            if r.case == case and r.model == model and r.accepted and (best is None or r.at >= best.at):
                best = r
        return best

    def upsert(self, review: Review) -> None:
        """Add a verdict; one on the same (case, model, output) replaces it (a changed mind)."""
        self.reviews = [r for r in self.reviews if r.key != review.key] + [review]

    def render(self) -> str:
        head = HEADER.format(schema=_schema_ref(self.path), case_file=self.case_file)
        return head + dump({"reviews": [r.to_dict() for r in self.reviews]})


def parse(text: str, path: str, case_file: str) -> ReviewFile:
    """A review file's text -> ReviewFile; InputError listing every problem, located."""
    doc, problems = load_yaml(text, path)
    rf = ReviewFile(path=path, case_file=case_file)
    if not problems and doc.data is not None and not isinstance(doc.data, dict):
        problems.append(doc.problem((), "expected a mapping with a 'reviews' list"))
    if not problems and doc.data is not None:
        problems.extend(check_schema(doc, "reviews"))
    if problems:
        raise InputError(problems)
    seen: dict[tuple[str, str, str], Loc] = {}
    for i, raw in enumerate((doc.data or {}).get("reviews") or []):
        loc = doc.loc(("reviews", i))
        review = Review(
            case=str(raw["case"]),
            model=raw["model"],
            output_sha256=raw["output_sha256"],
            verdict=raw["verdict"],
            reviewer=raw["reviewer"],
            at=raw["at"],
            scores=dict(raw.get("scores") or {}),
            comment=raw.get("comment", ""),
            output=raw.get("output"),
            loc=loc,
        )
        if review.output is not None and output_hash(review.output) != review.output_sha256:
            problems.append(
                doc.problem(
                    ("reviews", i, "output"),
                    f"the output of the review of '{review.case}' [{review.model}] does not hash to its "
                    "output_sha256: the entry was edited by hand; restore it or remove the entry and "
                    "review the case again",
                )
            )
        first = seen.get(review.key)
        if first is not None:
            problems.append(
                Problem(
                    path,
                    loc.line,
                    loc.col,
                    f"second review of the same output of '{review.case}' [{review.model}] "
                    f"(first at line {first.line}); keep one",
                )
            )
            continue
        seen[review.key] = loc
        rf.reviews.append(review)
    if problems:
        raise InputError(problems)
    return rf


def load(source: Source, case_file: str, *, cases_dir: str = "cases") -> ReviewFile:
    """The verdicts for ``case_file`` as ``source`` has them; none yet is an empty file."""
    rel = reviews_path_for(case_file, cases_dir)
    try:
        text = source.read_text(rel)
    except (FileNotFoundError, KeyError):
        return ReviewFile(path=rel, case_file=case_file)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(rel, 0, 0, f"cannot read review file: {exc}")]) from exc
    return parse(text, rel, case_file)


def write(root: Path, rf: ReviewFile) -> None:
    """Write atomically (a reader sees the old file or the new one, never half of it)."""
    text = rf.render()
    parse(text, rf.path, rf.case_file)  # what we write must load back: never a file lint rejects
    write_text_atomic(Path(root) / rf.path, text)


def with_output(review: Review, output: str) -> Review:
    return replace(review, output=output, output_sha256=output_hash(output))


class ReviewBook:
    """The review files of a project as ``source`` has them, each loaded on first use (the
    ``human`` validator asks once per row; a run may validate rows on several threads)."""

    def __init__(self, source: Source, *, cases_dir: str = "cases") -> None:
        self.source = source
        self.cases_dir = cases_dir.rstrip("/")
        self._files: dict[str, ReviewFile] = {}
        self._lock = threading.Lock()

    def file(self, case_file: str) -> ReviewFile:
        with self._lock:
            rf = self._files.get(case_file)
            if rf is None:
                rf = load(self.source, case_file, cases_dir=self.cases_dir)
                self._files[case_file] = rf
            return rf


def check_files(source: Source, cases_dir: str, case_ids: dict[str, set[str]]) -> list[Problem]:
    """Every problem in the project's review files, for ``lint``: malformed files, and (as
    warnings) verdicts on cases that no longer exist. ``case_ids``: case file -> its case ids."""
    cdir = cases_dir.rstrip("/")
    problems: list[Problem] = []
    for rel in source.list_files(f"{cdir}/{REVIEWS_DIRNAME}", (".yaml", ".yml")):
        case_file = f"{cdir}/{rel[len(cdir) + len(REVIEWS_DIRNAME) + 2 :]}"
        try:
            rf = parse(source.read_text(rel), rel, case_file)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(rel, 0, 0, f"cannot read review file: {exc}"))
            continue
        ids = case_ids.get(case_file)
        if ids is None and source.exists(case_file):
            continue  # a case file this load did not select (``test PATH``): nothing to say
        for r in rf.reviews:
            if ids is None or r.case not in ids:
                where = "its case file no longer exists" if ids is None else "no such case in " + case_file
                problems.append(
                    Problem(
                        rel,
                        r.loc.line,
                        r.loc.col,
                        f"review of unknown case '{r.case}' ({where}); it applies to nothing",
                        "warning",
                    )
                )
    return problems
