"""Problems as GitHub Actions workflow commands (``::error file=…,line=…,col=…::message``): the
annotations a workflow step prints to mark lines of a pull request's files."""

from __future__ import annotations

from promptctl.errors import Problem


def _data(text: str) -> str:
    """Escape a command's message, as the Actions toolkit does (``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    """Escape a property value (``escapeProperty``): also ``:`` and ``,``, which delimit them."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(problem: Problem, *, prefix: str = "", title: str = "promptctl lint") -> str:
    """One problem as a workflow command; ``prefix`` is the project's folder in the repository
    (GitHub resolves ``file`` from the repository root)."""
    level = "error" if problem.is_error else "warning"
    path = f"{prefix.rstrip('/')}/{problem.path}" if prefix and prefix != "." else problem.path
    props = [f"file={_prop(path)}"]
    if problem.line > 0:
        props += [f"line={problem.line}", f"col={max(problem.col, 1)}"]
    props.append(f"title={_prop(title)}")
    return f"::{level} {','.join(props)}::{_data(problem.message)}"
