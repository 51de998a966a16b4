"""package-cfn: the bootstrap users deploy first, to publish a release from the source archive in their bucket.

    aws s3 cp sagemaker-secure-mlops.zip s3://<bucket>/sagemaker-mlops/
    aws cloudformation deploy --template-file package-cfn.yaml --stack-name sagemaker-mlops-package-cfn \\
        --capabilities CAPABILITY_NAMED_IAM --parameter-overrides S3BucketName=<bucket>

It creates a CodeBuild project that installs this generator from ``<prefix>/sagemaker-secure-mlops.zip`` and
runs ``generate.py package`` into the same bucket and prefix, with the configuration this template was
generated with, and a custom resource that starts that build once.  Changing ReleaseTrigger (or the bucket,
the prefix, or deploying the template of another release) starts it again on a stack update.  The stack
does not wait for the build (it takes longer than a function may run): the release exists once
``ReleaseManifestS3Uri`` does.

Physical names are fixed per account and region (with the configured name prefix): the function name must
stay within Lambda's 64 characters, and AWS::StackName (up to 128 characters) cannot be bounded.  A second
packaging stack in the same account and region therefore fails at creation with a name conflict instead of
two stacks sharing one project.
"""

from __future__ import annotations

import json
import urllib.parse

from awacs.aws import Condition, StringLike
from troposphere import Equals, GetAtt, If, Output, Ref, Select, Split, Sub, Template, codebuild, logs

from templates_src import release_layout as layout
from templates_src.blocks import custom_resource as cr
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import log_groups, partitions, policies
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext

NAME = "package-cfn"
DESCRIPTION = (
    "Bootstrap: a CodeBuild project that packages and publishes the secure SageMaker MLOps templates "
    "from the source archive in S3, started once by a custom resource"
)

# -- parameters -----------------------------------------------------------------------------------------
# Key prefix: path segments of letters, digits, '.', '_' and '-' (no segment '.' or '..', no '*' or '?',
# which IAM would read as wildcards in the role's resource ARNs).  A subset of what `package --prefix` takes.
KEY_PREFIX = r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*"

S3_BUCKET_NAME = params.ParamSpec(
    "S3BucketName",
    f"Bucket in this stack's region holding <prefix>/{layout.SOURCE_ARCHIVE}; the release is published there",
    "S3 bucket name",
    min_length=3,
    max_length=63,
    allowed_pattern=params.BUCKET_NAME,
    constraint="must be an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, starting and "
    "ending with a letter or digit",
)
S3_PREFIX = params.ParamSpec(
    "S3Prefix",
    "Key prefix of the source archive and of the published release",
    "S3 key prefix",
    default=layout.DEFAULT_PREFIX,
    min_length=1,
    max_length=128,
    allowed_pattern=KEY_PREFIX,
    constraint="1 to 128 characters: letters, digits, '.', '_' and '-' in segments separated by '/', without a "
    "leading or trailing '/' (for example sagemaker-mlops or ml-platform/releases)",
)
RELEASE_TRIGGER = params.ParamSpec(
    "ReleaseTrigger",
    "Change this value (for example to today's date) to run the packaging build again on a stack update",
    "Release trigger",
    default="1",
    min_length=1,
    max_length=64,
    allowed_pattern=r"[A-Za-z0-9._:-]+",
    constraint="1 to 64 characters: letters, digits, '.', '_', ':' and '-'",
)

TEMPLATES = params.ParamSpec(
    "Templates",
    "Comma-separated names of the templates to publish (and what they nest); empty publishes all of them",
    "Templates to publish",
    default="",
    max_length=1024,
    allowed_pattern=r"([a-z0-9-]+(,[a-z0-9-]+)*)?",
    constraint="template names as `generate.py list` shows them, separated by commas, or empty",
)

# -- resources --------------------------------------------------------------------------------------------
PROJECT = "sagemaker-mlops-package"  # prefixed: at most 13 + 23 characters (CodeBuild allows 255)
# Prefixed: at most 13 + 36 + 15 = 64 characters, Lambda's limit (the namer checks it).  The region adds no
# uniqueness (function names are regional); it keeps the name a Sub pattern like every generated function
# name (a pattern without variables is a needless Fn::Sub to cfn-lint) and tells regions apart in logs.
FUNCTION = PROJECT + "-start-build-${AWS::Region}"
IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"  # Amazon Linux 2023, python 3.12 available
TIMEOUT_MINUTES = 20
CONFIG_FILE = "generator-config.json"
# The generator's lock file in the source archive (every dependency pinned, with hashes; scripts/update_locks.sh):
# the build installs exactly the versions the release was tested with, never the newest ones an index offers at
# publish time, because the templates it writes are deployed by administrator-equivalent roles.
RUNTIME_LOCK = "requirements/runtime.txt"

