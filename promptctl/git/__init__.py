"""Git access: file sources at a revision (``sources``), repository facts (``repo``), notes
storage and merge (``notes``), on top of ``plumbing`` (running git)."""
