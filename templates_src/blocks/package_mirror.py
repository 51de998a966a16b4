"""The environment's Python package index: where the MLOps projects' builds install packages from.

Three choices, one SSM parameter (``<EnvName>-<EnvType>-python-package-index``) the projects read:

* ``PyPI`` (the default): pip's own index, through the environment's NAT gateways;
* an index the user names (``PipIndexUrl``, an ``https://`` URL reachable from the VPC: an Artifactory, a
  shared-services mirror...);
* the environment's own mirror (``UseSharedServicesPyPiMirror`` YES): a CodeArtifact domain and a repository with
  an external connection to PyPI in this account, reached through the VPC's CodeArtifact endpoints (their rows in
  templates_src/blocks/endpoints.py, whose policies name this repository); the value is the repository's ARN and
  the builds log in to it with a 12-hour token (``aws codeartifact login --tool pip``, the seed code's
  ``package_index.sh``).

An environment without NAT gateways needs the mirror or an index of its own (env-main's InternetFree Rule):
the seed code installs the SageMaker Python SDK, and PyPI is unreachable without a route to the internet.
CodeArtifact serves Python packages without the S3 gateway endpoint (its assets bucket is for other formats).
"""

from __future__ import annotations

from awacs.aws import Condition, PolicyDocument, Principal, StringEquals
from troposphere import Equals, If, Not, Ref, Sub, Tags, Template, codeartifact

from templates_src.blocks import environment
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ParamSpec

ENV = environment.ENV

USE_MIRROR = params.yes_no(
    # The reference's name (its placeholder for a shared-services mirror), now a working choice.
    "UseSharedServicesPyPiMirror",
    "Create the environment's Python package mirror: a CodeArtifact domain and repository in this account with an "
    "external connection to PyPI, reached through the VPC's CodeArtifact endpoints; the MLOps projects' builds "
    "install through it. An environment without NAT gateways needs it or PipIndexUrl",
    "Create a PyPI mirror (CodeArtifact)",
    default="NO",
)
PIP_INDEX_URL = ParamSpec(
    "PipIndexUrl",
    "A Python package index of your own the MLOps projects' builds install from, reachable from the VPC (an "
    "https:// index URL: an Artifactory, a mirror of a shared-services account). Empty: the environment's mirror "
    "with UseSharedServicesPyPiMirror YES, else PyPI through the NAT gateways",
    "Python package index URL",
    default="",
    max_length=512,
    allowed_pattern=params.optional(r"https://[\x21-\x7e]+"),
    constraint="must be an https:// URL, or empty",
)
MIRROR = "PackageMirrorCondition"
INDEX_GIVEN = "PipIndexUrlGiven"

# The mirror: domain <EnvName>-<EnvType> (at most 27 characters of lower-case letters, digits and hyphens, as
# CodeArtifact's domain names must be), repository "pypi" with PyPI as its external connection.
DOMAIN = ENV
DOMAIN_PATTERN = "*-*"  # any environment's domain, for the roles that create them (the environment launch role)
REPOSITORY = "pypi"
EXTERNAL_CONNECTION = "public:pypi"
# The SSM value that means PyPI itself.
PYPI = "PyPI"
SERVICE = "codeartifact.amazonaws.com"  # the service CodeArtifact's bearer tokens are for
SSM_SUFFIX = environment.PACKAGE_INDEX_SSM


def domain_arn() -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:codeartifact:${{AWS::Region}}:${{AWS::AccountId}}:domain/{DOMAIN}")


def repository_arn() -> Sub:
    return Sub(
        f"arn:${{AWS::Partition}}:codeartifact:${{AWS::Region}}:${{AWS::AccountId}}:repository/{DOMAIN}/{REPOSITORY}"
    )


def add_conditions(t: Template, index: bool = True) -> None:
    """MIRROR (the environment's mirror) and, with ``index``, INDEX_GIVEN (an index of the user's own)."""
    t.add_condition(MIRROR, Equals(Ref(USE_MIRROR.name), "YES"))
    if index:
        t.add_condition(INDEX_GIVEN, Not(Equals(Ref(PIP_INDEX_URL.name), "")))


def resources(t: Template, tags: Tags) -> codeartifact.Repository:
    """The mirror's domain and repository (when UseSharedServicesPyPiMirror is YES). CodeArtifact encrypts them
    with its AWS managed key: they hold PyPI's public packages only."""
    domain = t.add_resource(
        codeartifact.Domain("PackageMirrorDomain", Condition=MIRROR, DomainName=Sub(DOMAIN), Tags=tags)
    )
    return t.add_resource(
        codeartifact.Repository(
            "PackageMirrorRepository",
            Condition=MIRROR,
            DomainName=domain.get_att("Name"),
            RepositoryName=REPOSITORY,
            Description=Sub(f"PyPI, cached for the MLOps projects of environment {ENV}"),
            ExternalConnections=[EXTERNAL_CONNECTION],
            Tags=tags,
        )
    )


def index_value() -> If:
    """The SSM value: the mirror's repository ARN (as CodeArtifact forms it; the projects read it long after the
    environment is complete), else the index the user named, else PyPI."""
    return If(MIRROR, repository_arn(), If(INDEX_GIVEN, Ref(PIP_INDEX_URL.name), PYPI))


# What a build needs to install through the mirror: a token for the domain (CodeArtifact's call also needs
# sts:GetServiceBearerToken for its own service), the repository's endpoint, its packages.
# (sid, service, actions, resource, condition keys)
_READS = (
    ("PackageMirrorToken", "codeartifact", ("GetAuthorizationToken",), domain_arn, {}),
    ("PackageMirrorRead", "codeartifact", ("GetRepositoryEndpoint", "ReadFromRepository"), repository_arn, {}),
    ("PackageMirrorBearerToken", "sts", ("GetServiceBearerToken",), lambda: "*", {"sts:AWSServiceName": SERVICE}),
)


def _statements(principal: Principal | None = None, **keys) -> list:
    """The reads, each with ``principal`` and the condition keys ``keys`` added to its own."""
    out = []
    for sid, service, names, resource, own in _READS:
        condition = {**keys, **own}
        out.append(
            iam_blocks.allow(
                iam_blocks.actions(service, *names),
                [resource()],
                sid=sid,
                principal=principal,
                condition=Condition(StringEquals(condition)) if condition else None,
            )
        )
    return out


def reader_statements() -> list:
    """The project roles' statements: the mirror's token, endpoint and packages."""
    return _statements()


def endpoint_policy() -> PolicyDocument:
    """The CodeArtifact endpoints' policy: the same requests, for principals of this account only (a repository of
    another account, or a publish, does not pass through the VPC)."""
    return iam_blocks.document(*_statements(Principal("*"), **{"aws:PrincipalAccount": Ref("AWS::AccountId")}))
