#!/usr/bin/env bash
# Refreshes the lock files under requirements/ (pinned versions with hashes) with uv's `pip compile`:
#
#   requirements/test.txt      setup.cfg's install_requires and `test` extra + requirements/build.in: the test
#                              environment (README's second command, .ci/run)
#   requirements/runtime.txt   the same without the `test` extra, at the test lock's versions: the generator
#                              (README's first command, package-cfn's CodeBuild project)
#   requirements/checkov.txt   requirements/checkov.in: the checkov scanner (scripts/install_scanners.sh)
#   requirements/uv.txt        requirements/uv.in: uv itself (scripts/install_uv.sh)
#
# Universal locks (every platform, Python 3.11 and newer, with markers where versions differ). Run it after
# changing a requirement in setup.cfg or requirements/*.in, or to take newer releases (monthly is a good
# rhythm), then run the whole test suite in a fresh environment from the new locks before committing them.
# `--upgrade` takes the newest versions the ranges allow; without it the versions already locked are kept
# where they still fit.
#
#   bash scripts/update_locks.sh [--upgrade]
#
# Network: PyPI only. uv itself is installed, pinned with its hashes, by scripts/install_uv.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

upgrade=()
case ${1:-} in
    "") ;;
    --upgrade) upgrade=(--upgrade) ;;
    *) echo "usage: bash scripts/update_locks.sh [--upgrade]" >&2; exit 2 ;;
esac

uv=$(bash scripts/install_uv.sh)

compile() {
    local output=$1; shift
    "$uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --no-strip-extras --index-url https://pypi.org/simple \
        --custom-compile-command "bash scripts/update_locks.sh" ${upgrade[@]+"${upgrade[@]}"} \
        --output-file "$output" "$@"
    echo "$output: $(grep -cE '^[A-Za-z0-9]' "$output") pinned packages"
}

compile requirements/test.txt setup.cfg requirements/build.in --extra test
# The generator's lock takes the test lock's versions: what users and package-cfn install is what was tested.
compile requirements/runtime.txt setup.cfg requirements/build.in --constraint requirements/test.txt
compile requirements/checkov.txt requirements/checkov.in
# uv itself, as pinned in requirements/uv.in (a new version there is installed by the next run).
compile requirements/uv.txt requirements/uv.in
