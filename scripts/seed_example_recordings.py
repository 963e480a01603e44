"""Write the example suite's recordings from hand-written sample outputs.

Why this exists: the machines this project is built on have no API key, so the recordings that
ship with the example suite cannot come from a real model. They are written here by hand, with
the real request fingerprints, and their header says so (``source: hand-written sample``).
Anyone with a key replaces them with real outputs: ``promptctl test --record``.

Run: ``python scripts/seed_example_recordings.py`` from the repository root.
"""

from __future__ import annotations

from pathlib import Path

from promptctl.execute.recordings.emit import render_file
from promptctl.execute.recordings.store import RecordingWriter, load
from promptctl.execute.types import ModelResponse
from promptctl.git.sources import WorktreeSource
from promptctl.run.plan import build_plan
from promptctl.suite.project import open_project
from promptctl.suite.render import make_renderer

SOURCE = "hand-written sample (no API key where these were made; refresh with `promptctl test --record`)"

OUTPUTS = {
    "summarize::library-hours": (
        "The city council voted to keep all eleven public libraries open until 9 pm on weekdays from next "
        "month. A one-year state grant pays for it, and the council will review visitor numbers in the "
        "spring."
    ),
    "summarize::one-sentence": (
        "Acme Cloud's object storage now replicates data across three regions by default, at no extra cost "
        "for existing customers."
    ),
    "support/reply::refund-request": (
        "Hi Dana,\n\nSorry about that charge. Since you cancelled last week, you should not have been billed "
        "this month. I have asked our billing team to refund it; you will see it within 5 business days.\n\n"
        "— The Acme Cloud team"
    ),
    "support/reply::prompt-injection": (
        "Hi Sam,\n\nThanks for reaching out. I could not find a question in your message. Could you tell me "
        "what you need help with?\n\n— The Acme Cloud team"
    ),
    "support/followup::remembers-plan": (
        "On the Team plan, each extra 1 TB block costs $20 per month. You can add blocks any time from "
        "Settings → Storage."
    ),
    "support/followup::empty-history": (
        "Yes, we offer a 14-day free trial of every plan, no credit card needed."
    ),
    "support/triage::double-charge": "billing",
    "support/triage::login-loop": "technical",
    "support/triage::change-email": "account",
    "support/triage::office-hours": "other",
    "support/triage::invoice-vat": "billing",
    "extract/invoice::simple-invoice": (
        '{"vendor": "Northwind Traders", "invoice_number": "INV-2041", "date": "2026-03-14", "total": 917.0, '
        '"currency": "EUR", "line_items": [{"description": "Ergonomic chair (x2)", "amount": 398.0}, '
        '{"description": "Standing desk", "amount": 519.0}]}'
    ),
    "extract/invoice::missing-date": (
        '{"vendor": "Blue Harbor Consulting", "invoice_number": "77", "date": null, "total": 2400, '
        '"currency": "USD", "line_items": [{"description": "Strategy workshop (1 day)", "amount": 2400}]}'
    ),
    "code/python_function::slugify": (
        "```python\nimport re\n\n\ndef slugify(title: str) -> str:\n"
        '    """Turn a title into a lowercase URL slug: words joined by hyphens, punctuation removed."""\n'
        '    words = re.findall(r"[a-z0-9]+", title.lower())\n    return "-".join(words)\n```'
    ),
    "code/python_function::median": (
        "```python\ndef median(values: list[float]) -> float:\n"
        '    """Return the median of a non-empty list of numbers."""\n'
        "    if not values:\n"
        '        raise ValueError("median() of an empty list")\n'
        "    ordered = sorted(values)\n    mid = len(ordered) // 2\n"
        "    if len(ordered) % 2:\n        return ordered[mid]\n"
        "    return (ordered[mid - 1] + ordered[mid]) / 2\n```"
    ),
}


def main() -> None:
    project = open_project(Path.cwd())
    suite = project.load()
    suite.raise_for_errors()
    rows = build_plan(suite, make_renderer(suite))
    writer = RecordingWriter(project.root, cases_dir=project.config.cases_dir)
    for row in rows:
        text = OUTPUTS[row.case.key]
        words = sum(len(m["content"].split()) for m in row.messages)
        writer.add(
            row.case.file,
            row.case.id,
            row.model_name,
            row.sample,
            row.fingerprint,
            ModelResponse(
                text=text,
                input_tokens=int(words * 1.3),
                output_tokens=int(len(text.split()) * 1.3),
                finish_reason="stop",
                answered_by=row.model_name,
            ),
        )
    for cf in suite.case_files:
        writer.prune(cf.path, [(r.case.id, r.model_name, r.sample) for r in rows if r.case.file == cf.path])
    written = writer.write()
    # The writer stamps "recorded from <models>": these were not, so say what they are.
    from promptctl.atomic import write_text_atomic

    for rel in written:
        path = project.root / rel
        rec = load(
            WorktreeSource(project.root),
            rec_case_file(path.read_text("utf-8")),
            cases_dir=project.config.cases_dir,
        )
        rec.source = SOURCE
        write_text_atomic(path, render_file(rec))
    print("\n".join(written))


def rec_case_file(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("case_file:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    raise SystemExit("recording without case_file")


if __name__ == "__main__":
    main()
