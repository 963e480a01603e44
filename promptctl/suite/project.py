"""Opening a project: configuration + a file source (worktree or a git ref) + the loaded suite.

Every verb starts here, so ``--ref`` works the same everywhere: the config, prompts, partials,
cases and datasets are all read from the same commit's objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from promptctl.errors import InputError
from promptctl.git.sources import Source
from promptctl.suite.config import CONFIG_NAME, endpoint_changes, load_config, untrusted_message
from promptctl.suite.load import Suite, load_suite
from promptctl.suite.model import Config

if TYPE_CHECKING:
    from promptctl.suite.lint import AssertionLinter, ModelCheck


@dataclass
class Project:
    config: Config
    source: Source
    ref: str | None = None

    @property
    def root(self) -> Path:
        return Path(self.config.root)

    def load(self, *, only: list[str] | None = None) -> Suite:
        return load_suite(self.config, self.source, only=only)


def open_project(cwd: Path | None = None, ref: str | None = None, *, trust_config: bool = False) -> Project:
    """The project around ``cwd``; with ``ref``, its files as of that git revision.

    A revision's promptctl.yaml that sends keys elsewhere than the worktree's (another
    ``api_base`` or ``api_key_env`` for an alias) gets ``config.untrusted`` set, so the runner
    refuses its live calls, unless ``trust_config`` (``--trust-ref-config``) says the user read it.
    """
    from promptctl.git.sources import GitSource, WorktreeSource

    if ref is None:
        config = load_config(cwd)
        return Project(config=config, source=WorktreeSource(Path(config.root)))
    base = load_config(cwd)  # finds the root (and .env) from the worktree
    root = Path(base.root)
    source = GitSource(root, ref)
    text = source.read_text(CONFIG_NAME) if source.exists(CONFIG_NAME) else None
    config = load_config(cwd, text_override=text) if text is not None else type(base)(root=str(root))
    config.redact = base.redact  # the worktree's redaction, whatever the revision says
    changes = endpoint_changes(base, config)
    if changes and not trust_config:
        config.untrusted = untrusted_message(source.label, changes)
    return Project(config=config, source=source, ref=ref)


def load_checked(
    project: Project,
    lint_assertion: AssertionLinter,
    *,
    only: list[str] | None = None,
    trial_render: bool = True,
    check_model: ModelCheck | None = None,
) -> Suite:
    """Load the suite and run every lint check; raise InputError (exit 2) on any error."""
    from promptctl.suite.lint import check_suite

    suite = project.load(only=only)
    problems = check_suite(suite, lint_assertion, trial_render=trial_render, check_model=check_model)
    if any(p.is_error for p in problems):
        raise InputError(problems)
    suite.problems = problems
    return suite
