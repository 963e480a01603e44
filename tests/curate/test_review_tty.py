"""The interactive ``promptctl review``, driven through a pseudo-terminal: the real CLI as a
process whose stdin, stdout and stderr are a pty, keys sent one by one as a person would."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.curate.project import RULES, make_project, reviews
from tests.fakeserver import FakeServer
from tests.helpers import invoke

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def _controlling_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty (its stdin)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``promptctl review`` on a pseudo-terminal: ``expect`` what it shows, ``send`` keys."""

    def __init__(self, cwd: Path) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "promptctl", "review"],
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "TERM": "xterm", "COLUMNS": "120"},
            preexec_fn=_controlling_terminal,  # Ctrl-C on the pty is a real SIGINT to the process
        )
        os.close(slave)
        self.seen = ""  # everything shown so far
        self.mark = 0  # expect() looks after this point

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # the process ended and closed the terminal
            return False
        self.seen += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return bool(data)

    def expect(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen[self.mark :]:
            if time.monotonic() > deadline or (not self._read(0.1) and self.proc.poll() is not None):
                raise AssertionError(
                    f"{text!r} never appeared; the terminal showed:\n{self.seen[self.mark :]}"
                )
        self.mark = self.seen.index(text, self.mark) + len(text)

    def send(self, keys: str) -> None:
        for ch in keys:  # one key at a time, as typed
            os.write(self.master, ch.encode("utf-8"))
            time.sleep(0.01)

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._read(0.05):
            pass
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def proj(tmp_path: Path) -> Iterator[Path]:
    with FakeServer(spec=RULES) as srv:
        root = make_project(tmp_path / "repo", srv.url)
        assert invoke("test", cwd=root).exit_code == 1  # refund fails and waits; thanks waits
        yield root


@pytest.fixture
def term(proj: Path) -> Iterator[Terminal]:
    t = Terminal(proj)
    yield t
    t.close()


def test_keys_score_label_comment_prompt_then_verdicts(proj: Path, term: Terminal) -> None:
    term.expect("━━ review 1/2 ━━ support/reply::refund [fake] · new output (nothing accepted yet)")
    term.expect("case: cases/support/reply.yaml:4 — A refund for a cancelled plan.")
    term.expect("prompt: 2 message(s) — p shows it")
    term.expect("── output ──\nSorry, we cannot help.")
    term.expect("a accept · r reject · s score · l label · c comment · p prompt · n skip · q quit")

    term.send("p")  # the rendered prompt unfolds ...
    term.expect("── prompt ── (p hides it)\n[system]\nYou answer customer support emails.")
    term.expect("[user]\nPlease refund my cancelled plan.")
    term.send("p")  # ... and folds again
    term.expect("prompt: 2 message(s) — p shows it")

    term.send("s")
    term.expect("helpful (a number from 1 to 5): ")
    term.send("9\r")
    term.expect("helpful: 9 is not a number from 1 to 5")
    term.send("s")
    term.expect("helpful (a number from 1 to 5): ")
    term.send("4\r")
    term.expect("scores: helpful (a number from 1 to 5): 4 · tone (one of friendly, neutral, rude): —")

    term.send("l")
    term.expect("tone: 1) friendly  2) neutral  3) rude — choose: ")
    term.send("2\r")
    term.expect("tone (one of friendly, neutral, rude): neutral")

    term.send("c")
    term.expect("comment: ")
    term.send("kind but wrong\x7f\x7f\x7f\x7f\x7fright\r")  # backspace works
    term.expect("comment: kind but right")

    term.send("z")  # not a key: the keys are shown again
    term.expect("a accept · r reject")

    term.send("r")
    term.expect("rejected → cases/__reviews__/support/reply.yaml")
    term.expect("━━ review 2/2 ━━ support/reply::thanks [fake] · new output")
    term.expect("── output ──\nYou are welcome!")
    term.send("a")
    term.expect("accepted → cases/__reviews__/support/reply.yaml")
    term.expect("1 accepted, 1 rejected, 0 skipped · cases/__reviews__/support/reply.yaml")
    assert term.wait() == 0

    refund, thanks = reviews(proj)
    assert (refund["case"], refund["verdict"], refund["scores"], refund["comment"]) == (
        "refund",
        "rejected",
        {"helpful": 4, "tone": "neutral"},
        "kind but right",
    )
    assert (thanks["case"], thanks["verdict"], thanks["output"]) == ("thanks", "accepted", "You are welcome!")
    assert invoke("test", "-k", "thanks", cwd=proj).exit_code == 0  # the human assertion follows it


def test_skip_and_quit_write_nothing(proj: Path, term: Terminal) -> None:
    term.expect("review 1/2")
    term.send("n")
    term.expect("skipped")
    term.expect("review 2/2")
    term.send("q")
    term.expect("0 accepted, 0 rejected, 2 skipped · nothing written")
    assert term.wait() == 0
    lflags = termios.tcgetattr(term.master)[3]
    assert lflags & termios.ICANON and lflags & termios.ECHO  # the terminal is given back as it was
    assert not (proj / "cases/__reviews__").exists()


def test_a_verdict_given_is_kept_when_interrupted(proj: Path, term: Terminal) -> None:
    term.expect("review 1/2")
    term.send("a")
    term.expect("review 2/2")
    term.send("c")
    term.expect("comment: ")
    term.send("\x03")  # Ctrl-C in the middle of typing
    assert term.wait() == 130  # (its last words may not reach the pty master before it hangs up)
    assert [(r["case"], r["verdict"]) for r in reviews(proj)] == [("refund", "accepted")]
