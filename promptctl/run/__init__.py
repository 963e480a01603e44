"""Running: the plan (case x model x sample, fingerprints), the run of a suite, one-shot calls."""
