"""The one close-match rule: what a typo most likely meant (``containz`` -> ``contains``)."""

from __future__ import annotations

import difflib


def closest(word: str, choices: list[str]) -> str | None:
    """The valid choice a typo most likely meant, if any is close enough."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: list[str]) -> str:
    """``; did you mean 'x'?`` when a close match exists, else a list of the valid choices."""
    close = closest(word, choices)
    if close:
        return f"; did you mean '{close}'?"
    return f"; expected one of: {', '.join(sorted(choices))}" if choices else ""
