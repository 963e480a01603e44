"""promptctl: prompts as code, versioned by git, tested with statistics instead of luck.

The package face for applications: ``promptctl.get_prompt(name, ref=None, label=None, root=None)``
(see ``promptctl.runtime.api``). It is imported on first use (a module ``__getattr__``), so
``import promptctl`` -- which every command, ``promptctl --help`` included, does -- stays free of
YAML, Jinja, git and litellm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptctl.version import __version__

if TYPE_CHECKING:
    from promptctl.runtime.api import AsyncStream, Completion, CompletionError, Prompt, Stream, get_prompt

__all__ = ["AsyncStream", "Completion", "CompletionError", "Prompt", "Stream", "__version__", "get_prompt"]

_LAZY = {"get_prompt", "Prompt", "Completion", "CompletionError", "Stream", "AsyncStream"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from promptctl.runtime import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'promptctl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
