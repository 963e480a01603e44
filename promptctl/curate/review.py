"""``promptctl review``: snapshot review of model outputs, in the spirit of ``cargo insta review``.

The outputs come from the latest run record; the verdicts go to the committed review files
(``suite.reviews``). An output is *pending* when no verdict covers that exact text (by SHA-256)
for its case and model: it is new (nothing accepted yet) or it changed (it differs from the last
accepted output, which the review shows it diffed against). By default only the cases that carry
a ``human`` assertion are reviewed (their tests wait for it); ``include_all`` reviews every output,
for instance to grow an example set from accepted outputs.

Verdicts are signed with the repository's git identity and written atomically, one review file
per case file, as soon as they are given: quitting half-way keeps what was decided.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl.curate.identity import now, reviewer
from promptctl.errors import InputError, UsageError
from promptctl.git.sources import WorktreeSource
from promptctl.records.record import Record, latest_record
from promptctl.run.plan import Row, Selection, build_plan
from promptctl.suggest import suggest
from promptctl.suite.load import Suite
from promptctl.suite.model import Case
from promptctl.suite.project import Project
from promptctl.suite.render import Message, make_renderer
from promptctl.suite.reviews import Review, ReviewBook, ReviewFile, ScoreValue, output_hash, write
from promptctl.validate.human import ScoreSpec, score_specs

SHORT = 12  # characters of the output hash shown in ids


@dataclass
class Item:
    """One distinct output of a case on a model in the latest run (its samples folded together)."""

    case: Case
    model: str
    output: str
    sha: str
    samples: list[int]
    verdict: Review | None  # a verdict already given on exactly this output
    accepted: Review | None  # the last accepted output of this case on this model
    specs: list[ScoreSpec]
    has_human: bool
    messages: list[Message] | None = None  # the prompt as it renders now
    render_error: str | None = None
    prompt_changed: bool = False  # the request differs from the one that produced the output

    @property
    def id(self) -> str:
        return f"{self.case.key}::{self.model}@{self.sha[:SHORT]}"

    @property
    def pending(self) -> bool:
        return self.verdict is None

    @property
    def state(self) -> str:
        if self.verdict is not None:
            return self.verdict.verdict
        return "new" if self.accepted is None else "changed"

    def diff(self, context: int = 3) -> str:
        """The output against the last accepted one (empty when there is none)."""
        if self.accepted is None or self.accepted.output is None or self.accepted.output_sha256 == self.sha:
            return ""
        lines = difflib.unified_diff(
            self.accepted.output.splitlines(keepends=True),
            self.output.splitlines(keepends=True),
            fromfile=f"accepted by {self.accepted.reviewer} on {self.accepted.at[:10]}",
            tofile="this output",
            n=context,
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_key": self.case.key,
            "prompt": self.case.prompt,
            "case": self.case.id,
            "case_file": self.case.file,
            "case_line": self.case.loc.line,
            "model": self.model,
            "samples": self.samples,
            "state": self.state,
            "output": self.output,
            "output_sha256": self.sha,
            "accepted_output": self.accepted.output if self.accepted else None,
            "diff": self.diff(),
            "prompt_changed": self.prompt_changed,
            "scores": [{"metric": s.metric, "kind": s.kind, "accepts": s.describe()} for s in self.specs],
        }


@dataclass
class Session:
    """The outputs of the latest run, with their verdicts, and the review files to write."""

    project: Project
    suite: Suite
    record: Record
    items: list[Item]  # every output of the run; ``match`` finds any of them by id
    include_all: bool = False
    notes: list[str] = field(default_factory=list)
    files: dict[str, ReviewFile] = field(default_factory=dict)

    @property
    def pending(self) -> list[Item]:
        """What is to review: outputs without a verdict of cases with a ``human`` assertion (of
        every case with ``include_all``)."""
        return [i for i in self.items if i.pending and (i.has_human or self.include_all)]

    def match(self, ident: str) -> list[Item]:
        """The items ``PROMPT::CASE[::MODEL][@HASH]`` names; UsageError for an unknown case or
        model, a case without output in the latest run, or a stale hash (the output changed)."""
        ident = ident.strip()
        base, _, sha = ident.partition("@")
        parts = base.split("::")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"'{ident}' is not a review id; use PROMPT::CASE[::MODEL][@HASH] (see `--json`)")
        case_key, model = "::".join(parts[:2]), parts[2] if len(parts) == 3 else None
        known = {c.key for c in self.suite.cases}
        if case_key not in known:
            raise UsageError(f"unknown case '{case_key}'{suggest(case_key, sorted(known))}")
        mine = [i for i in self.items if i.case.key == case_key]
        if not mine:
            raise UsageError(
                f"case '{case_key}' has no output in the latest run record ({self._record_name()})",
                hint=f"run `promptctl test -k {case_key}` first",
            )
        if model is not None:
            models = sorted({i.model for i in mine})
            mine = [i for i in mine if i.model == model]
            if not mine:
                raise UsageError(f"case '{case_key}' did not run on model '{model}'{suggest(model, models)}")
        if sha:
            hit = [i for i in mine if i.sha.startswith(sha.lower())]
            if not hit:
                now_ids = ", ".join(i.id for i in mine)
                raise UsageError(
                    f"stale review id '{ident}': that output is not the latest output of '{base}' "
                    f"(the latest run has {now_ids})",
                    hint="run `promptctl review --json` again and review what it lists",
                )
            mine = hit
        return mine

    def _record_name(self) -> str:
        return Path(self.record.path).name if self.record.path else "the latest record"

    def review_file(self, case_file: str) -> ReviewFile:
        rf = self.files.get(case_file)
        if rf is None:
            book = ReviewBook(WorktreeSource(self.project.root), cases_dir=self.project.config.cases_dir)
            rf = self.files[case_file] = book.file(case_file)
        return rf

    def verdict(
        self,
        item: Item,
        verdict: str,
        *,
        by: str,
        scores: dict[str, ScoreValue] | None = None,
        comment: str = "",
        write_now: bool = True,
    ) -> Review:
        """Record a verdict on ``item`` (replacing one on the same output) and, by default, write
        its review file at once. ValueError for a score the case does not declare or allow."""
        check_scores(item, scores or {})
        review = Review(
            case=item.case.id,
            model=item.model,
            output_sha256=item.sha,
            verdict=verdict,
            reviewer=by,
            at=now(),
            scores=dict(scores or {}),
            comment=comment,
            output=item.output,
        )
        self.review_file(item.case.file).upsert(review)
        item.verdict = review
        if verdict == "accepted":
            item.accepted = review
        if write_now:
            self.write(item.case.file)
        return review

    def write(self, case_file: str | None = None) -> list[str]:
        """Write the review file of ``case_file`` (all touched ones when None); returns the paths."""
        files = [self.files[case_file]] if case_file is not None else list(self.files.values())
        for rf in files:
            write(self.project.root, rf)
        return [rf.path for rf in files]


def check_scores(item: Item, scores: dict[str, ScoreValue]) -> None:
    declared = {s.metric: s for s in item.specs}
    for metric, value in scores.items():
        spec = declared.get(metric)
        if spec is None:
            have = f"; it declares {', '.join(declared)}" if declared else ""
            raise ValueError(
                f"case '{item.case.key}' declares no score '{metric}'{suggest(metric, list(declared))}{have} "
                "(a `human` assertion with `metric` and `kind` declares one)"
            )
        spec.check(value)


def parse_scores(items: list[Item], pairs: list[str]) -> dict[str, dict[str, ScoreValue]]:
    """``METRIC=VALUE`` options, by item id: each applies to the items whose case declares the
    metric, typed by that declaration. ValueError for a malformed pair, a value a declaration does
    not allow, or a metric none of the items' cases declares."""
    out: dict[str, dict[str, ScoreValue]] = {i.id: {} for i in items}
    for pair in pairs:
        metric, eq, text = pair.partition("=")
        metric = metric.strip()
        if not eq or not metric:
            raise ValueError(f"--score expects METRIC=VALUE, got '{pair}'")
        holders = [(i, s) for i in items for s in i.specs if s.metric == metric]
        if not holders:
            declared = sorted({s.metric for i in items for s in i.specs})
            have = f"; they declare {', '.join(declared)}" if declared else ""
            raise ValueError(
                f"no case of these outputs declares a score '{metric}'{suggest(metric, declared)}{have} "
                "(a `human` assertion with `metric` and `kind` declares one)"
            )
        for item, spec in holders:
            out[item.id][metric] = spec.parse(text)
    return out


