"""Project configuration: ``promptctl.yaml``, found by walking up from the working directory.

API keys never live here: only the *name* of the environment variable holding one
(``api_key_env``). A ``.env`` file at the project root is loaded into the environment (existing
variables win) so local keys need no shell set-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from promptctl import redact, secrets
from promptctl.errors import Problem
from promptctl.pii import DEFAULT_REGION, PII_TYPES, unknown_regions
from promptctl.redact import Policy
from promptctl.suite.model import Config, GateConfig, ModelAlias, param_problems
from promptctl.suite.yamlio import Doc, PathKey, decode_problem, load_yaml, schema_violations

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


DOTENV = ".env"
DOTENV_RULE = "provider keys, the api_key_env names of promptctl.yaml, PROMPTCTL_*"


def dotenv_allows(name: str, key_names: set[str]) -> bool:
    """Whether ``.env`` may set ``name``: a provider key variable (OPENAI_API_KEY, any
    ``*_API_KEY`` ...), a variable the worktree's promptctl.yaml names in ``api_key_env``, or a
    ``PROMPTCTL_*`` setting. Anything else (GIT_CONFIG_*, PATH, proxies, endpoints) could change
    what the programs promptctl runs do: a committed .env is input, not configuration."""
    return secrets.is_provider_key_name(name) or name in key_names or name.startswith("PROMPTCTL_")


def load_dotenv(
    root: Path, key_names: set[str] | frozenset[str] = frozenset()
) -> tuple[list[str], list[Problem]]:
    """Load ``root/.env`` (KEY=VALUE lines, ``export`` and quotes allowed) without overriding
    variables already set, and only the variables :func:`dotenv_allows`. Returns the names it set
    and a warning for every line it ignored. Values are never logged."""
    path = root / DOTENV
    if not path.is_file():
        return [], []
    names: list[str] = []
    ignored: list[Problem] = []
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError as exc:
        return [], [Problem(DOTENV, 0, 0, f"cannot read: {exc.strerror}", "warning")]
    for lineno, raw in enumerate(text.splitlines(), 1):
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
        if not key:
            continue
        if not dotenv_allows(key, set(key_names)):
            ignored.append(
                Problem(
                    DOTENV,
                    lineno,
                    1,
                    f"{key} is not a variable promptctl uses ({DOTENV_RULE}): ignored",
                    "warning",
                )
            )
            continue
        if key not in os.environ:
            os.environ[key] = value
            names.append(key)
    return names, ignored


ENVIRONMENT = "environment"  # the "path" of a problem with the process environment


def environment_problems(cfg: Config) -> list[Problem]:
    """The problems of ``cfg`` that are not in promptctl.yaml: ``.env`` lines it ignored and
    endpoint variables with no effect. Every command shows them (the CLI, once); the others
    are shown where the suite's problems are."""
    return [p for p in cfg.problems if p.path in (DOTENV, ENVIRONMENT)]


def endpoint_variable_notices() -> list[Problem]:
    """A warning for every endpoint variable set in the environment (OPENAI_BASE_URL ...): the
    model layer removes them before calling, so the user learns why they have no effect."""
    return [
        Problem(
            ENVIRONMENT,
            0,
            0,
            f"{name} is set in the environment: ignored (endpoints come only from `api_base` in "
            "promptctl.yaml)",
            "warning",
        )
        for name in sorted(os.environ)
        if secrets.is_endpoint_variable(name)
    ]


ENDPOINT_PARAM_FIX = (
    "promptctl sends a call only to the `api_base` of a model alias in promptctl.yaml, with the key "
    "named by its `api_key_env`: remove it from params"
)


def endpoint_param_problems(doc: Doc, at: PathKey, params: Any) -> list[Problem]:
    """A located error for every parameter in ``params`` (at ``at`` in ``doc``) that would choose
    where a call goes or with which credentials (``base_url``, ``api_key`` ...: see
    :func:`promptctl.secrets.is_endpoint_param`)."""
    if not isinstance(params, dict):
        return []
    where = ".".join(str(p) for p in at)
    return [
        doc.problem((*at, str(name)), f"{where}.{name}: not allowed; {ENDPOINT_PARAM_FIX}", of_key=True)
        for name in params
        if secrets.is_endpoint_param(str(name))
    ]


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
    for key in ("concurrency", "max_retries", "workers"):
        if key in data:
            setattr(cfg, key, int(data[key]))
    for key in ("timeout", "retry_max_wait", "max_cost", "worker_idle_timeout"):
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
    secrets.add_key_names(a.api_key_env for a in cfg.models.values())  # their values get masked
    for name, alias in cfg.models.items():
        for key, message in param_problems(alias.params):
            problems.append(
                doc.problem(("models", name, "params", key), f"models.{name}.params.{key}: {message}")
            )
    if isinstance(data.get("redact"), dict):
        cfg.redact = _redact_policy(doc, data["redact"], problems)
    gate = data.get("gate") or {}
    cfg.gate = GateConfig(**{k: gate[k] for k in GateConfig.__dataclass_fields__ if k in gate})
    for name, alias in cfg.models.items():
        problems.extend(endpoint_param_problems(doc, ("models", name, "params"), alias.params))
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


