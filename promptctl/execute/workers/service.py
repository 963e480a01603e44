"""Where warm model workers live, which ones a process may use, and how they are started.

* **Settings** (:func:`resolve_settings`): ``PROMPTCTL_WORKERS`` (0 = every call in this process,
  N = up to N workers), else ``workers:`` in promptctl.yaml, else off when ``CI`` is set (a CI job
  runs once: a worker would only outlive it), else one per CPU, at most :data:`DEFAULT_MAX`.
  ``PROMPTCTL_WORKER_IDLE_TIMEOUT`` / ``worker_idle_timeout:`` say how long an idle worker waits
  for the next run (default 10 minutes).
* **The directory** (:func:`worker_dir`): ``$XDG_RUNTIME_DIR/promptctl``, else
  ``<tmp>/promptctl-<uid>``, or ``PROMPTCTL_WORKER_DIR``. It must be a real directory (not a
  symlink) owned by this user with mode 0700, or no worker is used: another user who created it
  first (a squatter in /tmp) gets nothing but a fallback to in-process calls.
* **The key** (:func:`service_key`): a hash of what makes a worker's answers equal to this
  process's own: promptctl's version, directory and code (size and mtime of every module a worker
  runs), litellm's version, the Python executable, and the environment that changes how requests
  leave the machine (proxies, CA bundles, litellm's own settings). Each key has its own sockets, so
  two checkouts, venvs or versions never share a worker, and a worker never runs stale code.
* **Spawning** (:func:`spawn`): ``python -I`` (no PYTHON* variables, no user site, no working
  directory on ``sys.path``: a ``litellm.py`` in the repository under test is never imported),
  working directory the private worker directory, a new session (a terminal's Ctrl-C is for the
  run, not the worker), stdio to /dev/null, and an environment with no key in it
  (:func:`worker_env`): keys travel with each request.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from promptctl.execute.workers.protocol import VERSION
from promptctl.jsonutil import canonical_json
from promptctl.version import __version__, installed_version

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX",
    "ENV_DIR",
    "ENV_IDLE",
    "ENV_WORKERS",
    "WorkerSettings",
    "WorkersUnavailable",
    "lock_path",
    "resolve_settings",
    "service_key",
    "socket_path",
    "spawn",
    "worker_dir",
    "worker_env",
]

ENV_WORKERS = "PROMPTCTL_WORKERS"
ENV_IDLE = "PROMPTCTL_WORKER_IDLE_TIMEOUT"
ENV_DIR = "PROMPTCTL_WORKER_DIR"
DEFAULT_MAX = 4
DEFAULT_IDLE_TIMEOUT = 600.0
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS

PACKAGE = Path(__file__).resolve().parents[2]  # .../promptctl

# Variables that change how a request leaves the machine or how litellm behaves: part of a
# worker's key, and the only ones (with the basics below) a worker's environment holds.
_KEYED_NAMES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "AIOHTTP_TRUST_ENV",
    "DISABLE_AIOHTTP_TRANSPORT",
    "HF_HUB_OFFLINE",
    "TOKENIZERS_PARALLELISM",
    "EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER",
)
_KEYED_PREFIXES = ("LITELLM_",)
_BASIC_NAMES = ("PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR")
_CREDENTIAL_HINTS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")


class WorkersUnavailable(Exception):
    """No warm worker can be used here (the message says why); calls run in this process."""


@dataclass(frozen=True)
class WorkerSettings:
    """How many warm workers a process may use (0: none) and how long they wait when idle."""

    processes: int
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    why_off: str | None = None  # when processes == 0: which setting turned them off

    @property
    def enabled(self) -> bool:
        return self.processes > 0


def _env_number(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def resolve_settings(
    configured: int | None = None, idle_timeout: float | None = None, requested: int | None = None
) -> WorkerSettings:
    """The settings in force: ``requested`` (an API caller's choice) wins, then
    ``PROMPTCTL_WORKERS``, then ``configured`` (promptctl.yaml's ``workers``), then off under CI,
    else one per CPU up to :data:`DEFAULT_MAX`."""
    idle = _env_number(ENV_IDLE)
    idle = idle if idle is not None and idle > 0 else (idle_timeout or DEFAULT_IDLE_TIMEOUT)
    env = _env_number(ENV_WORKERS)
    if requested is not None:
        n, source = requested, "the caller"
    elif env is not None:
        n, source = int(env), f"{ENV_WORKERS}={os.environ[ENV_WORKERS].strip()}"
    elif configured is not None:
        n, source = configured, f"workers: {configured} in promptctl.yaml"
    elif _ci():
        return WorkerSettings(0, idle, f"CI is set (set {ENV_WORKERS}=N to use warm workers there)")
    else:
        n, source = max(1, min(os.cpu_count() or 1, DEFAULT_MAX)), ""
    n = max(0, n)
    return WorkerSettings(n, idle, None if n else f"{source} turns warm workers off")


# -- the private directory ------------------------------------------------------------------------
def _default_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        try:
            st = os.lstat(runtime)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
            return Path(runtime) / "promptctl"
    return Path(tempfile.gettempdir()) / f"promptctl-{os.getuid()}"


def worker_dir(create: bool = True) -> Path:
    """The private directory of this user's workers, created 0700 if missing and checked: a
    directory of our own (not a symlink), nobody else's permission bits. Raises
    :class:`WorkersUnavailable` otherwise."""
    override = os.environ.get(ENV_DIR, "").strip()
    path = Path(override) if override else _default_dir()
    if create:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700, parents=False)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if create:
            raise WorkersUnavailable(f"cannot create the worker directory {path}") from None
        return path
    except OSError as exc:
        raise WorkersUnavailable(f"cannot use the worker directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise WorkersUnavailable(f"{path} is not a directory (a symlink or a file is refused)")
    if st.st_uid != os.getuid():
        raise WorkersUnavailable(f"{path} belongs to another user (uid {st.st_uid}); refusing to use it")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # ours, but opened up: close it again before anything goes in
    return path


def socket_path(directory: Path, key: str, index: int) -> Path:
    path = directory / f"w-{key}-{index}.sock"
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise WorkersUnavailable(
            f"the worker socket path {path} is too long for a Unix socket; "
            f"set {ENV_DIR} to a shorter directory"
        )
    return path


def lock_path(directory: Path, key: str, index: int) -> Path:
    return directory / f"w-{key}-{index}.lock"


# -- the key ----------------------------------------------------------------------------------------
def _code_stamp() -> list[tuple[str, int, int]]:
    """Size and mtime of every module a worker runs: its package (``execute/``) and the ground floor
    it imports. Editing any of them gives a new key, hence a fresh worker."""
    files = sorted([*PACKAGE.glob("*.py"), *(PACKAGE / "execute").rglob("*.py")])
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((str(f.relative_to(PACKAGE)), st.st_size, st.st_mtime_ns))
    return out


def _keyed_env() -> dict[str, str]:
    """The keyed variables as litellm will see them: with the defaults the model layer sets
    before importing it (so a process that imported litellm itself keeps the same key)."""
    from promptctl.execute import llm

    env = {**llm.LITELLM_ENV, **os.environ, **getattr(llm, "LITELLM_FORCED_ENV", {})}
    return {
        k: v
        for k, v in env.items()
        if (k in _KEYED_NAMES or k.startswith(_KEYED_PREFIXES))
        and not any(h in k.upper() for h in _CREDENTIAL_HINTS)
    }


def service_key() -> str:
    """16 hex digits naming the workers this process may use (see the module's docstring)."""
    parts = {
        "protocol": VERSION,
        "promptctl": __version__,
        "package": str(PACKAGE),
        "code": _code_stamp(),
        "litellm": installed_version("litellm"),
        "python": [sys.executable, sys.prefix, sys.version],
        "env": _keyed_env(),
    }
    return hashlib.sha256(canonical_json(parts).encode("utf-8")).hexdigest()[:16]


def worker_env() -> dict[str, str]:
    """A worker's whole environment: the basics and the keyed variables. No provider key, no
    endpoint variable, nothing else of the caller's."""
    env = {k: os.environ[k] for k in _BASIC_NAMES if k in os.environ}
    env.update(_keyed_env())
    return env


# -- spawning ----------------------------------------------------------------------------------------
# ``python -I``: only promptctl's own parent directory (argv[1]) goes on sys.path.
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from promptctl.execute.workers.server import main; main(sys.argv[2:])"
)


def spawn(directory: Path, key: str, index: int, idle_timeout: float) -> subprocess.Popen[bytes]:
    """Start worker ``index`` of ``key`` in the background; returns at once (the worker binds its
    socket within a fraction of a second, then imports litellm). A worker that finds its slot
    taken (another process started it first) exits quietly."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-I",
            "-c",
            _BOOT,
            str(PACKAGE.parent),
            str(directory),
            key,
            str(index),
            repr(float(idle_timeout)),
        ],
        cwd=directory,
        env=worker_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    # Reap it whenever it exits (it outlives most runs; a long-lived caller, watch mode, must not
    # collect zombies).
    threading.Thread(target=proc.wait, name="promptctl-worker-reaper", daemon=True).start()
    return proc
