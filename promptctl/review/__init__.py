"""Review: what a change between revisions does — the diff of rendered requests, the comparison
of results (each side from a record, a git note or a run), the quality gate and its statistics."""
