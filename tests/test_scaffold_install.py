"""What the workflow ``promptctl init`` writes installs: exactly the promptctl installed here, told
from the installed distribution's metadata (PEP 610 ``direct_url.json``), never a bare name.

Each case builds a real site directory (a ``promptctl`` package and its ``.dist-info`` as pip
writes them) and asks :func:`install_source` about it, as ``init`` asks about ``sys.path``; the
last tests run ``promptctl init`` in a separate interpreter whose ``promptctl`` is such an install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptctl.scaffold import InstallSource, install_source, scaffold
from tests.test_workflow import lint_workflow

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def site(
    root: Path,
    name: str = "promptctl-git",
    version: str = "1.2.3",
    direct_url: dict[str, Any] | None = None,
    *,
    record_package: bool = True,
) -> Path:
    """A site directory holding a ``promptctl`` package installed as ``name`` ``version``."""
    root.mkdir(parents=True, exist_ok=True)
    pkg = root / "promptctl"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "top_level.txt").write_text("promptctl\n")
    files = ["promptctl/__init__.py,,"] if record_package else []
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
        files.append(f"{info.name}/direct_url.json,,")
    files += [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(files) + "\n")
    return root


def ask(root: Path) -> InstallSource:
    return install_source(root / "promptctl/__init__.py", path=[str(root)])


def test_a_release_from_an_index_is_pinned_by_version(tmp_path: Path) -> None:
    src = ask(site(tmp_path / "s"))
    assert src.requirement == "promptctl-git==1.2.3"


@pytest.mark.parametrize("version", ["2.0.0rc1", "1.0.post2", "1.1.dev3"])
def test_pre_and_post_releases_are_releases_too(tmp_path: Path, version: str) -> None:
    assert ask(site(tmp_path / "s", version=version)).requirement == f"promptctl-git=={version}"


def test_a_git_install_is_pinned_to_its_commit(tmp_path: Path) -> None:
    direct = {
        "url": "https://github.com/acme/promptctl.git",
        "vcs_info": {"vcs": "git", "commit_id": COMMIT, "requested_revision": "main"},
    }
    src = ask(site(tmp_path / "s", direct_url=direct))
    assert src.requirement == f"promptctl-git @ git+https://github.com/acme/promptctl.git@{COMMIT}"
    assert COMMIT in src.detail


def test_a_git_install_of_a_subdirectory_keeps_it(tmp_path: Path) -> None:
    direct = {
        "url": "https://example.org/mono.git",
        "vcs_info": {"vcs": "git", "commit_id": COMMIT},
        "subdirectory": "tools/promptctl",
    }
    src = ask(site(tmp_path / "s", direct_url=direct))
    assert (
        src.requirement
        == f"promptctl-git @ git+https://example.org/mono.git@{COMMIT}#subdirectory=tools/promptctl"
    )


def test_a_git_install_under_the_old_name_keeps_that_name(tmp_path: Path) -> None:
    direct = {"url": "https://github.com/acme/promptctl", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}
    src = ask(site(tmp_path / "s", name="promptctl", version="0.1.0", direct_url=direct))
    # pip checks the name against the commit's metadata, so it must be the one that commit declares
    assert src.requirement == f"promptctl @ git+https://github.com/acme/promptctl@{COMMIT}"


def test_a_remote_archive_keeps_its_hash(tmp_path: Path) -> None:
    url = "https://files.example.org/promptctl_git-1.2.3-py3-none-any.whl"
    direct = {"url": url, "archive_info": {"hashes": {"sha256": "ab" * 32}}}
    src = ask(site(tmp_path / "s", direct_url=direct))
    assert src.requirement == f"promptctl-git @ {url}#sha256={'ab' * 32}"


@pytest.mark.parametrize(
    ("direct", "expected"),
    [
        ({"url": "file:///home/me/promptctl", "dir_info": {"editable": True}}, "an editable install of"),
        ({"url": "file:///home/me/promptctl", "dir_info": {}}, "installed from the directory"),
        ({"url": "file:///tmp/promptctl_git-1.2.3-py3-none-any.whl", "archive_info": {}}, "the local file"),
        (
            {"url": "file:///home/me/promptctl", "vcs_info": {"vcs": "git", "commit_id": COMMIT}},
            "local repository",
        ),
        ({"url": "https://github.com/acme/promptctl", "vcs_info": {"vcs": "git"}}, "at an unknown commit"),
    ],
)
def test_what_ci_cannot_reinstall_is_left_to_fill_in(
    tmp_path: Path, direct: dict[str, Any], expected: str
) -> None:
    root = site(
        tmp_path / "s", direct_url=direct, record_package="dir_info" not in direct or not direct["dir_info"]
    )
    if direct.get("dir_info", {}).get("editable"):
        # an editable install lists no package files: it owns the module through its source dir
        src_dir = tmp_path / "home-me-promptctl"
        shutil.move(str(root / "promptctl"), src_dir / "promptctl")
        direct = {**direct, "url": src_dir.as_uri()}
        info = next(root.glob("*.dist-info"))
        (info / "direct_url.json").write_text(json.dumps(direct))
        src = install_source(src_dir / "promptctl/__init__.py", path=[str(root)])
    else:
        src = ask(root)
    assert src.requirement is None
    assert expected in src.detail


def test_a_local_version_is_no_release(tmp_path: Path) -> None:
    src = ask(site(tmp_path / "s", version="1.2.3+g0123abc"))
    assert src.requirement is None and "local build" in src.detail


def test_the_old_name_from_an_index_is_never_installed_by_name(tmp_path: Path) -> None:
    """`promptctl` on PyPI is an unrelated project: never `pip install promptctl==…`."""
    src = ask(site(tmp_path / "s", name="promptctl", version="0.1.0"))
    assert src.requirement is None
    assert "`promptctl` there may be another project" in src.detail


def test_no_distribution_owns_the_module(tmp_path: Path) -> None:
    root = site(tmp_path / "s")
    other = tmp_path / "elsewhere/promptctl/__init__.py"
    other.parent.mkdir(parents=True)
    other.write_text("")
    src = install_source(other, path=[str(root)])
    assert src.requirement is None and "without an installed distribution" in src.detail


def test_the_distribution_is_found_by_the_module_not_the_name(tmp_path: Path) -> None:
    """A distribution under any name that installed this very module file is the one; a
    `promptctl-git` that installed another copy elsewhere is not."""
    mine = site(tmp_path / "mine", name="promptctl-renamed", version="3.0.0")
    theirs = site(tmp_path / "theirs", name="promptctl-git", version="9.9.9")
    src = install_source(mine / "promptctl/__init__.py", path=[str(theirs), str(mine)])
    assert src.requirement is None and "promptctl-renamed 3.0.0" in src.detail
    src = install_source(theirs / "promptctl/__init__.py", path=[str(mine), str(theirs)])
    assert src.requirement == "promptctl-git==9.9.9"


def test_an_installed_record_wins_over_a_source_trees_egg_info(tmp_path: Path) -> None:
    """`pip install -e .` leaves `promptctl.egg-info` in the source tree, which is on sys.path
    first when promptctl runs from there: the editable install in site-packages is the answer."""
    src = tmp_path / "src"
    (src / "promptctl").mkdir(parents=True)
    (src / "promptctl/__init__.py").write_text("")
    egg = src / "promptctl.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: promptctl-git\nVersion: 1.2.3\n")
    (egg / "SOURCES.txt").write_text("promptctl/__init__.py\n")
    (egg / "top_level.txt").write_text("promptctl\n")
    root = site(tmp_path / "site", direct_url={"url": src.as_uri(), "dir_info": {"editable": True}})
    shutil.rmtree(root / "promptctl")
    got = install_source(src / "promptctl/__init__.py", path=[str(src), str(root)])
    assert got.requirement is None  # the egg-info alone would have passed for a 1.2.3 release
    assert f"an editable install of the directory {src}" in got.detail


# -- scaffold and `promptctl init` --------------------------------------------------------------
def test_scaffold_pins_the_workflow_and_says_so(tmp_path: Path) -> None:
    actions = scaffold(tmp_path, InstallSource("promptctl-git==1.2.3", "a release"))
    assert ("pinned", ".github/workflows/promptctl.yml: CI installs promptctl-git==1.2.3") in actions
    wf = yaml.safe_load((tmp_path / ".github/workflows/promptctl.yml").read_text())
    assert wf["env"] == {"PROMPTCTL_REQUIREMENT": "promptctl-git==1.2.3"}


def test_scaffold_marks_the_line_to_fill_in(tmp_path: Path) -> None:
    actions = scaffold(
        tmp_path, InstallSource(None, "promptctl 0.1.0 here is an editable install of the directory /src")
    )
    todo = [msg for act, msg in actions if act == "todo"]
    assert len(todo) == 1
    where, _, message = todo[0].partition(": ")
    path, line = where.split(":")
    text = (tmp_path / path).read_text().splitlines()[int(line) - 1]
    assert text.startswith('  PROMPTCTL_REQUIREMENT: ""  # FILL IN, e.g. "promptctl-git==X.Y.Z"')
    assert "the job fails until then" in message and "editable install of the directory /src" in message


def test_scaffold_never_overwrites_a_workflow(tmp_path: Path) -> None:
    wf = tmp_path / ".github/workflows/promptctl.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text("mine\n")
    actions = scaffold(tmp_path, InstallSource(None, "x"))
    assert ("exists", ".github/workflows/promptctl.yml") in actions
    assert not [a for a, _ in actions if a in ("todo", "pinned")]
    assert wf.read_text() == "mine\n"


def init_with(tmp_path: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """`promptctl init` in a fresh interpreter whose `promptctl` is the copy installed in ``root``."""
    shutil.rmtree(root / "promptctl")
    shutil.copytree(
        Path(__file__).resolve().parent.parent / "promptctl",
        root / "promptctl",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    project = tmp_path / "project"
    project.mkdir()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import promptctl;"
        "assert promptctl.__file__.startswith(sys.argv[1]), promptctl.__file__;"
        "from promptctl.cli import main; main(['init'])"
    )
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    return subprocess.run(
        [sys.executable, "-c", code, str(root)],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_init_pins_what_is_installed_and_the_result_lints_clean(tmp_path: Path) -> None:
    direct = {"url": "https://github.com/acme/promptctl.git", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}
    proc = init_with(tmp_path, site(tmp_path / "site", direct_url=direct))
    assert proc.returncode == 0, proc.stderr
    requirement = f"promptctl-git @ git+https://github.com/acme/promptctl.git@{COMMIT}"
    assert f"pinned  .github/workflows/promptctl.yml: CI installs {requirement}" in proc.stdout
    written = tmp_path / "project/.github/workflows/promptctl.yml"
    assert yaml.safe_load(written.read_text())["env"] == {"PROMPTCTL_REQUIREMENT": requirement}
    lint_workflow(written)


def test_init_with_an_unknown_install_writes_the_workflow_and_says_what_to_fill_in(tmp_path: Path) -> None:
    proc = init_with(tmp_path, site(tmp_path / "site", version="0.2.0+local"))
    assert proc.returncode == 0, proc.stderr
    assert "todo  .github/workflows/promptctl.yml:" in proc.stdout
    assert "promptctl-git 0.2.0+local is a local build, not a release on PyPI" in proc.stdout
    written = tmp_path / "project/.github/workflows/promptctl.yml"
    assert yaml.safe_load(written.read_text())["env"] == {"PROMPTCTL_REQUIREMENT": ""}
    lint_workflow(written)
