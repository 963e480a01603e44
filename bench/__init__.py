"""promptctl's end-to-end benchmarks (issue 6): ``python -m bench``; see ``bench/__main__.py``.

Everything is measured from the outside, the way a user meets it: throwaway git projects under a
temporary directory, the fake OpenAI-compatible server (``tests/fakeserver.py``) as a separate
process with a fixed latency, and ``python -m promptctl test`` as a subprocess per measurement.
"""
