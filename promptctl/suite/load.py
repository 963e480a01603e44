"""Loading the suite: prompt and case files -> typed objects, with every problem located.

The loader never stops at the first problem: it collects them all so one ``promptctl lint`` shows
everything wrong in a repository. Files are read through a *source* (the worktree or a git
commit), so the same code loads the suite at any ref.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from promptctl.errors import InputError, Problem
from promptctl.git.sources import Source
from promptctl.paths import confined
from promptctl.suggest import suggest
from promptctl.suite.config import endpoint_param_problems
from promptctl.suite.datasets import dataset_rows
from promptctl.suite.examples import ExampleLibrary
from promptctl.suite.model import (
    Assertion,
    Case,
    CaseFile,
    Config,
    InputSpec,
    Loc,
    MessageSpec,
    Prompt,
    param_problems,
)
from promptctl.suite.yamlio import Doc, PathKey, check_schema, decode_problem, load_yaml

YAML_SUFFIXES = (".yaml", ".yml")
ASSERT_COMMON = {"type", "value", "threshold", "weight", "metric", "not", "transform"}


@dataclass
class Suite:
    """Everything loaded from one source: prompts by name, case files, and the problems found."""

    config: Config
    source: Source
    prompts: dict[str, Prompt] = field(default_factory=dict)
    case_files: list[CaseFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    partials: list[str] = field(default_factory=list)
    examples: ExampleLibrary = field(default_factory=ExampleLibrary)  # few-shot example sets
    # files that could not be loaded -> the prompt they are (prompt files) or are for (case
    # files, when their ``prompt:`` could still be read), else None
    broken_files: dict[str, str | None] = field(default_factory=dict)

    @property
    def cases(self) -> list[Case]:
        return [c for cf in self.case_files for c in cf.cases]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    def raise_for_errors(self) -> None:
        if self.errors:
            raise InputError(self.problems)

    def cases_for(self, prompt: str) -> list[Case]:
        return [c for c in self.cases if c.prompt == prompt]


def prompt_name(relpath: str, prompts_dir: str) -> str | None:
    """``prompts/support/triage.yaml`` -> ``support/triage``; None for ``_``-prefixed files/folders."""
    rel = posixpath.relpath(relpath, prompts_dir)
    parts = rel.split("/")
    if any(p.startswith("_") for p in parts):
        return None
    stem, ext = posixpath.splitext(rel)
    return stem if ext in YAML_SUFFIXES else None


def _read_doc(
    source: Source, relpath: str, schema: str, problems: list[Problem], raw: dict[str, Any] | None = None
) -> Doc | None:
    """The file's document when it is valid YAML matching ``schema``; else None, with its
    problems added (and ``raw[relpath]``: the data of a mapping that fails the schema)."""
    try:
        text = source.read_text(relpath)
    except UnicodeDecodeError as exc:
        problems.append(decode_problem(relpath, exc))
        return None
    except OSError as exc:
        problems.append(Problem(relpath, 0, 0, f"cannot read file: {exc.strerror or exc}"))
        return None
    return _parse_doc(text, relpath, schema, problems, raw)


def _parse_doc(
    text: str, relpath: str, schema: str, problems: list[Problem], raw: dict[str, Any] | None = None
) -> Doc | None:
    doc, errs = load_yaml(text, relpath)
    if errs:
        problems.extend(errs)
        return None
    if doc.data is None:
        problems.append(Problem(relpath, 1, 1, "file is empty"))
        return None
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "expected a mapping of keys at the top level"))
        return None
    errs = check_schema(doc, schema)
    if errs:
        problems.extend(errs)
        if raw is not None:
            raw[relpath] = doc.data
        return None
    return doc


# -- prompts ------------------------------------------------------------------------------------
def parse_prompt(doc: Doc, name: str, problems: list[Problem]) -> Prompt | None:
    data: dict[str, Any] = doc.data
    has_t, has_m = "template" in data, "messages" in data
    if has_t == has_m:
        which = "both" if has_t else "neither"
        problems.append(
            doc.problem(
                (), f"a prompt needs exactly one of 'template' or 'messages' (found {which})", of_key=True
            )
        )
        return None
    p = Prompt(
        name=name,
        path=doc.path,
        description=data.get("description", ""),
        model=data.get("model"),
        params=dict(data.get("params") or {}),
        tags=list(data.get("tags") or []),
        metadata=dict(data.get("metadata") or {}),
        loc=doc.loc(()),
        model_loc=doc.loc(("model",)),
    )
    problems.extend(endpoint_param_problems(doc, ("params",), p.params))
    for param, message in param_problems(p.params):
        problems.append(doc.problem(("params", param), f"params.{param}: {message}"))
    out = data.get("output") or {}
    p.output_format = out.get("format", "json" if "schema" in out else "text")
    p.output_schema = out.get("schema")
    if p.output_schema is not None:
        p.schema_loc = doc.loc(("output", "schema"))
    for iname, spec in (data.get("inputs") or {}).items():
        spec = spec or {}
        has_default = "default" in spec
        p.inputs[str(iname)] = InputSpec(
            name=str(iname),
            type=spec.get("type", "any"),
            required=spec.get("required", not has_default),
            default=spec.get("default"),
            has_default=has_default,
            description=spec.get("description", ""),
            loc=doc.loc(("inputs", str(iname)), of_key=True),
        )
        if has_default and spec.get("required") is True:
            problems.append(
                doc.problem(
                    ("inputs", iname, "required"),
                    f"input '{iname}' is required but has a default; drop one of them",
                    severity="warning",
                )
            )
    if has_t:
        p.template = data["template"]
        p.template_loc = doc.text_loc(("template",), 1)
    else:
        p.messages = []
        for i, m in enumerate(data["messages"]):
            key: PathKey = ("messages", i)
            if "placeholder" in m:
                if set(m) != {"placeholder"}:
                    problems.append(
                        doc.problem(
                            key,
                            "a placeholder item takes no 'role' or 'content': "
                            "the roles come from the variable's messages",
                        )
                    )
                    continue
                p.messages.append(
                    MessageSpec(role=None, content=None, placeholder=m["placeholder"], loc=doc.loc(key))
                )
                spec = p.inputs.get(m["placeholder"])
                if spec is not None and spec.type not in ("messages", "array", "any"):
                    problems.append(
                        doc.problem(
                            ("inputs", m["placeholder"], "type"),
                            f"input '{m['placeholder']}' feeds a placeholder: its type must be 'messages'",
                        )
                    )
                continue
            missing = [k for k in ("role", "content") if k not in m]
            if missing:
                problems.append(
                    doc.problem(
                        key, f"message {i} needs {' and '.join(missing)} (or is a {{placeholder: VAR}} item)"
                    )
                )
                continue
            p.messages.append(
                MessageSpec(role=m["role"], content=m["content"], loc=doc.text_loc((*key, "content"), 1))
            )
    return p


def parse_prompt_text(text: str, relpath: str, name: str) -> Prompt:
    """One prompt file's text -> a Prompt (for prompts outside the suite, such as the judge's);
    InputError with every problem located in ``relpath``."""
    problems: list[Problem] = []
    doc = _parse_doc(text, relpath, "prompt", problems)
    prompt = parse_prompt(doc, name, problems) if doc is not None else None
    if prompt is None or any(p.is_error for p in problems):
        raise InputError(problems)
    return prompt


# -- cases --------------------------------------------------------------------------------------
def parse_assertion(raw: Any, doc: Doc, key: PathKey, default_transform: list[str]) -> Assertion:
    loc = doc.loc(key)
    if isinstance(raw, str):
        return Assertion(type=raw, transform=list(default_transform), loc=loc, transform_inherited=True)
    transform = raw.get("transform", default_transform)
    return Assertion(
        transform_inherited="transform" not in raw,
        type=raw["type"],
        value=raw.get("value"),
        threshold=raw.get("threshold"),
        weight=float(raw.get("weight", 1.0)),
        metric=raw.get("metric"),
        negate=bool(raw.get("not", False)),
        transform=[transform] if isinstance(transform, str) else list(transform),
        options={k: v for k, v in raw.items() if k not in ASSERT_COMMON},
        loc=loc,
    )


def _join_confined(base_file: str, rel: str) -> str | None:
    """``rel`` relative to the directory of ``base_file``; None if it escapes the repository."""
    return confined(posixpath.join(posixpath.dirname(base_file), rel))


def _resolve_file_vars(
    source: Source, doc: Doc, key: PathKey, variables: dict[str, Any], problems: list[Problem]
) -> dict[str, Any]:
    out = {}
    for name, value in variables.items():
        if isinstance(value, dict) and set(value) == {"file"} and isinstance(value["file"], str):
            path = _join_confined(doc.path, value["file"])
            if path is None:
                problems.append(
                    doc.problem((*key, name, "file"), f"file '{value['file']}' is outside the repository")
                )
                out[name] = ""  # already reported: keep the variable so no "missing" error follows
                continue
            try:
                out[name] = source.read_text(path)
            except PermissionError as exc:
                problems.append(doc.problem((*key, name, "file"), f"file '{value['file']}': {exc}"))
                out[name] = ""
            except UnicodeDecodeError as exc:
                problems.append(decode_problem(path, exc))
                out[name] = ""
            except (OSError, KeyError):
                problems.append(
                    doc.problem((*key, name, "file"), f"file '{value['file']}' not found ({path})")
                )
                out[name] = ""
            continue
        out[name] = value
    return out


def _dataset_rows(
    source: Source, path: str, doc: Doc, problems: list[Problem]
) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = source.read_text(path)
    except PermissionError as exc:
        problems.append(doc.problem(("dataset",), f"dataset file '{doc.data['dataset']}': {exc}"))
        return []
    except UnicodeDecodeError as exc:
        problems.append(decode_problem(path, exc))
        return []
    except (OSError, KeyError):
        problems.append(doc.problem(("dataset",), f"dataset file '{doc.data['dataset']}' not found ({path})"))
        return []
    if not path.endswith((".jsonl", ".csv")):
        problems.append(doc.problem(("dataset",), "dataset must be a .jsonl or .csv file"))
        return []
    return dataset_rows(text, path, problems)


def parse_case_file(doc: Doc, source: Source, config: Config, problems: list[Problem]) -> CaseFile:
    data: dict[str, Any] = doc.data
    cf = CaseFile(
        path=doc.path,
        prompt=data["prompt"],
        models=data.get("models"),
        repeat=int(data.get("repeat", 1)),
        min_pass_rate=float(data.get("min_pass_rate", 1.0)),
        loc=doc.loc(()),
    )
    cf.model_locs = [doc.loc(("models", i)) for i in range(len(cf.models or []))]
    defaults = data.get("defaults") or {}
    d_transform = defaults.get("transform", [])
    if isinstance(d_transform, str):
        d_transform = [d_transform]
        cf.default_transform = [(d_transform[0], doc.loc(("defaults", "transform")))]
    else:
        d_transform = list(d_transform)
        cf.default_transform = [(t, doc.loc(("defaults", "transform", i))) for i, t in enumerate(d_transform)]
    d_vars = _resolve_file_vars(source, doc, ("defaults", "vars"), defaults.get("vars") or {}, problems)
    d_asserts = [
        parse_assertion(a, doc, ("defaults", "assert", i), d_transform)
        for i, a in enumerate(defaults.get("assert") or [])
    ]
    file_tags = list(data.get("tags") or []) + list(defaults.get("tags") or [])

    def make(raw: dict[str, Any], key: PathKey, fallback_id: str, loc: Loc) -> Case:
        own_vars = _resolve_file_vars(source, doc, (*key, "vars"), raw.get("vars") or {}, problems)
        return Case(
            id=str(raw["id"]) if raw.get("id") not in (None, "") else fallback_id,
            prompt=cf.prompt,
            file=doc.path,
            description=raw.get("description", ""),
            vars={**d_vars, **own_vars},
            expected=raw.get("expected"),
            asserts=d_asserts
            + [
                parse_assertion(a, doc, (*key, "assert", i), d_transform)
                for i, a in enumerate(raw.get("assert") or [])
            ],
            tags=file_tags + list(raw.get("tags") or []),
            metadata={**(defaults.get("metadata") or {}), **(raw.get("metadata") or {})},
            models=cf.models,
            repeat=int(raw.get("repeat", cf.repeat)),
            min_pass_rate=float(raw.get("min_pass_rate", cf.min_pass_rate)),
            loc=loc,
        )

    for i, raw in enumerate(data.get("cases") or []):
        cf.cases.append(make(raw, ("cases", i), f"case-{i + 1}", doc.loc(("cases", i))))
    if "dataset" in data:
        path = _join_confined(doc.path, data["dataset"])
        if path is None:
            problems.append(
                doc.problem(("dataset",), f"dataset '{data['dataset']}' is outside the repository")
            )
        else:
            stem = posixpath.splitext(posixpath.basename(path))[0]
            for line, row in _dataset_rows(source, path, doc, problems):
                raw = {
                    "id": row.pop("id", None),
                    "expected": row.pop("expected", None),
                    "description": row.pop("description", "") or "",
                }
                raw["vars"] = row
                cf.cases.append(make(raw, ("dataset",), f"{stem}-{line}", Loc(path, line, 1)))
    return cf


# -- the suite ----------------------------------------------------------------------------------
def load_suite(config: Config, source: Source, *, only: list[str] | None = None) -> Suite:
    """Load every prompt and case file (``only``: restrict case files to these paths/dirs)."""
    suite = Suite(config=config, source=source, problems=list(config.problems))
    if config.suite_unreadable:  # where the files are is what is wrong: nothing else to say
        return suite
    pdir, cdir = config.prompts_dir.rstrip("/"), config.cases_dir.rstrip("/")
    for rel in source.list_files(pdir, YAML_SUFFIXES):
        name = prompt_name(rel, pdir)
        if name is None or _skipped_name(rel, suite):
            continue
        doc = _read_doc(source, rel, "prompt", suite.problems)
        prompt = parse_prompt(doc, name, suite.problems) if doc is not None else None
        if prompt is None:
            suite.broken_files[rel] = name
        else:
            suite.prompts[name] = prompt
    suite.partials = [
        p for p in source.list_files(pdir, ()) if prompt_name(p, pdir) is None and "\\" not in p
    ]
    suite.examples = ExampleLibrary(source, config.examples_dir)
    texts = [p.template or "" for p in suite.prompts.values()]
    texts += [m.content or "" for p in suite.prompts.values() for m in p.messages or []]
    suite.problems.extend(suite.examples.preload(texts))
    seen: dict[tuple[str, str], Case] = {}
    for rel in source.list_files(cdir, YAML_SUFFIXES):
        parts = posixpath.relpath(rel, cdir).split("/")
        if parts[0] == "__recordings__" or any(p.startswith("_") for p in parts):
            continue
        if _skipped_name(rel, suite):
            continue
        if only and not any(rel == o or rel.startswith(o.rstrip("/") + "/") for o in only):
            continue
        raw: dict[str, Any] = {}
        doc = _read_doc(source, rel, "cases", suite.problems, raw)
        if doc is None:
            target = raw.get(rel, {}).get("prompt")
            suite.broken_files[rel] = target if isinstance(target, str) else None
            continue
        cf = parse_case_file(doc, source, config, suite.problems)
        if cf.prompt not in suite.prompts and not _prompt_file_exists(source, pdir, cf.prompt):
            suite.problems.append(
                doc.problem(
                    ("prompt",), f"unknown prompt '{cf.prompt}'{suggest(cf.prompt, sorted(suite.prompts))}"
                )
            )
        for case in cf.cases:
            first = seen.get((case.prompt, case.id))
            if first is not None:
                suite.problems.append(
                    Problem(
                        case.loc.path,
                        case.loc.line,
                        case.loc.col,
                        f"duplicate case id '{case.id}' for prompt '{case.prompt}' "
                        f"(first defined at {first.loc.path}:{first.loc.line})",
                    )
                )
            else:
                seen[(case.prompt, case.id)] = case
        suite.case_files.append(cf)
    return suite


def _skipped_name(relpath: str, suite: Suite) -> bool:
    """A file whose name holds a backslash is not read (a backslash separates folders on Windows,
    so the name would mean another file there): an error naming it, and the rest still loads."""
    if "\\" not in relpath:
        return False
    message = "not read: the file name contains a backslash (a folder separator on Windows); rename it"
    suite.problems.append(Problem(relpath, 0, 0, message))
    suite.broken_files[relpath] = None
    return True


def _prompt_file_exists(source: Source, pdir: str, name: str) -> bool:
    # A prompt that exists but failed to load is not "unknown": its own error is reported already.
    return any(source.exists(f"{pdir}/{name}{s}") for s in YAML_SUFFIXES)
