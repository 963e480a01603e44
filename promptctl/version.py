"""The version of promptctl, in a module of its own: every layer may import it, and importing it
costs nothing (the package face, ``promptctl/__init__.py``, sits at the top of the layers)."""

__version__ = "0.1.0"
