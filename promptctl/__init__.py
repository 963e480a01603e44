"""promptctl: prompts as code, versioned by git, tested with statistics instead of luck."""

from promptctl.version import __version__

__all__ = ["__version__"]
