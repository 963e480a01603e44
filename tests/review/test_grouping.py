"""Grouping per-case diffs by the lines they change, in one pass."""

from __future__ import annotations

from promptctl.review.grouping import Grouper, Member, change_lines, unified


def request(system: str, user: str) -> str:
    return f"--- system ---\n{system}\n--- user ---\n{user}\n"


def test_change_lines_leave_out_headers_line_numbers_and_context() -> None:
    d = unified("a\nb\nc\n", "a\nB\nc\n", "x/base", "x/head")
    assert d.startswith("--- x/base\n+++ x/head\n@@ -1,3 +1,3 @@\n")
    assert change_lines(d) == ["@@", "-b", "+B"]
    # a removed line that looks like a header is a change, not a header
    assert change_lines(unified("-- x\nkeep\n", "keep\n", "a", "b")) == ["@@", "--- x"]
    # the same edit further down is the same change
    assert change_lines(unified("p\nq\na\nb\n", "p\nq\na\nB\n", "a", "b")) == ["@@", "-b", "+B"]


def test_groups_by_prompt_and_changed_lines_largest_first() -> None:
    g = Grouper()
    for i, name in enumerate(["Cy", "Ann", "Ann", "Bob", "Ann", "Bob"]):
        before = request("Be brief.", f"Hi {name}, ticket {i}")
        after = request("Be very brief.", f"Hi {name}, ticket {i}")
        g.add(Member(f"p::c{i}", f"c{i}", "m"), "p", "changed", unified(before, after, "a", "b"))
    # the same edit in another prompt is another group
    other = unified(request("Be brief.", "x"), request("Be very brief.", "x"), "a", "b")
    g.add(Member("q::c0", "c0", "m"), "q", "changed", other)
    # a variable inside the changed line: a group per distinct value
    for i, name in enumerate(["Ann", "Bob", "Ann"]):
        d = unified(request("S", f"Hi {name}"), request("S", f"Hello {name}"), "a", "b")
        g.add(Member(f"r::c{i}", f"c{i}", "m"), "r", "changed", d)
    groups, ids = g.groups()
    assert [(x.id, x.prompt, len(x.members)) for x in groups] == [
        (1, "p", 6),
        (2, "r", 2),
        (3, "q", 1),
        (4, "r", 1),
    ]
    assert sorted(ids.values()) == [1, 2, 3, 4]
    p = groups[0]
    assert p.example == "p::c0" and "ticket 0" in p.diff  # the first member's diff, its context
    assert p.context_varies  # the others' context lines hold other tickets
    assert not groups[1].context_varies  # Ann's two diffs are identical
    assert groups[1].to_dict()["cases"] == [
        {"case_key": "r::c0", "case": "c0", "model": "m"},
        {"case_key": "r::c2", "case": "c2", "model": "m"},
    ]


def test_added_and_removed_are_other_groups_than_changed() -> None:
    g = Grouper()
    d = unified("", "x\n", "a", "b")
    g.add(Member("p::a", "a", "m"), "p", "added", d)
    g.add(Member("p::b", "b", "m"), "p", "changed", d)
    groups, _ = g.groups()
    assert [x.change for x in groups] == ["added", "changed"]
