"""Export bundles: every prompt of one commit in one JSON file, for deploys without git and for
applications in other languages.

A bundle holds, per prompt, its YAML text and the text of every partial it includes (so it renders
from the bundle alone, in the same sandbox), what other languages need without parsing YAML
(inputs, model, effective params, output format and schema), and its version id; plus the
commit (and the ref or label it was exported from) and the model aliases and call settings of
that commit's ``promptctl.yaml`` (names of key variables only, never a key). Its JSON Schema is
``promptctl/schemas/bundle.schema.json``. The same commit always gives the same bytes.

A bundle read back is checked against that schema and every prompt's version id is recomputed
from its texts: a bundle edited by hand, or damaged, is refused with what is wrong.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl.errors import InputError, Problem, UsageError
from promptctl.runtime.catalog import LoadedPrompt, Revision, UnknownPrompt, describe, load_all, opened
from promptctl.runtime.files import version_id
from promptctl.suggest import suggest
from promptctl.suite.load import parse_prompt_text
from promptctl.suite.model import Config, ModelAlias
from promptctl.version import __version__

FORMAT = "promptctl-bundle"
FORMAT_VERSION = 1


def _config_dict(cfg: Config) -> dict[str, Any]:
    return {
        "model": cfg.model,
        "timeout": cfg.timeout,
        "max_retries": cfg.max_retries,
        "retry_max_wait": cfg.retry_max_wait,
        "models": {
            name: {
                "model": a.model,
                "api_base": a.api_base,
                "api_key_env": a.api_key_env,
                "params": a.params,
                "fallbacks": a.fallbacks,
                "rpm": a.rpm,
            }
            for name, a in sorted(cfg.models.items())
        },
    }


def build_bundle(where: Path, revision: Revision) -> dict[str, Any]:
    """The bundle of every prompt at ``revision`` (a commit: the worktree is not exported)."""
    assert revision.commit is not None
    with opened(where, revision) as project:
        prompts = load_all(project, revision)
        cfg = project.config
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "promptctl_version": __version__,
        "commit": revision.commit,
        "ref": revision.ref,
        "label": revision.label,
        "prompts_dir": cfg.prompts_dir.rstrip("/"),
        "config": _config_dict(cfg),
        "prompts": {
            p.name: {**describe(p), "source": p.text, "partials": dict(sorted(p.partials.items()))}
            for p in prompts
        },
    }


def bundle_text(bundle: dict[str, Any]) -> str:
    """The file's text: sorted keys, indented, one final newline (stable, diffable)."""
    return json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- reading ------------------------------------------------------------------------------------
@dataclass
class Bundle:
    """A bundle read from ``path`` and checked; :meth:`load` gives one of its prompts."""

    path: Path
    data: dict[str, Any]
    config: Config
    _loaded: dict[str, LoadedPrompt] = field(default_factory=dict)

    @property
    def commit(self) -> str:
        return str(self.data["commit"])

    @property
    def ref(self) -> str | None:
        return self.data.get("ref")

    @property
    def label(self) -> str | None:
        return self.data.get("label")

    @property
    def names(self) -> list[str]:
        return sorted(self.data["prompts"])

    def check_revision(self, ref: str | None, label: str | None) -> None:
        """A bundle holds one commit: asking for another ref or label is an error, not a silent
        answer from the wrong revision."""
        if ref is not None and label is not None:
            raise UsageError("give a ref or a label, not both")
        made = f"exported from {self._origin()}"
        if label is not None and label != self.label:
            raise UsageError(
                f"{self.path} does not hold label '{label}': it was {made}",
                hint=f"export that label: `promptctl export --label {label} -o {self.path.name}`",
            )
        if (
            ref is not None
            and ref != self.ref
            and not (len(ref) >= 4 and self.commit.startswith(ref.lower()))
        ):
            raise UsageError(
                f"{self.path} does not hold '{ref}': it was {made}",
                hint=f"export that revision: `promptctl export --ref {ref} -o {self.path.name}`",
            )

    def _origin(self) -> str:
        if self.label:
            return f"label '{self.label}' (commit {self.commit[:12]})"
        if self.ref:
            return f"'{self.ref}' (commit {self.commit[:12]})"
        return f"commit {self.commit[:12]}"

    def load(self, name: str) -> LoadedPrompt:
        got = self._loaded.get(name)
        if got is not None:
            return got
        entry = self.data["prompts"].get(name)
        if entry is None:
            raise UnknownPrompt(
                f"unknown prompt '{name}' in {self.path}{suggest(name, self.names)}",
                hint=f"the bundle holds: {', '.join(self.names) or 'no prompts'}",
            )
        pdir = self.data["prompts_dir"]
        spec = parse_prompt_text(entry["source"], entry["path"], name)
        partials: dict[str, str] = entry["partials"]
        files = {entry["path"]: entry["source"], **{posixpath.join(pdir, k): v for k, v in partials.items()}}
        loaded = LoadedPrompt(
            spec=spec,
            files=files,
            partials=dict(partials),
            prompts_dir=pdir,
            version=entry["version"],
            config=self.config,
            commit=self.commit,
            ref=self.ref,
            label=self.label,
        )
        self._loaded[name] = loaded
        return loaded


def read_bundle(path: Path) -> Bundle:
    """Read and check a bundle file; InputError naming every problem (exit 2)."""
    shown = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(shown, 0, 0, f"cannot read the bundle: {exc}")]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            [Problem(shown, exc.lineno, exc.colno, f"not a bundle: invalid JSON: {exc.msg}")]
        ) from None
    problems = check_bundle(data, shown)
    if problems:
        raise InputError(problems)
    cfg_data = data["config"]
    cfg = Config(
        root=str(Path(path).resolve().parent),
        model=cfg_data["model"],
        timeout=float(cfg_data["timeout"]),
        max_retries=int(cfg_data["max_retries"]),
        retry_max_wait=float(cfg_data["retry_max_wait"]),
        prompts_dir=data["prompts_dir"],
        models={
            name: ModelAlias(
                name=name,
                model=a["model"],
                api_base=a.get("api_base"),
                api_key_env=a.get("api_key_env"),
                params=dict(a.get("params") or {}),
                fallbacks=list(a.get("fallbacks") or []),
                rpm=a.get("rpm"),
            )
            for name, a in cfg_data["models"].items()
        },
    )
    return Bundle(Path(path), data, cfg)


def check_bundle(data: Any, shown: str) -> list[Problem]:
    """Every problem of a bundle's data: its schema, then each prompt's version against its texts."""
    from promptctl.suite.schemacheck import Checker
    from promptctl.suite.yamlio import load_schema

    if (
        isinstance(data, dict)
        and data.get("format") == FORMAT
        and data.get("format_version") != FORMAT_VERSION
    ):
        return [
            Problem(
                shown,
                0,
                0,
                f"bundle format version {data.get('format_version')!r} is not supported by promptctl "
                f"{__version__} (it reads version {FORMAT_VERSION}); export it again with this promptctl",
            )
        ]
    problems = []
    for err in Checker(load_schema("bundle")).iter_errors(data):
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        problems.append(Problem(shown, 0, 0, f"{where}: {err.message}"))
    if problems:
        return problems
    for name, entry in data["prompts"].items():
        if version_id(entry["source"], entry["partials"]) != entry["version"]:
            problems.append(
                Problem(
                    shown,
                    0,
                    0,
                    f"$.prompts.{name}: its version does not match its texts (edited or damaged); "
                    "export the bundle again",
                )
            )
    return problems
