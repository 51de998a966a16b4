"""Where a published release lives in S3: the one definition packaging (``templates_src.release``) and the bootstrap
template (package-cfn) share; below both, so that no template imports the release package.

    <prefix>/templates/<name>/<sha256[:16]>.yaml     templates, addressed by content (never overwritten)
    <prefix>/lambda/<module>/<sha256[:16]>.zip       function packages too large to inline
    <prefix>/seed-code/<name>/<sha256[:16]>.zip      MLOps project seed code, tagged for Service Catalog
    <prefix>/releases/<version>/<name>.yaml          entry templates of a release, addressed by version
    <prefix>/releases/<version>/notebooks/<name>.ipynb  the environment's notebooks of a release
    <prefix>/releases/<version>/claim.json           written first: which run (plan identity) publishes it
    <prefix>/releases/<version>/manifest.json        written last: the release exists once this exists
    <prefix>/sagemaker-secure-mlops.zip              source archive the bootstrap CodeBuild project packages

Content addressing makes publishing incremental (an unchanged template keeps its key, so nothing is
uploaded for it, and a parent changes only when a child's URL does) and safe (a key is never rewritten
with other bytes).  Version addressing gives every release stable, human-readable entry URLs.
"""

from __future__ import annotations

DEFAULT_PREFIX = "sagemaker-mlops"
SOURCE_ARCHIVE = "sagemaker-secure-mlops.zip"
HASH_CHARS = 16
MANIFEST = "manifest.json"
CLAIM = "claim.json"
SEED_CODE_TAG = ("servicecatalog:provisioning", "true")
TEMPLATES_FOLDER = "templates"
SEED_CODE_FOLDER = "seed-code"  # <prefix>/seed-code/...: the project roles read these (check-in of connected repos)
NOTEBOOKS_FOLDER = "notebooks"  # <prefix>/releases/<version>/notebooks/: the environment's notebooks
RELEASES_FOLDER = "releases"


def content_key(prefix: str, kind: str, name: str, sha256: str, suffix: str) -> str:
    return f"{prefix}/{kind}/{name}/{sha256[:HASH_CHARS]}{suffix}"


def release_key(prefix: str, version: str, name: str) -> str:
    return f"{prefix}/{RELEASES_FOLDER}/{version}/{name}"


def manifest_key(prefix: str, version: str) -> str:
    return release_key(prefix, version, MANIFEST)


def claim_key(prefix: str, version: str) -> str:
    return release_key(prefix, version, CLAIM)


def release_folder(prefix: str, version: str) -> str:
    return f"{prefix}/{RELEASES_FOLDER}/{version}/"


def releases_prefix(prefix: str) -> str:
    return f"{prefix}/{RELEASES_FOLDER}/"


def source_archive_key(prefix: str) -> str:
    return f"{prefix}/{SOURCE_ARCHIVE}"


def https_url(bucket: str, region: str, dns_suffix: str, key: str) -> str:
    """Regional URL, correct for every partition (amazonaws.com, amazonaws.com.cn, ...).

    Virtual-hosted style, except for bucket names with dots, which TLS certificates do not cover there.
    """
    if "." in bucket:
        return f"https://s3.{region}.{dns_suffix}/{bucket}/{key}"
    return f"https://{bucket}.s3.{region}.{dns_suffix}/{key}"
