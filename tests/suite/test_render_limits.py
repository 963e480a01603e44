"""Resource limits of the template sandbox (suite/sandbox.py): output size, loops, calls and time
end a render with a located error, quickly, before the memory or the time is spent."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from promptctl.suite.model import Loc, Prompt
from promptctl.suite.render import Renderer, RenderError
from promptctl.suite.sandbox import MAX_CALLS, MAX_CHARS, MAX_RANGE_ITEMS, Budget
from tests.helpers import MINIMAL, invoke, write_files


def render(template: str, variables: dict[str, Any] | None = None, **limits: Any) -> tuple[str, float]:
    """The rendered text, or the error's formatted problems; and the seconds it took."""
    renderer = Renderer(lambda _p: "", limits=Budget(**limits))
    prompt = Prompt(
        name="p", path="prompts/p.yaml", template=template, template_loc=Loc("prompts/p.yaml", 4, 11)
    )
    started = time.perf_counter()
    try:
        out = renderer.render(prompt, variables or {})[0]["content"]
    except RenderError as exc:
        out = exc.render()
    return out, time.perf_counter() - started


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{{ 'a' * 10**9 }}", "a repeated string or list would be 1,000,000,000 characters long"),
        ("{{ ['a'] * 10**9 }}", "a repeated string or list would be"),
        ("{% set s = 'a' * 3000000 %}{{ s + s }}", "a concatenation would be 6,000,000 characters"),
        ("{{ '%1000000000s' % 'x' }}", "a formatted field would be 1,000,000,000 characters"),
        ("{{ '%*s' % (1000000000, 'x') }}", "a formatted field would be"),
        ("{{ '{:>1000000000}'.format(1) }}", "a formatted field would be"),
        ("{{ 'x'.ljust(10**9) }}", "str.ljust() would be"),
        ("{{ 'x'.center(10**9) }}", "str.center() would be"),
        ("{{ 'a\tb'.expandtabs(10**9) }}", "str.expandtabs() would be"),
        ("{{ ('ab' * 1000).replace('a', 'x' * 10000) }}", "str.replace() would be"),
        ("{{ 'x' | center(10**9) }}", "center() would be"),
        ("{{ 'a\\nb' | indent(10**9) }}", "indent() would be"),
        ("{{ '%1000000000d' | format(5) }}", "a formatted field would be"),
        ("{{ [1] | tojson(indent=10**9) }}", "tojson() indentation would be"),
        ("{{ lipsum(10**7) }}", "lipsum() would be"),
        ("{{ 10 ** (10 ** 9) }}", "a power would be"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "drew more than",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "drew more than",
        ),
        (
            "{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}",
            "drew more than",
        ),
        ("{% for i in range(99999) %}{{ 'y' * 99 }}{% endfor %}", "the rendered message would be"),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
            f"more than {MAX_CALLS:,} calls",
        ),
    ],
)
def test_a_limit_ends_the_render_quickly_with_a_located_error(template: str, fragment: str) -> None:
    out, seconds = render(template)
    assert out.startswith("prompts/p.yaml:4:11: template is not allowed to do that in the sandbox: "), out
    assert fragment in out, out
    assert seconds < 2, seconds


def test_time_limit_stops_loops_over_data() -> None:
    """Nested loops over a variable make no call, draw nothing from range() and print nothing:
    only the clock stops them."""
    template = "{% for a in xs %}{% for b in xs %}{% for c in xs %}{% endfor %}{% endfor %}{% endfor %}"
    out, seconds = render(template, {"xs": list(range(2000))}, time_limit=0.3)
    assert "rendering took longer than 0.3 s" in out, out
    assert seconds < 2, seconds
    # ... and the render after it is unaffected by the exception the watchdog raised.
    out, _ = render("{{ x }} ok", {"x": 1})
    assert out == "1 ok"


def test_ordinary_templates_are_within_every_limit() -> None:
    template = (
        "{% for i in range(1000) %}{{ i }},{% endfor %}|{{ 'ab' * 10 }}|{{ '%5s' % 'x' }}|"
        "{{ '{:>4}'.format(7) }}|{{ 'x'.ljust(3) }}|{{ 'a\nb' | indent(2) }}|{{ range(3) | list | length }}|"
        "{{ 2 ** 10 }}|{{ [1, 2] | tojson }}|{% for i in range(3) | reverse %}{{ i }}{% endfor %}"
    )
    out, _ = render(template)
    expected_loop = ",".join(str(i) for i in range(1000)) + ","
    assert out == f"{expected_loop}|{'ab' * 10}|    x|   7|x  |a\n  b|3|1024|[1, 2]|210"
    assert MAX_RANGE_ITEMS >= 1000 and MAX_CHARS >= 1_000_000


def test_a_template_bomb_in_a_prompt_is_exit_2(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            **MINIMAL,
            "prompts/greet.yaml": """
                inputs:
                  name: {}
                template: "{% for i in range(100000) %}{% for j in range(100000) %}{{ name }}{% endfor %}{% endfor %}"
            """,
        },
    )
    started = time.perf_counter()
    r = invoke("render", "greet", "--var", "name=x", cwd=tmp_path)
    assert time.perf_counter() - started < 10
    assert r.exit_code == 2, r.output
    assert "prompts/greet.yaml:3:" in r.stderr and "drew more than" in r.stderr, r.stderr
