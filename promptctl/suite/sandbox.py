"""The Jinja sandbox prompts render in, with resource limits.

Jinja's ``SandboxedEnvironment`` keeps templates away from Python internals but not from spending
without bound: ``{{ 'a' * 10**9 }}`` allocates a gigabyte, two nested ``range(100000)`` loops run
ten billion iterations. A template is repository input (a pull request's, in CI), so one render
of one message is held to:

* :data:`MAX_CHARS` characters of output, and of any string or list an operator (``*``, ``+``,
  ``%``, ``**``) or a padding method or filter (``ljust``, ``center``, ``indent``, ``format``
  widths, ``lipsum``, ``tojson`` indent …) would build: checked *before* it is built;
* :data:`MAX_RANGE_ITEMS` items iterated out of ``range()`` (Jinja caps one range at 100,000
  items; nested loops multiplied them) and :data:`MAX_CALLS` calls (macros, methods);
* :data:`TIME_LIMIT_S` seconds of wall time, whatever the template does (a loop over data, with
  no call and no output, included): a watchdog thread raises in the rendering thread.

Each limit ends the render with :class:`RenderLimit` (a ``SecurityError``: the message names the
limit), which the renderer reports at the template's ``path:line:col``.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment, safe_range

MAX_CHARS = 4_000_000  # ~1M tokens: more than any model's context window
MAX_RANGE_ITEMS = 100_000
MAX_CALLS = 200_000
TIME_LIMIT_S = 2.0


class RenderLimit(SecurityError):
    """A render went over one of the sandbox's limits."""


class RenderTimeout(BaseException):
    """Raised asynchronously in a render that ran out of time. A BaseException, so that no
    ``except Exception`` on the way (Jinja's, a filter's) swallows it."""


@dataclass
class Budget:
    """What one render may still spend (see the module docstring)."""

    max_chars: int = MAX_CHARS
    range_items: int = MAX_RANGE_ITEMS
    calls: int = MAX_CALLS
    time_limit: float = TIME_LIMIT_S

    def size(self, n: int, what: str) -> None:
        if n > self.max_chars:
            raise RenderLimit(f"{what} would be {n:,} characters long, over the limit of {self.max_chars:,}")


_local = threading.local()
# Size checks also hold outside a render: Jinja folds filters on constants while compiling.
_COMPILING = Budget()


def _budget() -> Budget | None:
    return getattr(_local, "budget", None)


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple, bytes)) else None


# -- operators, methods, filters ---------------------------------------------------------------------
_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")
_BRACE_FIELD = re.compile(r"\{[^{}]*\}")


def _check_format_widths(fmt: str, args: tuple[Any, ...], budget: Budget) -> None:
    """A %-format or str.format string whose field widths or precisions would build a string
    longer than the limit (``'%1000000000s'``, ``'{:>1000000000}'``, ``'%*s' % (10**9, x)``)."""
    numbers = [int(n) for m in _PERCENT_WIDTH.finditer(fmt) for n in m.groups() if n and n != "*"]
    for spec in _BRACE_FIELD.findall(fmt):
        numbers.extend(int(n) for n in re.findall(r"\d+", spec.partition(":")[2]))
    if "*" in fmt or "{" in fmt:  # widths taken from the arguments
        numbers.extend(a for a in args if isinstance(a, int) and not isinstance(a, bool))
    for n in numbers:
        budget.size(n, "a formatted field")


def _check_binop(op: str, left: Any, right: Any, budget: Budget) -> None:
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            length = _sized(seq)
            if length is not None and isinstance(n, int):
                budget.size(length * max(n, 0), "a repeated string or list")
    elif op == "+":
        a, b = _sized(left), _sized(right)
        if a is not None and b is not None:
            budget.size(a + b, "a concatenation")
    elif op == "%" and isinstance(left, str):
        args = right if isinstance(right, tuple) else (right,)
        _check_format_widths(left, args, budget)
    elif op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        budget.size(abs(left).bit_length() * right // 3, "a power")  # ~ its number of digits


_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})


def _check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> None:
    target = getattr(obj, "__wrapped__", obj)  # str.format comes wrapped by the sandbox
    owner, name = getattr(target, "__self__", None), getattr(target, "__name__", "")
    if isinstance(owner, str):
        if name in _WIDTH_METHODS and args and isinstance(args[0], int):
            budget.size(args[0], f"str.{name}()")
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(size, int):
                budget.size(len(owner) + owner.count("\t") * size, "str.expandtabs()")
        elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            grows = owner.count(args[0]) if args[0] else len(owner) + 1
            budget.size(len(owner) + grows * max(0, len(args[1]) - len(args[0])), "str.replace()")
        elif name in ("format", "format_map"):
            _check_format_widths(owner, (*args, *kwargs.values()), budget)


