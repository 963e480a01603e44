"""Reports: a run record, a comparison or a diff as text, JSON, JUnit XML or Markdown."""
