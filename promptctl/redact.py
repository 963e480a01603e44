"""Redaction: the personal data ``redact:`` in promptctl.yaml chooses, replaced by numbered
placeholders (``<EMAIL_1>``, ``<PHONE_2>``) in everything promptctl writes.

One detector (:mod:`promptctl.pii`, shared with the ``pii`` validator) and one hook: the
:class:`Redactor` is a masker registered with :func:`promptctl.secrets.register_masker`, so it
runs wherever key values are masked (run records, git notes, recordings, the cache, traces,
reports, printed output, error messages), after the key masking.

Placeholders are consistent within a *row* (:func:`promptctl.secrets.row`): the same value
(compared normalised: an address case-insensitively, a phone number as E.164) gets the same
placeholder, another value of the kind the next number. Numbers count from 1 in each row, in the
order values appear, so the same content always redacts the same way (diffs of records and
recordings stay stable) and a placeholder says nothing about other rows.

``inputs: true`` also redacts each request before it reaches the model (:func:`redact_messages`):
the mapping back to the real values (:class:`Placeholders`) lives in memory, on the planned row,
and is never written; :meth:`Placeholders.restore` puts the real values back into the answer
before validators see it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from promptctl import secrets
from promptctl.pii import DEFAULT_REGION, PII_TYPES, Finding, allowed_forms, detect

__all__ = [
    "LABELS",
    "PLACEHOLDER",
    "Placeholders",
    "Policy",
    "Redactor",
    "RestoringTokens",
    "active",
    "configure",
    "redact_inputs",
    "redact_messages",
]

LABELS = {"email": "EMAIL", "phone": "PHONE", "card": "CARD", "iban": "IBAN", "ip": "IP", "secret": "SECRET"}
PLACEHOLDER = re.compile(r"<(?:EMAIL|PHONE|CARD|IBAN|IP|SECRET)_\d+>")
_ROW_KEY = "redact"  # where a row's placeholders live in the row's masking state


@dataclass(frozen=True)
class Policy:
    """The ``redact:`` section of promptctl.yaml."""

    types: tuple[str, ...] = PII_TYPES
    regions: tuple[str, ...] = (DEFAULT_REGION,)
    allow: tuple[str, ...] = ()
    inputs: bool = False


@dataclass
class Placeholders:
    """One row's numbering: the placeholder each value got, and (in memory only) the value
    each placeholder stands for."""

    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    originals: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # Placeholders already in the text (a model answering a redacted request writes them): a
    # new value never gets one of them, so one placeholder never stands for two values.
    taken: set[str] = field(default_factory=set)

    def name(self, finding: Finding) -> str:
        key = (finding.type, finding.normalized)
        placeholder = self.by_value.get(key)
        if placeholder is None:
            n = self.counts.get(finding.type, 0)
            while True:
                n += 1
                placeholder = f"<{LABELS[finding.type]}_{n}>"
                if placeholder not in self.taken:
                    break
            self.counts[finding.type] = n
            self.by_value[key] = placeholder
            self.originals[placeholder] = finding.text
        return placeholder

    def copy(self) -> Placeholders:
        return Placeholders(dict(self.by_value), dict(self.originals), dict(self.counts), set(self.taken))

    def reserve(self, text: str) -> None:
        """Mark the placeholders written in ``text`` that this row did not give out as taken."""
        if "<" in text:
            self.taken.update(p for p in PLACEHOLDER.findall(text) if p not in self.originals)

    def restore(self, text: str) -> str:
        """``text`` with every placeholder of this row replaced by the value it stands for
        (placeholders this row never gave out are left as they are)."""
        if not self.originals:
            return text
        return PLACEHOLDER.sub(lambda m: self.originals.get(m.group(), m.group()), text)


class Redactor:
    """Replaces the personal data of a policy's ``types`` (but the ``allow`` values) by
    placeholders. Called as a masker, it numbers within the current masking row."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._regions = list(policy.regions)
        self._allowed = allowed_forms(policy.allow, policy.types, self._regions)

    def __call__(self, text: str) -> str:
        state = secrets.row_state()
        if state is None:
            return self.redact(text, Placeholders())
        placeholders = state.get(_ROW_KEY)
        if not isinstance(placeholders, Placeholders):
            placeholders = state[_ROW_KEY] = Placeholders()
        return self.redact(text, placeholders)

    def findings(self, text: str) -> list[Finding]:
        found = detect(text, self.policy.types, self._regions)
        return [f for f in found if f.normalized not in self._allowed]

    def redact(self, text: str, placeholders: Placeholders) -> str:
        found = self.findings(text)
        if not found:
            return text
        placeholders.reserve(text)
        parts: list[str] = []
        last = 0
        for f in found:
            parts.append(text[last : f.start])
            parts.append(placeholders.name(f))
            last = f.end
        parts.append(text[last:])
        return "".join(parts)


