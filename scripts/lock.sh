#!/usr/bin/env bash
# Refresh requirements.lock: the exact set of packages that CI (.ci/run) and the README's quickstart
# install, for every supported Python (3.10-3.13) in one file. It is uv's universal resolution: a
# package whose version differs between interpreters gets one line per version with an environment
# marker, which pip honours in a constraints file (`pip install -c requirements.lock -e '.[dev]'`).
#
#   scripts/lock.sh                           follow pyproject.toml's changes, keep every other pin
#   scripts/lock.sh --upgrade                 move everything to the newest releases allowed
#   scripts/lock.sh --upgrade-package NAME    move one package (and what it needs)
#
# Inputs: pyproject.toml (dependencies + the dev extra) and scripts/lock-pins.txt. Then run .ci/run:
# it installs the new lock on every interpreter the machine has and runs the full suite.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9                # the lock tool itself is pinned, so a refresh is reproducible
tools=.venvs/lock                # ignored by git, like the other venvs

if [ "$("$tools/bin/uv" --version 2>/dev/null | cut -d' ' -f1,2)" != "uv $UV_VERSION" ]; then
  "${PYTHON:-python3}" -m venv --clear "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

"$tools/bin/uv" --quiet pip compile pyproject.toml --extra dev \
  --universal --python-version 3.10 \
  --constraint scripts/lock-pins.txt \
  --custom-compile-command "scripts/lock.sh" \
  --output-file requirements.lock "$@"
changes=$(git diff --stat -- requirements.lock)
echo "requirements.lock: $(grep -c '^[a-z0-9]' requirements.lock) pins; ${changes:-unchanged}"
