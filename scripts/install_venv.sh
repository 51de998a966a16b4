#!/usr/bin/env bash
# Creates the project's virtual environment .venv from a lock file and installs the project into it, editable:
#
#   bash scripts/install_venv.sh runtime    the generator (requirements/runtime.txt)
#   bash scripts/install_venv.sh test       the generator and the test suite (requirements/test.txt)
#
# The same as `python3 -m venv .venv && .venv/bin/pip install --require-hashes -r requirements/<lock>.txt &&
# .venv/bin/pip install --no-deps --no-build-isolation -e .`, with uv (pinned, scripts/install_uv.sh) in place
# of pip: every package at its locked version, checked against its locked hashes, compiled to bytecode as pip
# compiles it (Python run with PYTHONDONTWRITEBYTECODE would otherwise compile every module it imports, in every
# process), in a fraction of pip's time.  An existing .venv is updated in place.
# Environment: PYTHON (default python3) creates the environment; VENV (default .venv) names it; UV names a uv
# executable to use instead of the pinned one.  Network: PyPI only.
set -euo pipefail
cd "$(dirname "$0")/.."

case ${1:-} in
    runtime | test) lock=requirements/$1.txt ;;
    *) echo "usage: bash scripts/install_venv.sh runtime|test" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
UV=${UV:-$(bash scripts/install_uv.sh)}

"$PYTHON" -m venv "$VENV"
# Copies, not links into uv's cache: the environment stays valid whatever happens to the cache.
"$UV" pip install --python "$VENV/bin/python" --link-mode copy --compile-bytecode --require-hashes -r "$lock"
"$UV" pip install --python "$VENV/bin/python" --link-mode copy --no-deps --no-build-isolation -e .
echo "$VENV: $lock and this project (editable) installed" >&2
