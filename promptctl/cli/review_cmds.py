"""CLI verbs for the review workflow: ``diff`` and ``compare`` (filled in by the review work)."""