# Commands run from the unpacked archive (the repository root).  Explicit venv paths, so nothing depends on
# shell state carried between commands or phases.  Dependencies come from the lock with their hashes; the
# generator itself is then installed from the archive without dependencies and without build isolation (the
# lock pins setuptools and wheel too, so nothing is taken from the index unpinned).  The configuration comes from
# the project's environment: the build publishes exactly the templates this bootstrap was generated for (prefix, role
# path, boundary,
# tags, version).
PACKAGE_COMMAND = (
    f'.venv/bin/python generate.py package --config {CONFIG_FILE} --bucket "$S3_BUCKET_NAME" --prefix "$S3_PREFIX" '
    '--region "$AWS_REGION" ${PACKAGE_ONLY:+--only "$PACKAGE_ONLY"}'
)
BUILDSPEC = f"""\
version: 0.2
phases:
  install:
    runtime-versions:
      python: 3.12
    commands:
      - python3 -m venv .venv
      - .venv/bin/python -m pip install --quiet --no-cache-dir --require-hashes -r {RUNTIME_LOCK}
      - .venv/bin/python -m pip install --quiet --no-cache-dir --no-deps --no-build-isolation .
  pre_build:
    commands:
      - printf '%s\\n' "$GENERATOR_CONFIG" > {CONFIG_FILE}
  build:
    commands:
      - {PACKAGE_COMMAND}
"""

# -- outputs ----------------------------------------------------------------------------------------------
VIRTUAL_HOSTED = "BucketNameWithoutDots"


def bucket_arn(objects: str | None = None) -> Sub:
    return BuildContext.bucket_arn(f"${{{S3_BUCKET_NAME.name}}}", objects)


def source_key() -> str:
    return layout.source_archive_key(f"${{{S3_PREFIX.name}}}")


def codebuild_policy(ctx: BuildContext, log_group_pattern: str):
    """Logs to its own group; read the archive; read, write and tag objects under the prefix; no deletes."""
    a, allow = iam_blocks.actions, iam_blocks.allow
    log_group = f"log-group:{log_group_pattern}"
    prefix = f"${{{S3_PREFIX.name}}}"
    return iam_blocks.inline(
        "package",
        allow(
            a("logs", *policies.LOG_STREAM_ACTIONS),
            [
                ctx.arn("logs", log_group, region="${AWS::Region}"),
                ctx.arn("logs", f"{log_group}:*", region="${AWS::Region}"),
            ],
            sid="OwnLogGroupOnly",
        ),
        allow(a("s3", *policies.OBJECT_READ_ACTIONS), bucket_arn(source_key()), sid="ReadSourceArchive"),
        allow(
            a("s3", "GetObject", "PutObject", "PutObjectTagging", "GetObjectTagging"),
            bucket_arn(f"{prefix}/*"),
            sid="PublishUnderPrefix",
        ),
        allow(
            a("s3", "ListBucket"),
            bucket_arn(),
            sid="ListPrefixOnly",
            condition=Condition(StringLike({"s3:prefix": [Sub(f"{prefix}/*")]})),
        ),
        # CodeBuild reads the bucket's ACL and location to verify the source bucket's owner and region.
        # GetBucketCORS: whether Studio may read the release's S3 project templates (package warns otherwise).
        allow(a("s3", "GetBucketLocation", "GetBucketAcl", "GetBucketCORS"), bucket_arn(), sid="BucketIdentity"),
    )


