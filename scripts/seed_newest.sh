#!/usr/bin/env bash
# Runs the seed code's tests (seed_code/*/tests) against the newest SageMaker Python SDK release that the seed's
# own range admits (seed_code/model-build-train/requirements.txt), in a new virtual environment: the test lock
# for everything else, then the SDK and its sagemaker-* packages upgraded within the range. CI tests the locked
# release; run this before widening the range or when a new SDK release is out (it ships about weekly).
#
#   bash scripts/seed_newest.sh [--dry-run]     (--dry-run prints the commands without running them)
#
# Network: PyPI. Exit code: pytest's (0 when the seed works with the newest release).
set -euo pipefail
cd "$(dirname "$0")/.."

SEED_REQUIREMENTS=seed_code/model-build-train/requirements.txt
dry=""
case ${1:-} in
    "") ;;
    --dry-run) dry=1 ;;
    *) echo "usage: bash scripts/seed_newest.sh [--dry-run]" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv="$work/venv"
run() {
    echo "+ $*" >&2
    if [ -z "$dry" ]; then "$@"; fi
}

run python3 -m venv "$venv"
run "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r requirements/test.txt
# Eager: the SDK's own packages (sagemaker-core, -train, -serve, -mlops) move with it.
run "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager -r "$SEED_REQUIREMENTS"
run "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
run "$venv/bin/python" -c "import importlib.metadata as m; print('testing the seed with sagemaker', m.version('sagemaker'))"
run "$venv/bin/python" -m pytest -p no:cacheprovider seed_code