def _limited_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` with its result size checked before it is built."""

    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget() or _COMPILING
        text = str(value) if name in ("indent", "format", "replace") else ""
        if name == "center":
            width = args[0] if args else kwargs.get("width", 80)
            if isinstance(width, int):
                budget.size(width, "center()")
        elif name == "indent":
            width = args[0] if args else kwargs.get("width", 4)
            per_line = len(width) if isinstance(width, str) else width
            if isinstance(per_line, int):
                budget.size(len(text) + (text.count("\n") + 1) * per_line, "indent()")
        elif name == "format":
            _check_format_widths(text, (*args, *kwargs.values()), budget)
        elif name == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            grows = text.count(old) if old else len(text) + 1
            budget.size(len(text) + grows * max(0, len(new) - len(old)), "replace()")
        elif name == "tojson":
            indent = args[0] if args else kwargs.get("indent")
            if isinstance(indent, int):
                budget.size(indent * 64, "tojson() indentation")
        return original(value, *args, **kwargs)

    return checked


class _Range:
    """``range()`` for templates: Jinja's cap per range, and every item drawn counted against the
    render's budget (so nested loops cannot multiply it)."""

    def __init__(self, *args: int) -> None:
        self._range = safe_range(*args)

    def __iter__(self) -> Iterator[int]:
        return _counted(iter(self._range))

    def __reversed__(self) -> Iterator[int]:
        return _counted(reversed(self._range))

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: Any) -> Any:
        return self._range[index]

    def __contains__(self, value: object) -> bool:
        return value in self._range

    def __repr__(self) -> str:
        return repr(self._range)


def _counted(items: Iterator[int]) -> Iterator[int]:
    budget = _budget()
    for i in items:
        if budget is not None:
            budget.range_items -= 1
            if budget.range_items < 0:
                raise RenderLimit(f"loops over range() drew more than {MAX_RANGE_ITEMS:,} items")
        yield i


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    from jinja2.utils import generate_lorem_ipsum

    budget = _budget()
    if budget is not None and isinstance(n, int) and isinstance(max, int):
        budget.size(n * max * 12, "lipsum()")
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


class LimitedSandbox(SandboxedEnvironment):
    """Jinja's sandbox with the limits of this module (active while :func:`limits` is)."""

    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = _Range
        self.globals["lipsum"] = _lipsum
        for name in ("center", "indent", "format", "replace"):
            self.filters[name] = _limited_filter(name, self.filters[name])

    def limit_filter(self, name: str) -> None:
        """Check the result size of filter ``name`` (one added after construction)."""
        self.filters[name] = _limited_filter(name, self.filters[name])

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        if budget is not None:
            _check_binop(operator, left, right, budget)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        if budget is not None:
            budget.calls -= 1
            if budget.calls < 0:
                raise RenderLimit(f"the template made more than {MAX_CALLS:,} calls")
            _check_call(__obj, args, kwargs, budget)
        return super().call(__context, __obj, *args, **kwargs)


def render_limited(template: jinja2.Template, variables: dict[str, Any], budget: Budget) -> str:
    """Render ``template`` within a fresh copy of ``budget``: output size checked as it is
    produced, and the watchdog armed for ``budget.time_limit``. Raises :class:`RenderLimit`."""
    budget = replace(budget)
    _local.budget = budget
    token = _WATCHDOG.arm(budget.time_limit)
    try:
        try:
            pieces: list[str] = []
            size = 0
            for piece in template.generate(variables):
                size += len(piece)
                if size > budget.max_chars:
                    budget.size(size, "the rendered message")
                pieces.append(piece)
            return "".join(pieces)
        finally:
            _WATCHDOG.disarm(token)
            _local.budget = None
    except RenderTimeout:
        raise RenderLimit(f"rendering took longer than {budget.time_limit:g} s") from None


# -- the watchdog ------------------------------------------------------------------------------------
def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in thread ``thread_id`` at its next Python instruction (None: cancel)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None
    )


class _Watchdog:
    """One daemon thread for the process: raises :class:`RenderTimeout` in a render that is past
    its deadline (again every poll, until the render ends), and exits after a quiet while. Arming
    costs a lock and a dict entry, no wake-up: the thread polls while anything is armed."""

    POLL_S = 0.05
    IDLE_EXIT_S = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[int, tuple[int, float]] = {}  # thread id -> (token, deadline)
        self._fired: set[int] = set()
        self._tokens = 0
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> int:
        tid = threading.get_ident()
        with self._lock:
            self._tokens += 1
            self._armed[tid] = (self._tokens, time.monotonic() + seconds)
            self._fired.discard(tid)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="promptctl-render-watchdog", daemon=True
                )
                self._thread.start()
            return self._tokens

    def disarm(self, token: int) -> None:
        tid = threading.get_ident()
        with self._lock:
            if self._armed.get(tid, (None,))[0] == token:
                del self._armed[tid]
            if tid in self._fired:
                self._fired.discard(tid)
                _raise_in(tid, None)  # an exception still pending must not fire after the render

    def _run(self) -> None:
        quiet_since = time.monotonic()
        while True:
            time.sleep(self.POLL_S)
            now = time.monotonic()
            with self._lock:
                if not self._armed:
                    if now - quiet_since > self.IDLE_EXIT_S:
                        self._thread = None
                        return
                    continue
                quiet_since = now
                for tid, (_, deadline) in self._armed.items():
                    if now >= deadline:
                        self._fired.add(tid)
                        with contextlib.suppress(Exception):
                            _raise_in(tid, RenderTimeout)


_WATCHDOG = _Watchdog()
