"""Project configuration: ``promptctl.yaml``, found by walking up from the working directory.

API keys never live here: only the *name* of the environment variable holding one
(``api_key_env``). A ``.env`` file at the project root is loaded into the environment (existing
variables win) so local keys need no shell set-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from promptctl.errors import InputError, Problem
from promptctl.suite.model import Config, GateConfig, ModelAlias
from promptctl.suite.yamlio import check_schema, load_yaml

CONFIG_NAME = "promptctl.yaml"


def find_root(start: Path | None = None) -> tuple[Path, Path | None]:
    """The project root and its ``promptctl.yaml`` (None when there is none).

    Walks up from ``start`` to the first directory holding ``promptctl.yaml``; without one, the
    enclosing git work tree (where ``prompts/`` usually sits); without that, ``start`` itself.
    """
    start = (start or Path.cwd()).resolve()
    for d in (start, *start.parents):
        if (d / CONFIG_NAME).is_file():
            return d, d / CONFIG_NAME
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d, None
    return start, None


def load_dotenv(root: Path) -> list[str]:
    """Load ``root/.env`` (KEY=VALUE lines, ``export`` and quotes allowed) without overriding
    variables already set. Returns the names it set. Values are never logged."""
    path = root / ".env"
    if not path.is_file():
        return []
    names = []
    for raw in path.read_text("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key and key not in os.environ:
            os.environ[key] = value
            names.append(key)
    return names


def parse_config(text: str, path: str, root: Path) -> Config:
    """Build a Config from the text of a promptctl.yaml; raise InputError listing every problem."""
    doc, problems = load_yaml(text, path)
    if not problems and doc.data is not None:
        if not isinstance(doc.data, dict):
            problems.append(doc.problem((), "promptctl.yaml must be a mapping of settings"))
        else:
            problems.extend(check_schema(doc, "config"))
    if problems:
        raise InputError(problems)
    data: dict[str, Any] = doc.data or {}
    cfg = Config(root=str(root), path=path)
    for key in (
        "model",
        "judge_model",
        "embedding_model",
        "prompts_dir",
        "cases_dir",
        "examples_dir",
        "traces",
    ):
        if key in data:
            setattr(cfg, key, data[key])
    for key in ("concurrency", "max_retries", "workers"):
        if key in data:
            setattr(cfg, key, int(data[key]))
    for key in ("timeout", "retry_max_wait", "max_cost", "worker_idle_timeout"):
        if key in data:
            setattr(cfg, key, float(data[key]))
    for name, spec in (data.get("models") or {}).items():
        cfg.models[str(name)] = ModelAlias(
            name=str(name),
            model=spec["model"],
            api_base=spec.get("api_base"),
            api_key_env=spec.get("api_key_env"),
            params=dict(spec.get("params") or {}),
            fallbacks=list(spec.get("fallbacks") or []),
            rpm=spec.get("rpm"),
        )
    gate = data.get("gate") or {}
    cfg.gate = GateConfig(**{k: gate[k] for k in GateConfig.__dataclass_fields__ if k in gate})
    for name, alias in cfg.models.items():
        for i, fb in enumerate(alias.fallbacks):
            if fb == name:
                problems.append(
                    doc.problem(
                        ("models", name, "fallbacks", i), f"model '{name}' lists itself as a fallback"
                    )
                )
    for d in ("prompts_dir", "cases_dir", "examples_dir", "traces"):
        value = getattr(cfg, d)
        if value is not None and (Path(value).is_absolute() or ".." in Path(value).parts):
            problems.append(doc.problem((d,), f"{d} must be a path inside the project, got '{value}'"))
    if problems:
        raise InputError(problems)
    return cfg


def load_config(start: Path | None = None, *, text_override: str | None = None) -> Config:
    """Find and load the project configuration (defaults when there is no promptctl.yaml).

    ``text_override`` is the file's text at another git ref (``--ref``), read by the caller.
    """
    root, path = find_root(start)
    load_dotenv(root)
    if text_override is not None:
        return parse_config(text_override, CONFIG_NAME, root)
    if path is None:
        return Config(root=str(root))
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InputError([Problem(CONFIG_NAME, 0, 0, f"cannot read: {exc.strerror}")]) from None
    return parse_config(text, CONFIG_NAME, root)
