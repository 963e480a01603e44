"""A suite of several hundred cases in a throwaway repository, and the edits a pull request makes to
it: what the review tests of ``promptctl diff`` at scale run on.

Three prompts share a partial except the third: ``reply`` (a fixed system message that includes
``_policy.j2``, a user message naming the customer), ``triage`` (includes the partial too) and
``summarize`` (no partial, the ticket inside the changed line).
"""

from __future__ import annotations

from pathlib import Path

from tests.review.common import commit, new_repo

POLICY = "Refunds are possible within 30 days of purchase."
REPLY = """
    inputs: {customer: {}, ticket: {}}
    messages:
      - role: system
        content: |
          You are a helpful support agent for Acme.
          {% include "_policy.j2" %}
      - role: user
        content: |
          Customer {{ customer }} wrote:
          {{ ticket }}
"""
TRIAGE = """
    inputs: {ticket: {}}
    messages:
      - role: system
        content: |
          Classify the ticket as billing, bug or other.
          {% include "_policy.j2" %}
      - role: user
        content: "{{ ticket }}"
"""
SUMMARIZE = """
    inputs: {ticket: {}}
    template: "Summarize in one sentence: {{ ticket }}"
"""


def ticket(i: int) -> str:
    """A distinct ticket text of about 150 characters."""
    return (
        f"Ticket {i}: order #{1000 + i} arrived late and the box was damaged; "
        f"I would like to know my options, reference ACME-{i * 7919 % 100000:05d}."
    )


def customer(i: int) -> str:
    """Three customers in unequal shares, the smallest share first in case order."""
    return "Cy" if i < 40 else "Ann" if i < 140 else "Bob"


def case_file(prompt: str, n: int, *, with_customer: bool = False) -> str:
    lines = [f"prompt: {prompt}", "cases:"]
    for i in range(n):
        extra = f", customer: {customer(i)}" if with_customer else ""
        lines.append(
            f"  - {{id: {prompt}-{i:04d}, vars: {{ticket: '{ticket(i)}'{extra}}}, assert: [not_empty]}}"
        )
    return "\n".join(lines) + "\n"


def build(root: Path, *, reply: int = 200, triage: int = 150, summarize: int = 150) -> dict[str, str]:
    """The base commit and one commit per kind of edit, each on top of the previous one:

    - ``word``: one word of reply's system message (no variable near it);
    - ``partial``: the partial that reply and triage include (summarize does not);
    - ``variable``: reply's user line holding ``{{ customer }}`` (one change per customer);
    - ``unique``: summarize's only line, which holds the ticket (one change per case).
    """
    _, base = new_repo(
        root,
        {
            "promptctl.yaml": "model: openai/test-model\n",
            "prompts/_policy.j2": POLICY + "\n",
            "prompts/reply.yaml": REPLY,
            "prompts/triage.yaml": TRIAGE,
            "prompts/summarize.yaml": SUMMARIZE,
            "cases/reply.yaml": case_file("reply", reply, with_customer=True),
            "cases/triage.yaml": case_file("triage", triage),
            "cases/summarize.yaml": case_file("summarize", summarize),
        },
    )
    word = commit(root, {"prompts/reply.yaml": REPLY.replace("a helpful", "a friendly")}, "one word")
    partial = commit(root, {"prompts/_policy.j2": POLICY.replace("30 days", "60 days") + "\n"}, "policy")
    variable = commit(
        root,
        {"prompts/reply.yaml": REPLY.replace("a helpful", "a friendly").replace("wrote:", "asks:")},
        "user line",
    )
    unique = commit(
        root, {"prompts/summarize.yaml": SUMMARIZE.replace("one sentence", "two sentences")}, "summary"
    )
    return {"base": base, "word": word, "partial": partial, "variable": variable, "unique": unique}