def _redact_policy(doc: Doc, spec: dict[str, Any], problems: list[Problem]) -> Policy:
    """The ``redact:`` section (already checked against the schema); an unknown phone region is
    a located problem and is left out."""
    region = spec.get("region", [DEFAULT_REGION])
    regions = [r.upper() for r in ([region] if isinstance(region, str) else region)]
    bad = set(unknown_regions(regions)) if "region" in spec else set()
    for i, r in enumerate(regions):
        if r in bad:
            where = ("redact", "region") if isinstance(region, str) else ("redact", "region", i)
            message = f"redact.region: unknown region '{r}'; use ISO 3166 codes such as US, GB, DE"
            problems.append(doc.problem(where, message))
    return Policy(
        types=tuple(spec.get("types", PII_TYPES)),
        regions=tuple(dict.fromkeys(r for r in regions if r not in bad)) or (DEFAULT_REGION,),
        allow=tuple(spec.get("allow", ())),
        inputs=bool(spec.get("inputs", False)),
    )


def load_config(start: Path | None = None, *, text_override: str | None = None) -> Config:
    """Find and load the project configuration (defaults when there is no promptctl.yaml), after
    loading ``.env`` (see :func:`load_dotenv`).

    ``text_override`` is the file's text at another git ref (``--ref``), read by the caller. The
    variables ``.env`` may set are still those the *worktree's* promptctl.yaml names: a revision
    under review does not choose which variables get loaded.
    """
    root, path = find_root(start)
    worktree = Config(root=str(root))
    if path is not None:
        worktree = _read_config(path, root)
    key_names = {a.api_key_env for a in worktree.models.values() if a.api_key_env}
    _, environment = load_dotenv(root, key_names)
    environment.extend(endpoint_variable_notices())
    # What is written is redacted as the worktree says: a revision under review cannot turn it off.
    redact.configure(worktree.redact)
    cfg = parse_config(text_override, CONFIG_NAME, root) if text_override is not None else worktree
    cfg.redact = worktree.redact
    cfg.problems.extend(environment)
    return cfg


def _read_config(path: Path, root: Path) -> Config:
    """The worktree's promptctl.yaml; a file that cannot be read is a problem of the config."""
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        return Config(root=str(root), path=CONFIG_NAME, problems=[decode_problem(CONFIG_NAME, exc)])
    except OSError as exc:
        problem = Problem(CONFIG_NAME, 0, 0, f"cannot read: {exc.strerror}")
        return Config(root=str(root), path=CONFIG_NAME, problems=[problem])
    return parse_config(text, CONFIG_NAME, root)


TRUST_FLAG = "--trust-ref-config"


def endpoint_changes(trusted: Config, other: Config) -> list[str]:
    """How ``other`` (a revision's configuration) changes where keys are sent compared with
    ``trusted`` (the worktree's): every alias whose ``api_base`` or ``api_key_env`` differs, and
    every alias it adds with either. Other settings may change freely."""
    out: list[str] = []
    for name in sorted(other.models):
        new, old = other.models[name], trusted.models.get(name)
        if old is None:
            if new.api_base or new.api_key_env:
                out.append(
                    f"alias '{name}': added with api_base {new.api_base or '(none)'}, "
                    f"api_key_env {new.api_key_env or '(none)'}"
                )
            continue
        for attr in ("api_base", "api_key_env"):
            before, after = getattr(old, attr), getattr(new, attr)
            if before != after:
                out.append(f"alias '{name}': {attr} {before or '(none)'} → {after or '(none)'}")
    return out


def untrusted_message(label: str, changes: list[str]) -> str:
    """Why live calls for revision ``label`` are refused, listing its ``changes``."""
    lines = "\n".join(f"  {c}" for c in changes)
    return (
        f"refusing live model calls for '{label}': its promptctl.yaml changes where keys are sent, "
        f"compared with the worktree's:\n{lines}\n"
        f"hint: if you trust this change, run again with {TRUST_FLAG}; recordings and the cache "
        "still answer without it (--offline uses nothing else)"
    )
