#!/usr/bin/env bash
# Installs the security scanners the tests run over the generated templates, pinned, under .tools/:
#
#   .tools/checkov/            a virtualenv with checkov (it pins boto3/awscli versions that conflict with
#                              the project's, so it cannot live in .venv), installed from the lock
#                              requirements/checkov.txt (every package pinned, with hashes)
#   .tools/cfnguard/package/   the npm package @cdklabs/cdk-validator-cfnguard: the cfn-guard binary
#                              (bin/ubuntu/<arch>/cfn-guard) and the AWS Control Tower proactive-control rules
#                              (rules/control-tower/cfn-guard/)
#
# Idempotent: a scanner already installed at the pinned version is left alone; a half-finished install
# (no completion marker) is removed and done again.  Network: PyPI (uv, and pip for uv itself) and the npm
# registry (npm) only.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
CHECKOV_LOCK=requirements/checkov.txt
CFNGUARD_PACKAGE=@cdklabs/cdk-validator-cfnguard
CFNGUARD_VERSION=0.0.62
# The registry's integrity hash of that tarball: a republished or tampered package fails the install.
CFNGUARD_INTEGRITY=sha512-Sg2k8067B0AIJ82QFSLhHTUIqxOYTKABvVrTHiyc6j0rE2NHli2diIYqf+w+DkuDKCYYgMIOga3OrYMOHUw0mQ==

TOOLS=.tools
PYTHON=${PYTHON:-python3}

# checkov evaluates its graph checks' JSONPath expressions with bc_jsonpath_ng, whose PLY parser rebuilds its
# LALR tables for every expression unless the table module is already on disk (it passes write_tables=0): two
# thirds of a scan's time here.  Writing the tables once at install time changes no result (PLY uses a table
# module only when its grammar signature matches) and makes scans about 40 % faster.
write_jsonpath_tables() {
    "$1" - <<'PY'
import importlib
import os

import ply.yacc

for module_name, parser_class in (
    ("bc_jsonpath_ng.parser", "JsonPathParser"),
    ("bc_jsonpath_ng.ext.parser", "ExtentedJsonPathParser"),
):
    module = importlib.import_module(module_name)
    ply.yacc.yacc(
        module=getattr(module, parser_class)(),
        tabmodule="parser_jsonpath_parsetab",
        outputdir=os.path.dirname(module.__file__),
        write_tables=1,
        start="jsonpath",
        debug=False,
    )
    importlib.import_module(module_name.rsplit(".", 1)[0] + ".parser_jsonpath_parsetab")
PY
}

install_checkov() {
    local dir=$TOOLS/checkov marker=$TOOLS/checkov/.installed stamp
    grep -q "^checkov==$CHECKOV_VERSION " "$CHECKOV_LOCK" || {
        echo "$CHECKOV_LOCK does not pin checkov $CHECKOV_VERSION: run bash scripts/update_locks.sh" >&2; exit 1; }
    # The lock's content is part of the stamp: a refreshed lock installs again.
    stamp="$CHECKOV_VERSION jsonpath-tables $(sha256sum "$CHECKOV_LOCK" | cut -d' ' -f1)"
    if [[ -f $marker && $(cat "$marker") == "$stamp" && -x $dir/bin/checkov ]]; then
        echo "checkov $CHECKOV_VERSION: already installed in $dir"
        return
    fi
    echo "checkov $CHECKOV_VERSION: installing into $dir"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    # uv (pinned, scripts/install_uv.sh) installs the lock with its hashes, as pip would, several times faster;
    # its output goes to a log, shown only when the install fails.
    local uv
    uv=${UV:-$(bash scripts/install_uv.sh)}
    if ! "$uv" pip install --python "$dir/bin/python" --link-mode copy --compile-bytecode \
            --require-hashes -r "$CHECKOV_LOCK" \
            >"$TOOLS/checkov-install.log" 2>&1; then
        tail -n 40 "$TOOLS/checkov-install.log" >&2
        echo "checkov $CHECKOV_VERSION: install failed (log: $TOOLS/checkov-install.log)" >&2
        exit 1
    fi
    write_jsonpath_tables "$dir/bin/python"
    "$dir/bin/checkov" --version >/dev/null
    echo "$stamp" >"$marker"
}

install_cfnguard() {
    local dir=$TOOLS/cfnguard marker=$TOOLS/cfnguard/.installed arch
    arch=$(uname -m)
    case $arch in
        x86_64 | aarch64) ;;
        arm64) arch=aarch64 ;;
        *) echo "cfn-guard: no binary for $arch in $CFNGUARD_PACKAGE" >&2; exit 1 ;;
    esac
    if [[ -f $marker && $(cat "$marker") == "$CFNGUARD_VERSION" && -x $dir/package/bin/ubuntu/$arch/cfn-guard ]]; then
        echo "$CFNGUARD_PACKAGE $CFNGUARD_VERSION: already installed in $dir"
        return
    fi
    echo "$CFNGUARD_PACKAGE $CFNGUARD_VERSION: installing into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    local packed
    packed=$(cd "$dir" && npm pack --silent "$CFNGUARD_PACKAGE@$CFNGUARD_VERSION" --json)
    local tarball integrity
    tarball=$(printf '%s' "$packed" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[0]["filename"])')
    integrity=$(printf '%s' "$packed" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[0]["integrity"])')
    if [[ $integrity != "$CFNGUARD_INTEGRITY" ]]; then
        echo "$CFNGUARD_PACKAGE $CFNGUARD_VERSION: integrity $integrity, expected $CFNGUARD_INTEGRITY" >&2
        exit 1
    fi
    tar -xzf "$dir/$tarball" -C "$dir"
    rm -f "$dir/$tarball"
    chmod +x "$dir"/package/bin/ubuntu/*/cfn-guard
    "$dir/package/bin/ubuntu/$arch/cfn-guard" --version >/dev/null
    echo "$CFNGUARD_VERSION" >"$marker"
}

mkdir -p "$TOOLS"
install_checkov
install_cfnguard
