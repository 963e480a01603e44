"""Project configuration: ``promptctl.yaml``, found by walking up from the working directory.

API keys never live here: only the *name* of the environment variable holding one
(``api_key_env``). A ``.env`` file at the project root is loaded into the environment (existing
variables win) so local keys need no shell set-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from promptctl.errors import Problem
from promptctl.suite.model import Config, GateConfig, ModelAlias, param_problems
from promptctl.suite.yamlio import PathKey, decode_problem, load_yaml, schema_violations

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


def _drop(data: dict[str, Any], path: PathKey, cfg: Config) -> None:
    """Remove the setting at ``path`` (the nearest mapping key above a list item) so its default
    applies; an alias that cannot be used at all is remembered as declared (``broken_aliases``)
    so the names that use it are not reported unknown as well."""
    keys = list(path)
    while keys and not isinstance(keys[-1], str):
        keys.pop()
    if keys[:1] == ["models"] and (len(keys) == 2 or keys[2:3] == ["model"]):
        cfg.broken_aliases.add(str(keys[1]))
        keys = keys[:2]
    if keys[:1] in (["prompts_dir"], ["cases_dir"]):
        cfg.suite_unreadable = True
    node: Any = data
    for k in keys[:-1]:
        node = node.get(k) if isinstance(node, dict) else None
    if keys and isinstance(node, dict):
        node.pop(keys[-1], None)


def parse_config(text: str, path: str, root: Path) -> Config:
    """A Config from the text of a promptctl.yaml. Every problem is located in ``cfg.problems``
    (the suite's loader reports them with its own); a setting that is wrong falls back to its
    default, so one mistake here does not hide the problems elsewhere."""
    cfg = Config(root=str(root), path=path)
    doc, problems = load_yaml(text, path)
    cfg.problems = problems
    if problems or doc.data is None:
        return cfg
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "promptctl.yaml must be a mapping of settings"))
        return cfg
    data: dict[str, Any] = doc.data
    violations = schema_violations(doc, "config")
    for bad, problem in violations:
        problems.append(problem)
        _drop(data, bad, cfg)
    if violations and schema_violations(doc, "config"):  # what is left must be valid to build on
        return cfg
    plain = ("model", "judge_model", "embedding_model", "prompts_dir", "cases_dir", "examples_dir", "traces")
    for key in plain:
        if key in data:
            setattr(cfg, key, data[key])
    for key in ("concurrency", "max_retries"):
        if key in data:
            setattr(cfg, key, int(data[key]))
    for key in ("timeout", "retry_max_wait", "max_cost"):
        if key in data:
            setattr(cfg, key, float(data[key]))
    for key in ("model", "judge_model"):
        if key in data:
            cfg.locs[key] = doc.loc((key,))
    for name, spec in (data.get("models") or {}).items():
        cfg.locs[f"models.{name}.model"] = doc.loc(("models", str(name), "model"))
        for i in range(len(spec.get("fallbacks") or [])):
            cfg.locs[f"models.{name}.fallbacks.{i}"] = doc.loc(("models", str(name), "fallbacks", i))
        cfg.models[str(name)] = ModelAlias(
            name=str(name),
            model=spec["model"],
            api_base=spec.get("api_base"),
            api_key_env=spec.get("api_key_env"),
            params=dict(spec.get("params") or {}),
            fallbacks=list(spec.get("fallbacks") or []),
            rpm=spec.get("rpm"),
            price={k: float(v) for k, v in spec["price"].items()} if spec.get("price") else None,
        )
    for name, alias in cfg.models.items():
        for key, message in param_problems(alias.params):
            problems.append(
                doc.problem(("models", name, "params", key), f"models.{name}.params.{key}: {message}")
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
            cfg.suite_unreadable = True
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
    except UnicodeDecodeError as exc:
        return Config(root=str(root), path=CONFIG_NAME, problems=[decode_problem(CONFIG_NAME, exc)])
    except OSError as exc:
        problem = Problem(CONFIG_NAME, 0, 0, f"cannot read: {exc.strerror}")
        return Config(root=str(root), path=CONFIG_NAME, problems=[problem])
    return parse_config(text, CONFIG_NAME, root)