_lock = threading.Lock()
_active: tuple[Redactor, Callable[[], None]] | None = None


def configure(policy: Policy | None) -> Redactor | None:
    """Make ``policy`` the process's redaction (None: none), replacing the previous one. Called
    whenever the worktree's promptctl.yaml is loaded."""
    global _active
    with _lock:
        if _active is not None:
            if policy is not None and _active[0].policy == policy:
                return _active[0]
            _active[1]()
            _active = None
        if policy is None or not policy.types:
            return None
        redactor = Redactor(policy)
        _active = (redactor, secrets.register_masker(redactor))
        return redactor


def active() -> Redactor | None:
    """The redaction in force, if any."""
    with _lock:
        return _active[0] if _active is not None else None


def redact_messages(
    messages: Iterable[dict[str, str]], redactor: Redactor, placeholders: Placeholders | None = None
) -> tuple[list[dict[str, str]], Placeholders]:
    """The messages of one request with personal data replaced (one row: the numbering runs
    across all messages, continuing ``placeholders`` if given), and the placeholders to restore
    the answer with."""
    placeholders = Placeholders() if placeholders is None else placeholders
    out = [
        {k: redactor.redact(v, placeholders) if k == "content" else v for k, v in m.items()} for m in messages
    ]
    return out, placeholders


_for_inputs: dict[Policy, Redactor] = {}


def redact_inputs(
    messages: list[dict[str, str]], policy: Policy | None, row: Placeholders | None = None
) -> tuple[list[dict[str, str]], Placeholders | None]:
    """``redact.inputs``: a request's messages as the model is sent them, and the mapping back
    (in memory only); without ``inputs``, the messages as they are and None. ``row``: the
    placeholders of the row the request belongs to (a judge call's), so that a value keeps the
    placeholder the row's own request gave it."""
    if policy is None or not policy.inputs or not policy.types:
        return messages, None
    redactor = _for_inputs.get(policy)
    if redactor is None:
        redactor = _for_inputs[policy] = Redactor(policy)
    return redact_messages(messages, redactor, row.copy() if row is not None else None)


class RestoringTokens:
    """An ``on_token`` callback that gets streamed text with a row's placeholders restored: text
    from a ``<`` that may still become a placeholder is held back until it is one (or cannot
    be); :meth:`flush` sends what is left."""

    _LONGEST = max(len(f"<{label}_") for label in LABELS.values()) + 6

    def __init__(self, on_token: Callable[[str], None], placeholders: Placeholders) -> None:
        self.on_token = on_token
        self.placeholders = placeholders
        self._pending = ""

    def __call__(self, piece: str) -> None:
        text = self._pending + piece
        cut = len(text)
        start = text.rfind("<")
        if start != -1 and ">" not in text[start:] and len(text) - start < self._LONGEST:
            cut = start  # may be the start of a placeholder
        self._pending = text[cut:]
        if cut:
            self.on_token(self.placeholders.restore(text[:cut]))

    def flush(self) -> None:
        text, self._pending = self._pending, ""
        if text:
            self.on_token(self.placeholders.restore(text))
