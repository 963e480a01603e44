"""The interactive ``promptctl review``: one screen per pending output, single keys to decide.

Plain terminal I/O (cbreak mode: one key at a time, no echo, Ctrl-C still interrupts), so it
works in any POSIX terminal and in a pseudo-terminal driven by a test. Each verdict is written
the moment it is given (``curate.review``): quitting or Ctrl-C keeps every decision made.
Control characters of outputs and prompts are shown visibly (``\\x1b``), never sent to the
terminal as escape sequences.
"""

from __future__ import annotations

import os
import re
import select
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from promptctl.curate.review import Item, Session
from promptctl.suite.reviews import ScoreValue
from promptctl.validate.human import describe_value

KEYS = "a accept · r reject · s score · l label · c comment · p prompt · n skip · q quit"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """Control characters (escape sequences included) as ``\\xNN``; newlines and tabs kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class Terminal:
    """Keys and lines from a terminal file descriptor; text to another."""

    def __init__(self, fd_in: int, fd_out: int, *, color: bool, clear: bool) -> None:
        self.fd_in, self.fd_out, self.color = fd_in, fd_out, color
        self.clear = "\x1b[2J\x1b[H" if clear else "\n"

    @contextmanager
    def cbreak(self) -> Iterator[None]:
        import termios
        import tty

        saved = termios.tcgetattr(self.fd_in)
        try:
            tty.setcbreak(self.fd_in)
            yield
        finally:
            termios.tcsetattr(self.fd_in, termios.TCSADRAIN, saved)

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            n = os.write(self.fd_out, data)
            data = data[n:]

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def key(self) -> str:
        """One key press ("" at end of input); escape sequences (arrows...) are swallowed."""
        first = os.read(self.fd_in, 1)
        if not first:
            return ""
        if first == b"\x1b":
            while select.select([self.fd_in], [], [], 0.05)[0]:
                os.read(self.fd_in, 16)
            return "\x1b"
        data = first
        while True:  # a multi-byte UTF-8 character
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                if len(data) >= 4:
                    return ""
                data += os.read(self.fd_in, 1)

    def line(self, prompt: str) -> str | None:
        """A line typed by the user (echoed; backspace works); None when cancelled (Esc, Ctrl-D)."""
        self.write(prompt)
        chars: list[str] = []
        while True:
            k = self.key()
            if k in ("\r", "\n"):
                self.write("\n")
                return "".join(chars)
            if k in ("", "\x1b", "\x04"):
                self.write("  (cancelled)\n")
                return None
            if k in ("\x7f", "\x08"):
                if chars:
                    chars.pop()
                    self.write("\b \b")
                continue
            if k.isprintable():
                chars.append(k)
                self.write(k)


@dataclass
class Draft:
    """What the reviewer has said about the current output before the verdict key."""

    scores: dict[str, ScoreValue] = field(default_factory=dict)
    comment: str = ""
    show_prompt: bool = False


@dataclass
class Tally:
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    files: set[str] = field(default_factory=set)


def screen(item: Item, n: int, total: int, draft: Draft, term: Terminal) -> str:
    state = {
        "new": "new output (nothing accepted yet)",
        "changed": "changed output (differs from the accepted one)",
    }.get(item.state, f"already {item.state}")
    head = f"━━ review {n}/{total} ━━ {item.case.key} [{item.model}] · {state}"
    out = [term.paint(head, "1"), f"case: {item.case.loc.path}:{item.case.loc.line}"]
    if item.case.description:
        out[-1] += f" — {visible(item.case.description)}"
    if item.samples != [0]:
        out.append(f"samples: {', '.join(map(str, item.samples))}")
    if item.render_error:
        out.append(f"prompt: {item.render_error}")
    elif item.messages is not None:
        changed = " (changed since this run: shown as it renders now)" if item.prompt_changed else ""
        if draft.show_prompt:
            out.append(f"── prompt{changed} ── (p hides it)")
            for m in item.messages:
                out += [term.paint(f"[{m['role']}]", "2"), visible(m["content"])]
        else:
            out.append(f"prompt: {len(item.messages)} message(s){changed} — p shows it")
    out.append("── output ──")
    out.append(visible(item.output) if item.output else "(empty)")
    diff = item.diff()
    if diff:
        out.append("── diff against the accepted output ──")
        for line in visible(diff).splitlines():
            code = "32" if line.startswith("+") else "31" if line.startswith("-") else ""
            out.append(term.paint(line, code) if code else line)
    if item.specs:
        shown = [
            f"{s.metric} ({s.describe()}): {describe_value(draft.scores.get(s.metric, '—'))}"
            for s in item.specs
        ]
        out.append("scores: " + " · ".join(shown))
    if draft.comment:
        out.append(f"comment: {visible(draft.comment)}")
    out.append(term.paint(KEYS, "2"))
    return "\n".join(out) + "\n"


def _ask_scores(item: Item, term: Terminal, draft: Draft, kinds: tuple[str, ...]) -> str:
    """Ask for each declared score of these kinds; returns a notice for the next screen."""
    specs = [s for s in item.specs if s.kind in kinds]
    if not specs:
        what = "label" if kinds == ("categorical",) else "numeric or yes/no score"
        return f"this case declares no {what}: add `- type: human` with `metric` and `kind` to its assertions"
    for spec in specs:
        if spec.kind == "categorical":
            choices = "  ".join(f"{i}) {label}" for i, label in enumerate(spec.labels, 1))
            text = term.line(f"{spec.metric}: {choices} — choose: ")
            if text is not None and text.strip().isdigit() and 1 <= int(text) <= len(spec.labels):
                text = spec.labels[int(text) - 1]
        else:
            text = term.line(f"{spec.metric} ({spec.describe()}): ")
        if text is None:
            return ""
        try:
            draft.scores[spec.metric] = spec.parse(text)
        except ValueError as exc:
            return str(exc)
    return ""


def review_loop(session: Session, by: str, term: Terminal) -> Tally:
    """Ask about every pending output; returns what was decided."""
    items = session.pending
    tally = Tally()
    with term.cbreak():
        for n, item in enumerate(items, 1):
            draft = Draft()
            term.write(term.clear + screen(item, n, len(items), draft, term))
            while True:
                notice = ""
                k = term.key()
                if k in ("a", "r"):
                    verdict = "accepted" if k == "a" else "rejected"
                    session.verdict(item, verdict, by=by, scores=draft.scores, comment=draft.comment)
                    path = session.review_file(item.case.file).path
                    tally.files.add(path)
                    if k == "a":
                        tally.accepted += 1
                    else:
                        tally.rejected += 1
                    term.write(f"{verdict} → {path}\n")
                    break
                if k == "n":
                    tally.skipped += 1
                    term.write("skipped\n")
                    break
                if k in ("q", ""):
                    tally.skipped += len(items) - n + 1
                    return tally
                if k in ("s", "l"):
                    notice = _ask_scores(
                        item, term, draft, ("categorical",) if k == "l" else ("numeric", "boolean")
                    )
                elif k == "c":
                    text = term.line("comment: ")
                    if text is not None:
                        draft.comment = text.strip()
                elif k == "p":
                    draft.show_prompt = not draft.show_prompt
                else:
                    term.write(f"{KEYS}\n")
                    continue
                term.write(term.clear + screen(item, n, len(items), draft, term))
                if notice:
                    term.write(term.paint(notice, "33") + "\n")
    return tally


def stdin_terminal() -> Terminal | None:
    """The process's terminal, or None when stdin or stdout is not one (or not POSIX)."""
    try:
        import termios  # noqa: F401
    except ImportError:  # pragma: no cover - Windows
        return None
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None
    sys.stdout.flush()
    fancy = os.environ.get("TERM") != "dumb"
    color = fancy and not os.environ.get("NO_COLOR")
    return Terminal(sys.stdin.fileno(), sys.stdout.fileno(), color=color, clear=fancy)
