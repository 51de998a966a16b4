#!/usr/bin/env bash
# Installs uv, pinned with its hashes (requirements/uv.txt), into .tools/uv/ and prints the path of its
# executable on standard output (progress and errors go to standard error):
#
#   uv=$(bash scripts/install_uv.sh)
#
# uv installs the lock files into virtual environments (scripts/install_venv.sh, scripts/install_scanners.sh)
# about ten times faster than pip, with the same hash checking.  Idempotent: an install of the same lock is
# kept; a half-finished one (no completion marker) is removed and done again.  Network: PyPI only (pip).
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=requirements/uv.txt
DIR=.tools/uv
PYTHON=${PYTHON:-python3}

stamp=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [[ -f $DIR/.installed && $(cat "$DIR/.installed") == "$stamp" && -x $DIR/bin/uv ]]; then
    echo "$PWD/$DIR/bin/uv"
    exit 0
fi
echo "uv: installing $(grep -oE '^uv==[^ ]+' "$LOCK") into $DIR" >&2
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
"$PYTHON" -m venv "$DIR"
if ! "$DIR/bin/python" -m pip install --disable-pip-version-check --require-hashes -r "$LOCK" \
        >"$DIR.log" 2>&1; then
    tail -n 40 "$DIR.log" >&2
    echo "uv: pip install failed (log: $DIR.log); check the network to PyPI and run this again" >&2
    exit 1
fi
"$DIR/bin/uv" --version >/dev/null
echo "$stamp" >"$DIR/.installed"
echo "$PWD/$DIR/bin/uv"
