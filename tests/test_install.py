"""Installing promptctl: the distribution name, the dependency ranges and requirements.lock.

.ci/run installs the lock on every supported interpreter the machine has; these tests keep its
inputs in step (pyproject.toml's ranges and the lock, for each supported Python) and test the
check it relies on (scripts/check_lock.py) against this environment.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import promptctl

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
CHECK = ROOT / "scripts" / "check_lock.py"
DIST = "promptctl-git"
SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]


def project() -> dict[str, Any]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    out: dict[str, Any] = data["project"]
    return out


def direct_requirements() -> list[Requirement]:
    """The dependencies and the dev extra: what the quickstart installs."""
    meta = project()
    return [Requirement(d) for d in [*meta["dependencies"], *meta["optional-dependencies"]["dev"]]]


def lock_pins(python: str) -> dict[str, str]:
    """The lock's pins for one Python version (``X.Y``) on this platform."""
    env = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    pins: dict[str, str] = {}
    for line in LOCK.read_text("utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        spec, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(env):
            continue
        name, _, version = spec.strip().partition("==")
        assert version, f"requirements.lock: not a name==version pin: {line!r}"
        key = canonicalize_name(name)
        assert key not in pins, f"requirements.lock pins {name} twice for Python {python}"
        pins[key] = version
    return pins


def test_distribution_name_and_python_range() -> None:
    meta = project()
    assert meta["name"] == DIST  # "promptctl" on PyPI is an unrelated project
    requires = str(meta["requires-python"])
    assert all(Version(f"{v}.0") in Requirement(f"x{requires}").specifier for v in SUPPORTED)
    assert Version("3.9.18") not in Requirement(f"x{requires}").specifier


@pytest.mark.parametrize("python", SUPPORTED)
def test_lock_pins_every_direct_dependency_within_its_range(python: str) -> None:
    pins = lock_pins(python)
    env = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    for req in direct_requirements():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, (
            f"requirements.lock has no pin for {req.name} on Python {python}: run scripts/lock.sh"
        )
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]} on Python {python}, outside pyproject.toml's "
            f"{req}: run scripts/lock.sh"
        )


def test_litellm_and_typer_ranges() -> None:
    specs: dict[str, Any] = {canonicalize_name(r.name): r.specifier for r in direct_requirements()}
    litellm = specs["litellm"]
    assert "1.106.2" in litellm
    for bad in ("1.82.7", "1.82.8", "1.107.0", "1.106.1"):  # compromised, or untested
        assert bad not in litellm, bad
    typer = specs["typer"]
    assert "0.25.1" in typer
    assert "0.26.0" not in typer and "0.29.0" not in typer  # vendored click; slow start-up
    for python in SUPPORTED:
        assert lock_pins(python)["litellm"] == "1.106.2"


def test_version_comes_from_the_installed_distribution() -> None:
    assert metadata.version(DIST) == promptctl.__version__
    scripts = {ep.name: ep.value for ep in metadata.distribution(DIST).entry_points}
    assert scripts["promptctl"] == "promptctl.cli:main"
    exe = Path(sys.executable).with_name("promptctl")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"promptctl {metadata.version(DIST)}"


def test_readme_quickstart_and_ci_install_from_the_lock() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    quickstart = (
        "python3 -m venv .venv && .venv/bin/pip install -c requirements.lock -e '.[dev]' "
        "&& .venv/bin/promptctl test"
    )
    assert quickstart in readme
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert "-c requirements.lock -e '.[dev]'" in ci
    assert "\n.venv/bin/python -m pytest\n" in ci and "\n.venv/bin/python -m pytest\n" in readme
    supported = re.search(r'^SUPPORTED="([^"]*)"', ci, re.M)
    assert supported and supported.group(1).split() == SUPPORTED


# -- scripts/check_lock.py ---------------------------------------------------------------------------


def installed_pins() -> list[str]:
    """``name==version`` for every distribution promptctl-git[dev] needs here: a lock in step."""
    spec = importlib.util.spec_from_file_location("check_lock", CHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dists = module.installed()
    return sorted(f"{n}=={dists[n].version}" for n in module.dependency_tree(DIST, ["dev"], dists))


def run_check(lock: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), str(lock)], capture_output=True, text=True, check=False, cwd=ROOT
    )


def test_check_lock_accepts_an_environment_in_step(tmp_path: Path) -> None:
    lock = tmp_path / "in-step.lock"
    pins = installed_pins()
    assert any(p.startswith("jinja2==") for p in pins) and any(p.startswith("pytest==") for p in pins)
    # A pin for another interpreter or platform does not apply here.
    lock.write_text("# header\n" + "\n".join(pins) + "\nnot-here==1.0 ; python_version < '3'\n")
    out = run_check(lock)
    assert out.returncode == 0, out.stderr
    assert "the environment matches" in out.stdout


def test_check_lock_reports_every_difference(tmp_path: Path) -> None:
    pins = [p for p in installed_pins() if not p.startswith(("jinja2==", "pyyaml=="))]
    lock = tmp_path / "drifted.lock"
    lock.write_text("\n".join([*pins, "pyyaml==0.0.1", "not-installed==1.0", ""]))
    out = run_check(lock)
    assert out.returncode == 1
    jinja = metadata.version("jinja2")
    assert (
        f"jinja2 {jinja} is installed but {lock} does not pin it; refresh it with scripts/lock.sh"
        in out.stderr
    )
    assert f"pyyaml {metadata.version('pyyaml')} is installed but {lock} pins 0.0.1" in out.stderr
    assert f"{lock} pins not-installed==1.0 but nothing installs it here" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 3, out.stderr


def test_check_lock_rejects_a_file_that_is_not_a_lock(tmp_path: Path) -> None:
    lock = tmp_path / "ranges.lock"
    lock.write_text("# a comment\njinja2>=3\n")
    out = run_check(lock)
    assert out.returncode == 2
    assert f"{lock}:2: expected name==version, got 'jinja2>=3'" in out.stderr
    assert run_check(tmp_path / "missing.lock").returncode == 2