def open_session(project: Project, *, include_all: bool = False) -> Session:
    """The latest run record's outputs, folded per case × model × output, with their verdicts."""
    record = latest_record(project.root)
    if record is None:
        raise UsageError("no run records yet: nothing to review", hint="run `promptctl test` first")
    suite = project.load()
    suite.raise_for_errors()
    cases = {c.key: c for c in suite.cases}
    session = Session(project=project, suite=suite, record=record, items=[], include_all=include_all)
    gone: set[str] = set()
    folded: dict[tuple[str, str, str], Item] = {}
    for row in record.rows:
        output = row.get("output")
        if output is None:  # the call failed or was skipped: nothing to look at
            continue
        case = cases.get(row["case_key"])
        if case is None:
            gone.add(row["case_key"])
            continue
        has_human = any(a.type == "human" for a in case.asserts)
        sha = output_hash(output)
        key = (case.key, row["model"], sha)
        item = folded.get(key)
        if item is None:
            rf = session.review_file(case.file)
            item = folded[key] = Item(
                case=case,
                model=row["model"],
                output=output,
                sha=sha,
                samples=[],
                verdict=rf.find(case.id, row["model"], sha),
                accepted=rf.last_accepted(case.id, row["model"]),
                specs=score_specs(case.asserts),
                has_human=has_human,
            )
            session.items.append(item)
        item.samples.append(int(row.get("sample") or 0))
    if gone:
        session.notes.append(
            f"{len(gone)} case(s) of the latest run are no longer in the suite and were left out: "
            + ", ".join(sorted(gone)[:5])
            + (" …" if len(gone) > 5 else "")
        )
    _attach_prompts(session, record)
    return session


