"""Reference-similarity checks: ``levenshtein``, ``bleu`` and ``rouge``.

Each compares the output to ``value`` if given, else to the case's ``expected`` (a non-string
``expected`` is compared as its canonical JSON text), and passes when ``score >= threshold``.

Default thresholds (override per assertion with ``threshold``):

- ``levenshtein``: 0.8 - normalised similarity ``1 - distance / max(len)`` (rapidfuzz), i.e. at
  most ~20 % of the characters differ. Good for short, near-exact answers.
- ``bleu``: 0.3 - sentence BLEU (sacrebleu ``sentence_bleu``, exponential smoothing) / 100.
  Sentence-level BLEU is harsh; 0.3 already means substantial n-gram overlap.
- ``rouge``: 0.5 - ROUGE F1 (rouge_score, Porter stemming on) for ``variant`` rouge1, rouge2 or
  rougeL (default rougeL). Suited to summaries.

These are surface metrics: they reward wording, not meaning. Use ``judge`` for meaning.
The libraries are imported inside the checks (``lint`` must stay cheap) and need no downloads:
rouge_score's stemmer is nltk's pure-Python Porter stemmer, which uses no corpus data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from promptctl.jsonutil import canonical_json
from promptctl.suite.model import Assertion
from promptctl.validate.registry import CheckError, Opt, Outcome, graded, show, validator
from promptctl.validate.types import ValidationContext

DEFAULT_THRESHOLDS = {"levenshtein": 0.8, "bleu": 0.3, "rouge": 0.5}
ROUGE_VARIANTS = ("rouge1", "rouge2", "rougeL")

REFERENCE = Opt("string", description="reference text (default: the case's expected)")


def reference_text(a: Assertion, ctx: ValidationContext) -> str:
    ref = a.value if a.value is not None else ctx.case.expected
    if ref is None:
        raise CheckError(f"{a.type!r} has no `value` and case {ctx.case.id!r} has no `expected`")
    return ref if isinstance(ref, str) else canonical_json(ref)


def _threshold(a: Assertion) -> float:
    return float(a.threshold) if a.threshold is not None else DEFAULT_THRESHOLDS[a.type]


def _result(a: Assertion, score: float, ref: str, output: str, what: str) -> Outcome:
    score = min(1.0, max(0.0, score))
    th = _threshold(a)
    cmp = ">=" if score >= th else "<"
    seen = f"expected {show(ref, 40)}, got {show(output, 40)}"
    return graded(score, th, f"{what} {score:.2f} {cmp} threshold {th:.2f}; {seen}")


@validator("levenshtein", value=REFERENCE, needs_expected=True, threshold=DEFAULT_THRESHOLDS["levenshtein"])
def levenshtein(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Normalised Levenshtein similarity to the reference >= threshold (default 0.8)."""
    from rapidfuzz.distance import Levenshtein

    ref = reference_text(a, ctx)
    score = float(Levenshtein.normalized_similarity(output, ref))
    return _result(a, score, ref, output, "levenshtein similarity")


@validator("bleu", value=REFERENCE, needs_expected=True, threshold=DEFAULT_THRESHOLDS["bleu"])
def bleu(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Sentence BLEU / 100 against the reference >= threshold (default 0.3)."""
    from sacrebleu import sentence_bleu

    ref = reference_text(a, ctx)
    # sentence_bleu uses effective order: short answers are not zeroed by missing 4-grams.
    score = float(sentence_bleu(output, [ref]).score) / 100.0
    return _result(a, score, ref, output, "BLEU")


@validator(
    "rouge",
    value=REFERENCE,
    needs_expected=True,
    threshold=DEFAULT_THRESHOLDS["rouge"],
    options={"variant": Opt("string", enum=ROUGE_VARIANTS, default="rougeL", description="ROUGE variant")},
)
def rouge(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """ROUGE F1 (rouge1 | rouge2 | rougeL, stemmed) against the reference >= threshold (default 0.5)."""
    variant = str(a.options.get("variant", "rougeL"))
    if variant not in ROUGE_VARIANTS:
        raise CheckError(f"rouge variant must be one of {', '.join(ROUGE_VARIANTS)}, got {variant!r}")
    ref = reference_text(a, ctx)
    scorer = _scorer(variant)
    score = float(scorer.score(ref, output)[variant].fmeasure)
    return _result(a, score, ref, output, f"{variant} F1")


class _Score(Protocol):
    fmeasure: float


class _RougeScorer(Protocol):  # rouge_score ships no type hints
    def score(self, target: str, prediction: str) -> Mapping[str, _Score]: ...


_SCORERS: dict[str, _RougeScorer] = {}


def _scorer(variant: str) -> _RougeScorer:
    """One scorer per variant: building it loads the stemmer, which is not free."""
    s = _SCORERS.get(variant)
    if s is None:
        from rouge_score import rouge_scorer

        s = rouge_scorer.RougeScorer([variant], use_stemmer=True)
        _SCORERS[variant] = s
    return s
