# Where pip installs this build's packages from. Sourced (bash) by buildspec.yml before `pip install`:
#
#   PIP_INDEX_URL   the project's own index (the project's PipIndexUrl parameter): used when set
#   PACKAGE_INDEX   the environment's (its <EnvName>-<EnvType>-python-package-index SSM parameter): "PyPI",
#                   an https:// index URL, or the ARN of the environment's CodeArtifact repository, which pip
#                   reaches with a 12-hour token through the VPC's CodeArtifact endpoints (internet-free
#                   environments)
#
# An empty PIP_INDEX_URL would make pip look for packages nowhere: it is unset first. The index URL is never
# printed (an index of your own may carry a credential in it).
if [ -n "${PIP_INDEX_URL:-}" ]; then
    echo "package index: the project's (PipIndexUrl)"
    export PIP_INDEX_URL
    return 0 2>/dev/null || exit 0
fi
unset PIP_INDEX_URL
case "${PACKAGE_INDEX:-PyPI}" in
    PyPI)
        echo "package index: PyPI"
        ;;
    https://*)
        echo "package index: the environment's (an index URL)"
        export PIP_INDEX_URL="$PACKAGE_INDEX"
        ;;
    arn:*:codeartifact:*:*:repository/*/*)
        IFS=: read -r _ _ _ ca_region ca_owner ca_resource <<<"$PACKAGE_INDEX"
        ca_path=${ca_resource#repository/}
        echo "package index: the environment's CodeArtifact repository ${ca_path}"
        aws codeartifact login --tool pip --region "$ca_region" --domain-owner "$ca_owner" \
            --domain "${ca_path%%/*}" --repository "${ca_path#*/}" || return 1 2>/dev/null || exit 1
        ;;
    *)
        echo "PACKAGE_INDEX must be PyPI, an https:// index URL or a CodeArtifact repository ARN" >&2
        return 1 2>/dev/null || exit 1
        ;;
esac
