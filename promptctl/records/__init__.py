"""Run records: the record of a run (schema, atomic writes, provenance), its summary, history,
records shared as git notes, and merging shard records."""
