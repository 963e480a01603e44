"""promptctl: prompts as code, versioned by git, tested with statistics instead of luck."""

__version__ = "0.1.0"
