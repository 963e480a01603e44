"""``promptctl init``: a starter project. Never overwrites a file; .gitignore only gains lines.

It writes the JSON Schemas into the project (``schemas/promptctl/``, tracked), so the
``$schema`` lines of the files it writes point at files every clone has; a sample prompt, its
case and a recording of its output (replayed by the first ``promptctl test``: no key, no
network), only into an empty prompts folder; and ``promptctl.yaml`` and the CI workflow.

The CI workflow it writes installs exactly the promptctl installed here (:func:`install_source`):
a release by its exact version, or a git URL at the installed commit (PEP 610 ``direct_url.json``).
When that cannot be told (an editable or local install, a local version), the workflow is still
written, with a marked empty ``PROMPTCTL_REQUIREMENT`` that fails the CI job with an explanation
until it is filled in, and ``init`` says so.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from promptctl.atomic import write_text_atomic

WORKFLOW = ".github/workflows/promptctl.yml"
CONFIG = "promptctl.yaml"
# The schemas, copied from the package into the project (a tracked folder: editors on a fresh
# clone find them; `.promptctl/` is git-ignored).
SCHEMA_DIR = "schemas/promptctl"
SCHEMAS = ("config", "prompt", "cases")
# The sample: (template under promptctl/templates/init/, folder, file name, schema or None).
SAMPLE = [
    ("summarize.yaml", "prompts", "summarize.yaml", "prompt"),
    ("summarize.cases.yaml", "cases", "summarize.yaml", "cases"),
    ("summarize.recording.yaml", "recordings", "summarize.yaml", None),
]
SAMPLE_MODEL = "gpt-4o-mini"  # the model the sample recording was made for (the config's default)
_SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=\S*\n", re.MULTILINE)
GITIGNORE_LINES = [
    "# promptctl: local cache and run records (records are shared via git notes)",
    ".promptctl/",
    ".env",
]

# The distribution promptctl is published as on PyPI (``promptctl`` there is an unrelated project),
# and the names this package has been installed under (the old one first used in source trees).
PUBLISHED_NAME = "promptctl-git"
KNOWN_NAMES = (PUBLISHED_NAME, "promptctl")
PACKAGE = "promptctl"
REQUIREMENT_KEY = "PROMPTCTL_REQUIREMENT"
# A released version as PyPI serves it: no local label (``+g1234``), which no index accepts.
_RELEASE = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def template_text(name: str) -> str:
    # One joinpath argument: Python 3.10's Traversable takes a single child.
    return resources.files("promptctl").joinpath(f"templates/init/{name}").read_text("utf-8")


def schema_text(name: str) -> str:
    """The JSON Schema of ``name`` (config, prompt, cases) as this promptctl ships it."""
    return resources.files("promptctl").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")


def with_schema_line(text: str, rel: str, schema: str) -> str:
    """``text`` starting with the editor line for ``schema``, relative to the file at ``rel``
    (the YAML language server resolves it from the file's own folder)."""
    target = posixpath.relpath(f"{SCHEMA_DIR}/{schema}.schema.json", posixpath.dirname(rel) or ".")
    if not target.startswith("."):
        target = "./" + target
    return f"# yaml-language-server: $schema={target}\n" + _SCHEMA_LINE.sub("", text, count=1)


def _folders(root: Path) -> tuple[str, str]:
    """The prompts and cases folders: an existing promptctl.yaml's, else the defaults."""
    import yaml

    dirs = {"prompts_dir": "prompts", "cases_dir": "cases"}
    try:
        data = yaml.safe_load((root / CONFIG).read_text("utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        data = None
    if isinstance(data, dict):
        for key in dirs:
            value = data.get(key)
            if isinstance(value, str) and value.strip() and ".." not in PurePosixPath(value).parts:
                dirs[key] = value.strip().strip("/")
    return dirs["prompts_dir"], dirs["cases_dir"]


def _has_files(folder: Path) -> bool:
    """Whether ``folder`` holds anything but hidden entries (``.gitkeep``)."""
    try:
        return any(not e.name.startswith(".") for e in folder.iterdir())
    except OSError:
        return False


@dataclass(frozen=True)
class InstallSource:
    """What CI must install to get the promptctl installed here.

    ``requirement`` is a pip requirement pinned to exactly this install, or None when it cannot
    be told; ``detail`` says where it came from (or why it cannot be pinned)."""

    requirement: str | None
    detail: str


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a == b or os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False


def _url_path(url: str) -> Path | None:
    parts = urlsplit(url)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None


def _direct_url(dist: metadata.Distribution) -> dict[str, object] | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("url"), str) else None


def _owns(dist: metadata.Distribution, module_file: Path) -> bool:
    """Whether ``dist`` installed ``module_file`` (promptctl's ``__init__.py``): listed in its
    RECORD, or under the directory an editable/local install points at."""
    marker = f"{PACKAGE}/__init__.py"
    for f in dist.files or ():
        if f.as_posix().endswith(marker) and _same_file(Path(str(dist.locate_file(f))), module_file):
            return True
    direct = _direct_url(dist)
    if direct is not None and "dir_info" in direct:
        src = _url_path(str(direct["url"]))
        if src is not None:
            try:
                Path(os.path.realpath(module_file)).relative_to(os.path.realpath(src))
                return True
            except ValueError:
                return False
    return False


def _provides_package(dist: metadata.Distribution) -> bool:
    name = _canonical(dist.metadata["Name"] or "")
    if name in KNOWN_NAMES:
        return True
    top = dist.read_text("top_level.txt") or ""
    return PACKAGE in top.split()


def find_distribution(module_file: Path, path: list[str] | None = None) -> metadata.Distribution | None:
    """The installed distribution that provides this ``promptctl`` module, whatever its name
    (``promptctl-git``, or ``promptctl`` in older source trees): the first on the search path
    (``sys.path`` by default) whose files or editable source contain ``module_file``. An installer's
    record (``.dist-info`` with RECORD) wins over a source tree's ``.egg-info``, which is no install."""
    dists: Iterable[metadata.Distribution] = (
        metadata.distributions(path=path) if path is not None else metadata.distributions()
    )
    owners = [d for d in dists if _provides_package(d) and _owns(d, module_file)]
    installed = [d for d in owners if d.read_text("RECORD") is not None]
    best = installed or owners
    return best[0] if best else None


def _archive_hash(direct: dict[str, object]) -> str | None:
    info = direct.get("archive_info")
    if not isinstance(info, dict):
        return None
    hashes = info.get("hashes")
    if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
        return f"sha256={hashes['sha256']}"
    legacy = info.get("hash")
    return legacy if isinstance(legacy, str) and "=" in legacy else None


def _from_direct_url(name: str, version: str, direct: dict[str, object]) -> InstallSource:
    url = str(direct["url"])
    local = _url_path(url)
    subdir = direct.get("subdirectory")
    fragment = f"subdirectory={subdir}" if isinstance(subdir, str) and subdir else ""
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict):
        commit = vcs.get("commit_id")
        kind = vcs.get("vcs")
        if local is not None:
            return InstallSource(None, f"{name} {version} was installed from the local repository {local}")
        if not isinstance(commit, str) or not isinstance(kind, str):
            return InstallSource(None, f"{name} {version} was installed from {url} at an unknown commit")
        req = f"{name} @ {kind}+{url}@{commit}" + (f"#{fragment}" if fragment else "")
        return InstallSource(req, f"{name} {version} installed from {url} at commit {commit}")
    if "archive_info" in direct:
        if local is not None:
            return InstallSource(None, f"{name} {version} was installed from the local file {local}")
        digest = _archive_hash(direct)
        frags = "&".join(f for f in (digest, fragment) if f)
        return InstallSource(
            f"{name} @ {url}" + (f"#{frags}" if frags else ""), f"{name} {version} from {url}"
        )
    info = direct.get("dir_info")
    how = "an editable install of" if isinstance(info, dict) and info.get("editable") else "installed from"
    return InstallSource(None, f"{name} {version} here is {how} the directory {local or url}")


def install_source(module_file: Path | None = None, path: list[str] | None = None) -> InstallSource:
    """How CI can install exactly the promptctl that runs here (``module_file`` defaults to this
    package's ``__init__.py``, ``path`` to ``sys.path``)."""
    if module_file is None:
        module_file = Path(__file__).with_name("__init__.py")  # the package's, not imported: it is above us
    dist = find_distribution(module_file, path)
    if dist is None:
        return InstallSource(
            None, f"promptctl runs from {module_file.parent} without an installed distribution"
        )
    name = dist.metadata["Name"] or PUBLISHED_NAME
    version = dist.version
    direct = _direct_url(dist)
    if direct is not None:
        return _from_direct_url(name, version, direct)
    if _canonical(name) != PUBLISHED_NAME:
        return InstallSource(
            None,
            f"{name} {version} is installed under a name that is not promptctl's on PyPI "
            f"(`{name}` there may be another project; promptctl is `{PUBLISHED_NAME}`)",
        )
    if not _RELEASE.match(version):
        return InstallSource(None, f"{name} {version} is a local build, not a release on PyPI")
    return InstallSource(f"{PUBLISHED_NAME}=={version}", f"{name} {version} (a release)")


def workflow_text(source: InstallSource) -> tuple[str, int]:
    """The workflow ``init`` writes for ``source``, and the line number of its requirement."""
    lines = template_text("workflow.yml").splitlines(keepends=True)
    key = f"  {REQUIREMENT_KEY}:"
    hits = [i for i, line in enumerate(lines) if line.startswith(key)]
    if len(hits) != 1:  # pragma: no cover - a broken template is caught by the tests
        raise RuntimeError(f"workflow template: expected one {REQUIREMENT_KEY} line, found {len(hits)}")
    req = source.requirement
    if req is not None and "${{" not in req:
        lines[hits[0]] = f"{key} {json.dumps(req)}\n"
    else:
        example = json.dumps(f"{PUBLISHED_NAME}==X.Y.Z")
        detail = " ".join(source.detail.split())
        lines[hits[0]] = f'{key} ""  # FILL IN, e.g. {example}: {detail}\n'
    return "".join(lines), hits[0] + 1


def _write_new(root: Path, rel: str, text: str, actions: list[tuple[str, str]]) -> bool:
    if (root / rel).exists():
        actions.append(("exists", rel))
        return False
    write_text_atomic(root / rel, text)
    actions.append(("created", rel))
    return True


def _schemas(root: Path, actions: list[tuple[str, str]]) -> None:
    from promptctl.version import __version__

    for name in SCHEMAS:
        rel = f"{SCHEMA_DIR}/{name}.schema.json"
        text = schema_text(name)
        try:
            current = (root / rel).read_text("utf-8")
        except OSError:
            current = None
        if current is None or current == text:
            _write_new(root, rel, text, actions)
        else:
            actions.append(
                (
                    "outdated",
                    f"{rel}: differs from the schema of promptctl {__version__} (editors may flag "
                    "valid keys); delete it and run `promptctl init` again to refresh it",
                )
            )


def _sample(root: Path, actions: list[tuple[str, str]]) -> None:
    prompts_dir, cases_dir = _folders(root)
    if _has_files(root / prompts_dir):
        actions.append(
            (
                "skipped",
                f"{prompts_dir}/summarize.yaml: {prompts_dir}/ already holds files; the sample prompt, "
                "its case and recording are only added to an empty folder",
            )
        )
        return
    folders = {"prompts": prompts_dir, "cases": cases_dir, "recordings": f"{cases_dir}/__recordings__"}
    for tpl, folder, name, schema in SAMPLE:
        rel = f"{folders[folder]}/{name}"
        text = template_text(tpl)
        if schema is not None:
            text = with_schema_line(text, rel, schema)
        else:  # the recording names its case file
            text = text.replace("cases/summarize.yaml", f"{cases_dir}/summarize.yaml")
        _write_new(root, rel, text, actions)


def _workflow(root: Path, source: InstallSource | None, actions: list[tuple[str, str]]) -> None:
    rel = WORKFLOW
    if (root / rel).exists():
        actions.append(("exists", rel))
        return
    source = source or install_source()
    text, line = workflow_text(source)
    write_text_atomic(root / rel, text)
    actions.append(("created", rel))
    if source.requirement is not None:
        actions.append(("pinned", f"{rel}: CI installs {source.requirement}"))
    else:
        actions.append(
            (
                "todo",
                f"{rel}:{line}: set {REQUIREMENT_KEY} to the exact promptctl CI must install "
                f'(e.g. "{PUBLISHED_NAME}==X.Y.Z" or "{PUBLISHED_NAME} @ git+https://…@COMMIT"); '
                f"the job fails until then. Found: {source.detail}.",
            )
        )


def scaffold(root: Path, source: InstallSource | None = None) -> list[tuple[str, str]]:
    """Create the starter files under ``root``; returns (action, message) for each file considered
    (``created``, ``exists``, ``skipped``, ``outdated``), plus ``pinned`` / ``todo`` for what the
    workflow installs. ``source`` defaults to :func:`install_source`."""
    actions: list[tuple[str, str]] = []
    _write_new(root, CONFIG, with_schema_line(template_text("promptctl.yaml"), CONFIG, "config"), actions)
    _schemas(root, actions)
    _sample(root, actions)
    _workflow(root, source, actions)
    gi = root / ".gitignore"
    existing = gi.read_text("utf-8").splitlines() if gi.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in existing]
    if missing and any(not line.startswith("#") for line in missing):
        text = "\n".join(existing)
        if text and not text.endswith("\n"):
            text += "\n"
        write_text_atomic(gi, text + "\n".join(missing) + "\n")
        actions.append(("updated" if existing else "created", ".gitignore"))
    else:
        actions.append(("exists", ".gitignore"))
    return actions


def next_steps(actions: list[tuple[str, str]]) -> list[str]:
    """What to do after ``init``: the first test, the loop of editing and recording, a key."""
    created = [msg for act, msg in actions if act == "created"]
    recording = next((m for m in created if m.endswith("__recordings__/summarize.yaml")), None)
    prompt = next((m for m in created if m.endswith("summarize.yaml") and m != recording), None)
    lines = ["next steps:"]
    if recording is not None and prompt is not None:
        lines += [
            "  promptctl test            run the sample case: its output is replayed from",
            f"                            {recording} (a hand-written sample: no key, no network)",
            f"  then edit {prompt}: the recording no longer matches the request, so the",
            "  next run calls the model, which needs a key:",
        ]
    else:
        lines += [
            "  promptctl lint            check your prompt and case files",
            "  promptctl test            run your cases; a model call needs a key:",
        ]
    lines += [
        "  export OPENAI_API_KEY=sk-...   for gpt-4o-mini, the default model (ANTHROPIC_API_KEY, ...",
        "                            for other providers), or that line in .env (git-ignored)",
        "  promptctl test --record   call the model and write its real outputs into",
        "                            __recordings__/ next to the cases; commit them: CI and",
        "                            reviewers replay them without a key",
    ]
    return lines
