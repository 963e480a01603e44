"""The version of promptctl, in a module of its own: every layer may import it, and importing it
costs nothing (the package face, ``promptctl/__init__.py``, sits at the top of the layers)."""

from __future__ import annotations

import os
import sys

__version__ = "0.1.0"


def _norm_dist(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def installed_version(name: str) -> str | None:
    """The version of an installed distribution, as ``importlib.metadata.version`` finds it.

    Read from the ``<name>-<version>.dist-info`` directory name on ``sys.path`` (one directory
    listing per entry): importing importlib.metadata and parsing the METADATA file cost ~50 ms,
    a tenth of a whole cached rerun. Falls back to importlib.metadata when no such folder exists
    (eggs, zips, unusual installs)."""
    wanted = _norm_dist(name)
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for n in names:
            if n.endswith(".dist-info"):
                dist, _, version = n[: -len(".dist-info")].rpartition("-")
                if version and _norm_dist(dist) == wanted:
                    return version
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as metadata_version

    try:
        return metadata_version(name)
    except PackageNotFoundError:
        return None