def _attach_prompts(session: Session, record: Record) -> None:
    """The prompt each output to review answered, as it renders now, and whether that request
    changed since the run."""
    shown = [i for i in session.items if i.has_human or session.include_all]
    renderer = make_renderer(session.suite)
    run_fps = {
        (r["case_key"], r["model"], int(r.get("sample") or 0)): r.get("fingerprint") for r in record.rows
    }
    by_model: dict[str, set[str]] = {}
    samples: dict[str, int] = {}
    for item in shown:
        by_model.setdefault(item.model, set()).add(item.case.key)
        samples[item.model] = max(samples.get(item.model, 1), max(item.samples) + 1)
    planned: dict[tuple[str, str, int], Row] = {}
    for model, keys in by_model.items():
        rows = _plan(session.suite, renderer, keys, model, samples[model])
        planned.update({(r.case.key, model, r.sample): r for r in rows})
    for item in shown:
        found = [planned.get((item.case.key, item.model, s)) for s in item.samples]
        first = next((r for r in found if r is not None), None)
        if first is None:
            item.render_error = "the case does not render now (see `promptctl lint`)"
            continue
        item.messages = first.messages
        item.prompt_changed = any(
            r is None or r.fingerprint != run_fps.get((item.case.key, item.model, s))
            for r, s in zip(found, item.samples, strict=True)
        )


def _plan(suite: Suite, renderer: Any, keys: set[str], model: str, repeat: int) -> list[Row]:
    try:
        return build_plan(suite, renderer, selection=Selection(only_keys=keys), models=[model], repeat=repeat)
    except InputError:  # some case does not render now: plan the others one by one
        out: list[Row] = []
        for key in sorted(keys):
            try:
                out += build_plan(
                    suite, renderer, selection=Selection(only_keys={key}), models=[model], repeat=repeat
                )
            except InputError:
                continue
        return out


def identity(project: Project) -> str:
    """The reviewer's git identity (UsageError with the fix when there is none)."""
    return reviewer(project.root)
