"""Prompts in production: the Python API (``api``: ``get_prompt``), what it reads (``catalog``:
a prompt and its partials at a revision or label; ``files``: version ids, in-memory rendering),
export bundles (``bundle``) and call traces (``traces``)."""