def generator_config(ctx: BuildContext) -> str:
    """The configuration as compact, sorted JSON (what `generate.py --config` reads)."""
    return json.dumps(ctx.config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def project(ctx: BuildContext, role, log_group: logs.LogGroup, name: str) -> codebuild.Project:
    variables = {
        "S3_BUCKET_NAME": Ref(S3_BUCKET_NAME.name),
        "S3_PREFIX": Ref(S3_PREFIX.name),
        "PACKAGE_ONLY": Ref(TEMPLATES.name),
        "GENERATOR_CONFIG": generator_config(ctx),
    }
    return codebuild.Project(
        "CfnTemplatePackageProject",
        Name=name,
        Description=f"Packages and publishes the sagemaker-secure-mlops templates (release {ctx.config.version})",
        ServiceRole=GetAtt(role, "Arn"),
        Source=codebuild.Source(
            Type="S3", Location=Sub(f"${{{S3_BUCKET_NAME.name}}}/{source_key()}"), BuildSpec=BUILDSPEC
        ),
        Artifacts=codebuild.Artifacts(Type="NO_ARTIFACTS"),
        Environment=codebuild.Environment(
            Type="LINUX_CONTAINER",
            ComputeType="BUILD_GENERAL1_SMALL",
            Image=IMAGE,
            EnvironmentVariables=[
                codebuild.EnvironmentVariable(Name=k, Type="PLAINTEXT", Value=v) for k, v in variables.items()
            ],
        ),
        LogsConfig=codebuild.LogsConfig(
            CloudWatchLogs=codebuild.CloudWatchLogs(Status="ENABLED", GroupName=Ref(log_group)),
            S3Logs=codebuild.S3Logs(Status="DISABLED"),
        ),
        TimeoutInMinutes=TIMEOUT_MINUTES,
    )


def release_url(ctx: BuildContext, name: str) -> If:
    """Regional HTTPS URL of an entry template of this release, as layout.https_url builds it."""
    key = layout.release_key(f"${{{S3_PREFIX.name}}}", urllib.parse.quote(ctx.config.version, safe=""), name)
    return If(
        VIRTUAL_HOSTED,
        Sub(f"https://${{{S3_BUCKET_NAME.name}}}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}/{key}"),
        Sub(f"https://s3.${{AWS::Region}}.${{AWS::URLSuffix}}/${{{S3_BUCKET_NAME.name}}}/{key}"),
    )


def outputs(ctx: BuildContext, t: Template, package: codebuild.Project) -> None:
    manifest = layout.manifest_key(f"${{{S3_PREFIX.name}}}", ctx.config.version)
    console = partitions.host(t, "Console")
    # The entry templates users start from (deployment options: two steps, or the quickstart).
    for output, name, what in (
        ("CoreMain", "core-main", "core"),
        ("EnvMain", "env-main", "environment"),
        ("QuickStart", "data-science-environment-quickstart", "quickstart"),
    ):
        url = release_url(ctx, f"{name}.yaml")
        t.add_output(
            [
                Output(
                    f"{output}StackS3Uri",
                    Description=f"S3 URL of the {name} template of release {ctx.config.version}",
                    Value=url,
                ),
                Output(
                    f"{output}StackDeployLink",
                    Condition=partitions.KNOWN,
                    Description=f"Console link to create the {what} stack (once the build has published the release)",
                    Value=Sub(
                        "https://${Host}/cloudformation/home?region=${AWS::Region}#/stacks/new?templateURL=${Url}",
                        Host=console,
                        Url=url,
                    ),
                ),
            ]
        )
    t.add_output(
        [
            Output(
                "StartBuildCLICommand",
                Description="CLI command to run the packaging build again",
                Value=Sub(f"aws codebuild start-build --project-name ${{{package.title}}}"),
            ),
            Output(
                "ReleaseManifestS3Uri",
                Description="Release manifest, written last by the build: the release is published once it exists",
                Value=Sub(f"s3://${{{S3_BUCKET_NAME.name}}}/{manifest}"),
            ),
        ]
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    params.add(t, S3_BUCKET_NAME, S3_PREFIX, TEMPLATES, RELEASE_TRIGGER)
    params.interface(
        t,
        [
            ("Source archive and release location", [S3_BUCKET_NAME, S3_PREFIX]),
            ("Packaging", [TEMPLATES, RELEASE_TRIGGER]),
        ],
    )
    # Virtual-hosted URLs for bucket names without dots; TLS certificates do not cover dotted names there.
    bucket = Ref(S3_BUCKET_NAME.name)
    t.add_condition(VIRTUAL_HOSTED, Equals(Select(0, Split(".", bucket)), bucket))

    project_name = ctx.config.prefix + PROJECT
    log_group_name = ctx.namer.name("log-group", f"/aws/codebuild/{project_name}", prefixed=False)
    log_group = t.add_resource(log_groups.log_group(ctx, t, "CodeBuildLogGroup", log_group_name.pattern))
    role = t.add_resource(
        iam_blocks.role(
            ctx,
            "CodeBuildServiceRole",
            description="Runs the packaging build: reads the source archive, publishes the release under the prefix",
            assume=iam_blocks.service_trust("codebuild"),
            policies=[codebuild_policy(ctx, log_group_name.pattern)],
        )
    )
    package = t.add_resource(project(ctx, role, log_group, project_name))

    start = cr.lambda_function(
        ctx,
        t,
        "StartBuildLambda",
        module="start_build",
        description="Starts the packaging build on stack creation and when its trigger changes",
        name=ctx.namer.name("function", FUNCTION),
        statements=[
            iam_blocks.allow(
                iam_blocks.actions("codebuild", "StartBuild"), GetAtt(package, "Arn"), sid="StartPackagingBuild"
            )
        ],
    )
    # Every property is a trigger: another project, source location, release or template selection, or a new
    # ReleaseTrigger.
    cr.custom_resource(
        t,
        "StartBuild",
        "Custom::StartBuild",
        start,
        ProjectName=Ref(package),
        SourceLocation=Sub(f"${{{S3_BUCKET_NAME.name}}}/{source_key()}"),
        ReleaseVersion=ctx.config.version,
        Templates=Ref(TEMPLATES.name),
        ReleaseTrigger=Ref(RELEASE_TRIGGER.name),
    )
    outputs(ctx, t, package)
    return t
