"""What the MLOps project templates share: SageMaker's project parameters, the physical names the SageMaker
products roles are scoped to, the environment configuration lookup, the artifact bucket, the source repository
(CodeCommit seeded with the release's seed code, or a CodeConnections repository), CodeBuild projects in the
environment's VPC, the pipeline and the push trigger.

Every physical name starts with ``sagemaker-`` (the artifact bucket with ``sm-mlops-cp-``): SageMaker's
products launch role is scoped to these prefixes, so the configured name prefix does not apply here.
Everything runs as the project role of the project's environment (``ProjectRoleArn`` of the environment
configuration: the environment's model build role for build/train projects, its model deploy role for deploy
projects), never as SageMaker's account-wide products use role: a project of one environment can reach nothing
of another, and what a push runs has no more than its environment's roles.  The artifact bucket lets only that
role read or write its objects (its bucket policy), so no other project's code can read them or change what a
later stage deploys.
"""

from __future__ import annotations

from troposphere import (
    Equals,
    GetAtt,
    If,
    ImportValue,
    Not,
    Output,
    Ref,
    Split,
    Sub,
    Tags,
    Template,
    cloudformation,
    codebuild,
    codecommit,
    codepipeline,
    events,
    s3,
)

from templates_src import naming
from templates_src.blocks import buckets, environment, package_mirror
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext

PROJECT_NAME = ParamSpec(
    "SageMakerProjectName",
    "Name of the SageMaker project (SageMaker fills it in)",
    "SageMaker project name",
    min_length=1,
    max_length=32,
    allowed_pattern=r"[a-zA-Z](-*[a-zA-Z0-9])*",
    constraint="1 to 32 characters: letters, digits and hyphens, starting with a letter, not ending with a hyphen",
)
PROJECT_ID = ParamSpec(
    "SageMakerProjectId",
    "Id of the SageMaker project (SageMaker fills it in)",
    "SageMaker project id",
    # SageMaker's ids are p- and 12 characters; 15 keeps the EventBridge rule names within 64 characters.
    min_length=1,
    max_length=15,
    allowed_pattern=r"[a-z0-9](-*[a-z0-9])*",
    constraint="1 to 15 characters: lower-case letters, digits and hyphens",
)
PROJECT = {s.name: s for s in (PROJECT_NAME, PROJECT_ID)}
# The project's tags (SageMaker's own keys) on what its templates create, and the base of its physical names.
PROJECT_NAME_TAG = "sagemaker:project-name"
PROJECT_ID_TAG = "sagemaker:project-id"
PHYSICAL = "sagemaker-${SageMakerProjectName}-${SageMakerProjectId}"
CORE_NAME = params.STACK_SET_NAME.with_(
    name="CoreStackSetName",
    default="sm-mlops-core",
    label="Core deployment name",
    description="Name of the core deployment (core-main's StackSetName; the quickstart uses ds-<EnvName>) whose "
    "environment configuration function the project calls",
)
SOURCE_PROVIDER = ParamSpec(
    "SourceCodeProvider",
    "Where the project's code lives: a CodeCommit repository this project creates with the "
    "seed code, or an existing GitHub, GitLab or Bitbucket repository through an AWS CodeConnections connection "
    "(the project pushes the seed code to it when it has no commits, and leaves it as it is otherwise)",
    "Source code provider",
    default="CodeCommit",
    allowed_values=("CodeCommit", "CodeConnection"),
    constraint="must be CodeCommit or CodeConnection",
)
CONNECTION_ARN = ParamSpec(
    "CodeConnectionArn",
    "ARN of an available CodeConnections connection (with SourceCodeProvider=CodeConnection)",
    "CodeConnections connection ARN",
    default="",
    max_length=256,
    allowed_pattern=params.optional(
        rf"arn:{params.PARTITION}:(codeconnections|codestar-connections):[a-z0-9-]+:"
        r"\d{12}:connection/[0-9a-f-]{36}"
    ),
    constraint="must be a CodeConnections connection ARN (arn:<partition>:codeconnections:<region>:<account-id>:"
    "connection/<id>), or empty",
)
REPOSITORY = ParamSpec(
    "RepositoryFullName",
    "Repository of the connection as owner/name (with SourceCodeProvider=CodeConnection)",
    "Repository (owner/name)",
    default="",
    max_length=200,
    allowed_pattern=params.optional(r"[\w.-]+(/[\w.-]+)+"),
    constraint="must be owner/name, or empty",
)
BRANCH = ParamSpec(
    "RepositoryBranch",
    "Branch whose commits run the pipeline",
    "Branch",
    default="main",
    min_length=1,
    max_length=100,
    allowed_pattern=r"[\w./-]+",
    constraint="must be a Git branch name",
)
PIP_INDEX_URL = package_mirror.PIP_INDEX_URL.with_(
    description="Python package index this project's builds install from instead of the environment's (an https:// "
    "index URL reachable from the VPC). Empty: the environment's package index (its CodeArtifact mirror, the index "
    "it names, or PyPI through its NAT gateways)",
)

CODECOMMIT = "UseCodeCommit"
CONNECTION = "UseCodeConnection"
# Repository name suffixes of the two project kinds: the environment's roles tell the build/train repositories
# (data scientists push) from the deploy repositories (the team administrator pushes) by them.
BUILD_REPOSITORY_SUFFIX = "-model-build-train"
DEPLOY_REPOSITORY_SUFFIX = "-model-deploy"
# Build projects and pipelines likewise: a build/train project's role may start only build/train builds and
# pipelines (a build runs as its project's role: starting a deploy build would run as the deploy role).
BUILD_SUFFIX = "-modelbuild"
DEPLOY_SUFFIX = "-modeldeploy"
ENV_CONFIG = "GetEnvironmentConfiguration"
SOURCE_ARTIFACT = "SourceArtifact"
BUILD_ARTIFACT = "BuildArtifact"
# CodeBuild's current Amazon Linux image (Python 3.12 and newer runtimes).
BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"

# The environment's SSM contract (<EnvName>-<EnvType>-<suffix>) the projects read, by attribute name of the
# environment configuration.
COMMON_SSM = {
    "DataBucketName": environment.DATA_BUCKET_NAME_SSM,
    "ModelBucketName": environment.MODEL_BUCKET_NAME_SSM,
    "S3KmsKeyArn": environment.kms_key_arn_ssm(environment.S3_KEY),
    "EbsKmsKeyArn": environment.kms_key_arn_ssm(environment.EBS_KEY),
    "PipelineExecutionRoleArn": environment.PIPELINE_EXECUTION_ROLE_ARN_SSM,
    "SeedCodeS3BucketName": environment.SEED_CODE_BUCKET_NAME_SSM,
    "PackageIndex": environment.PACKAGE_INDEX_SSM,
}


def env(attribute: str) -> GetAtt:
    """A value of the environment configuration (domain network, tags, SSM contract)."""
    return GetAtt(ENV_CONFIG, attribute)


def physical(ctx: BuildContext, kind: str, suffix: str, extra: dict | None = None):
    """``sagemaker-<project name>-<project id><suffix>``, checked against the limit of ``kind``."""
    name = ctx.namer.name(
        kind,
        PHYSICAL + suffix,
        {**PROJECT, **(extra or {})},
        prefixed=False,
    )
    return name.sub()


# The environment's SSM parameter of each project kind's role (read as ProjectRoleArn by each template).
BUILD_ROLE_SSM = {"ProjectRoleArn": environment.MODEL_BUILD_ROLE_ARN_SSM}
DEPLOY_ROLE_SSM = {"ProjectRoleArn": environment.MODEL_DEPLOY_ROLE_ARN_SSM}


def role_arn():
    """The project's role: its environment's model build or model deploy role (the template's SSM contract)."""
    return env("ProjectRoleArn")


def tags(**extra) -> Tags:
    return Tags(
        **{
            PROJECT_NAME_TAG: Ref(PROJECT_NAME.name),
            PROJECT_ID_TAG: Ref(PROJECT_ID.name),
            **{tag: env(tag) for tag in environment.TAG_PARAMETERS},
            **extra,
        }
    )


def add_parameters(t: Template, *extra: ParamSpec, groups: list | None = None) -> None:
    params.add(
        t,
        PROJECT_NAME,
        PROJECT_ID,
        CORE_NAME,
        PIP_INDEX_URL,
        SOURCE_PROVIDER,
        CONNECTION_ARN,
        REPOSITORY,
        BRANCH,
        *extra,
    )
    params.interface(
        t,
        [
            ("SageMaker project", [PROJECT_NAME, PROJECT_ID]),
            *(groups or []),
            ("Source code", [SOURCE_PROVIDER, CONNECTION_ARN, REPOSITORY, BRANCH]),
            ("Platform", [CORE_NAME, PIP_INDEX_URL]),
        ],
    )
    t.add_condition(CODECOMMIT, Equals(Ref(SOURCE_PROVIDER.name), "CodeCommit"))
    t.add_condition(CONNECTION, Equals(Ref(SOURCE_PROVIDER.name), "CodeConnection"))
    t.add_rule(
        "CodeConnection",
        {
            "RuleCondition": Equals(Ref(SOURCE_PROVIDER.name), "CodeConnection"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(spec.name), "")),
                    "AssertDescription": f"{spec.name} is required with SourceCodeProvider=CodeConnection",
                }
                for spec in (CONNECTION_ARN, REPOSITORY)
            ],
        },
    )


def environment_configuration(ctx: BuildContext, t: Template, ssm: dict[str, str]) -> cloudformation.CustomResource:
    """The project's environment: its Studio domain's network and EnvironmentName/Type tags, and the environment's
    SSM values ``ssm`` (attribute -> parameter suffix), from the core's function (found by its export)."""
    export = ctx.namer.name(
        "export",
        "${CoreStackSetName}-" + naming.GET_ENVIRONMENT_CONFIGURATION + "-lambda-arn",
        {CORE_NAME.name: CORE_NAME},
    )
    kind = type(
        "GetEnvironmentConfiguration",
        (cloudformation.CustomResource,),
        {"resource_type": "Custom::GetEnvironmentConfiguration"},
    )
    return t.add_resource(
        kind(
            ENV_CONFIG,
            ServiceToken=ImportValue(export.sub()),
            SageMakerProjectName=Ref(PROJECT_NAME.name),
            SageMakerProjectId=Ref(PROJECT_ID.name),
            SSMParams=[{"VariableName": k, "ParameterName": v} for k, v in sorted(ssm.items())],
        )
    )


def artifact_bucket(ctx: BuildContext, t: Template) -> s3.Bucket:
    """Pipeline artifacts: the environment's S3 key, versioned, private, TLS only.  Kept on delete (it holds the
    pipelines' history; CloudFormation cannot delete a bucket with objects)."""
    bucket = t.add_resource(
        buckets.retain(
            s3.Bucket(
                "MlOpsArtifactsBucket",
                BucketName=ctx.namer.name(
                    "bucket",
                    environment.PROJECT_BUCKETS.replace("*", "${SageMakerProjectId}-${AWS::AccountId}"),
                    PROJECT,
                    prefixed=False,
                ).sub(),
                BucketEncryption=buckets.kms_encryption(env("S3KmsKeyArn")),
                VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
                PublicAccessBlockConfiguration=buckets.public_access_blocked(),
                OwnershipControls=buckets.owner_enforced(),
                # Server access logs go to the environment's log bucket, which accepts them from sm-mlops-cp-* buckets.
                LoggingConfiguration=s3.LoggingConfiguration(
                    DestinationBucketName=Sub(
                        environment.bucket_name(ctx, environment.LOGS_KIND).pattern,
                        EnvName=env(environment.ENV_NAME_TAG),
                        EnvType=env(environment.ENV_TYPE_TAG),
                    ),
                    LogFilePrefix=Sub(environment.PROJECT_LOGS_PREFIX + "${SageMakerProjectId}/"),
                ),
                NotificationConfiguration=buckets.notifications(),
                LifecycleConfiguration=s3.LifecycleConfiguration(
                    Rules=[
                        s3.LifecycleRule(
                            Id="ExpireOldArtifactVersions",
                            Status="Enabled",
                            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=30),
                            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
                        )
                    ]
                ),
                Tags=tags(),
            )
        )
    )
    if ctx.config.s3_object_lock:  # as the environment's buckets: no default retention
        bucket.ObjectLockEnabled = True
    t.add_resource(
        buckets.bucket_policy(
            "MlOpsArtifactsBucketPolicy", bucket, buckets.tls_only(bucket), only_the_project_role(bucket)
        )
    )
    return bucket


def only_the_project_role(bucket: s3.Bucket):
    """Only the project's role reads or writes the artifacts (its pipeline and builds): no other principal of the
    account, whatever its IAM policies say (a deploy pipeline deploys what its artifacts say)."""
    from awacs.aws import Condition, Principal, StringNotEquals

    from templates_src.blocks import iam as iam_blocks

    return iam_blocks.deny(
        iam_blocks.actions("s3", "GetObject", "GetObjectVersion", "PutObject"),
        [buckets.objects(bucket)],
        sid="OnlyTheProjectRoleReadsAndWritesArtifacts",
        principal=Principal("*"),
        condition=Condition(StringNotEquals({"aws:PrincipalArn": role_arn()})),
    )


def repository(ctx: BuildContext, t: Template, title: str, suffix: str, seed: str, what: str):
    """The CodeCommit repository (SourceCodeProvider=CodeCommit), its first commit the seed code ``seed``; or, with
    a connected repository, the seed code's check-in (``seed_code_checkin``).

    The seed code's S3 location is a local path here; packaging points it at the release's seed-code zip."""
    seed_code_checkin(ctx, t, seed)
    return t.add_resource(
        codecommit.Repository(
            title,
            Condition=CODECOMMIT,
            RepositoryName=physical(ctx, "repository", suffix),
            RepositoryDescription=Sub(f"{what} of the SageMaker project ${{SageMakerProjectName}}"),
            Code=codecommit.Code(
                BranchName=Ref(BRANCH.name),
                S3=codecommit.S3(Bucket=env("SeedCodeS3BucketName"), Key=seed_code_path(seed)),
            ),
            Tags=tags(),
        )
    )


# The seed code check-in build (SourceCodeProvider=CodeConnection): its source is the connected repository, given
# when the core's check-in function starts it (so CodeBuild's Git credential helper has the connection's
# credentials); it pushes the seed code only to a repository without commits.  Never a force push: a commit that
# arrives meanwhile makes the push fail instead of being replaced.
SEED_CODE_RESULT = "SEED_CODE"  # exported: pushed | kept (the check-in function reads it)
CHECKIN_SUFFIX = "-seed-checkin"
CHECKIN_SCRIPT = """\
SEED_CODE=
if ! refs=$(git ls-remote "$REPOSITORY_URL"); then
  echo "cannot read $REPOSITORY_URL through the connection" >&2
elif [ -n "$refs" ]; then
  echo "$REPOSITORY_URL has commits: left as it is"
  SEED_CODE=kept
else
  seed=$(mktemp -d) &&
    aws s3 cp "s3://${SEED_CODE_BUCKET}/${SEED_CODE_KEY}" "$seed/seed.zip" --only-show-errors &&
    mkdir "$seed/tree" && unzip -q "$seed/seed.zip" -d "$seed/tree" &&
    git -C "$seed/tree" init -q -b "$REPOSITORY_BRANCH" &&
    git -C "$seed/tree" add -A &&
    git -C "$seed/tree" -c user.name="SageMaker project ${SAGEMAKER_PROJECT_NAME}" \\
      -c user.email="sagemaker-project@${SAGEMAKER_PROJECT_ID}.invalid" \\
      commit -q -m "Seed code of SageMaker project ${SAGEMAKER_PROJECT_NAME} (${SAGEMAKER_PROJECT_ID})" &&
    git -C "$seed/tree" push -q "$REPOSITORY_URL" "HEAD:refs/heads/${REPOSITORY_BRANCH}" &&
    echo "seed code pushed to $REPOSITORY_URL (${REPOSITORY_BRANCH})" &&
    SEED_CODE=pushed
fi
[ -n "$SEED_CODE" ]
"""


class _Literal(str):
    """A multi-line string written as a YAML literal block (readable in the template)."""


def _literal(dumper, value):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


def checkin_buildspec() -> str:
    """The check-in build's buildspec (bash; Git's credentials from CodeBuild's credential helper)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_Literal, _literal)
    spec = {
        "version": 0.2,
        "env": {"shell": "bash", "git-credential-helper": "yes", "exported-variables": [SEED_CODE_RESULT]},
        "phases": {"build": {"commands": [_Literal(CHECKIN_SCRIPT)]}},
    }
    return yaml.dump(spec, Dumper=Dumper, sort_keys=False, width=1000)


def seed_code_checkin(ctx: BuildContext, t: Template, seed: str) -> None:
    """With SourceCodeProvider=CodeConnection: the check-in build (in the environment's VPC, as the project's role)
    and the core function that runs it once, on creation (``templates_src/functions/seed_code_checkin.py``); the
    output SeedCode says whether the seed code was pushed or the repository left as it was."""
    checkin = t.add_resource(
        codebuild.Project(
            "SeedCodeCheckinProject",
            Condition=CONNECTION,
            Name=physical(ctx, "codebuild", CHECKIN_SUFFIX),
            Description="Pushes the seed code to the project's connected repository when it has no commits",
            ServiceRole=role_arn(),
            Artifacts=codebuild.Artifacts(Type="NO_ARTIFACTS"),
            Source=codebuild.Source(Type="NO_SOURCE", BuildSpec=checkin_buildspec()),
            Environment=codebuild.Environment(
                ComputeType="BUILD_GENERAL1_SMALL",
                Image=BUILD_IMAGE,
                Type="LINUX_CONTAINER",
                EnvironmentVariables=[
                    codebuild.EnvironmentVariable(Name=k, Value=v, Type="PLAINTEXT")
                    for k, v in {
                        "SAGEMAKER_PROJECT_NAME": Ref(PROJECT_NAME.name),
                        "SAGEMAKER_PROJECT_ID": Ref(PROJECT_ID.name),
                        "SEED_CODE_BUCKET": env("SeedCodeS3BucketName"),
                    }.items()
                ],
            ),
            VpcConfig=_vpc_config(),
            EncryptionKey=env("S3KmsKeyArn"),
            LogsConfig=codebuild.LogsConfig(CloudWatchLogs=codebuild.CloudWatchLogs(Status="ENABLED")),
            TimeoutInMinutes=10,
            Tags=tags(),
        )
    )
    export = ctx.namer.name(
        "export", "${CoreStackSetName}-" + naming.SEED_CODE_CHECKIN + "-lambda-arn", {CORE_NAME.name: CORE_NAME}
    )
    kind = type("SeedCodeCheckin", (cloudformation.CustomResource,), {"resource_type": "Custom::SeedCodeCheckin"})
    result = t.add_resource(
        kind(
            "SeedCodeCheckin",
            Condition=CONNECTION,
            ServiceToken=ImportValue(export.sub()),
            ProjectName=Ref(checkin),
            ConnectionArn=Ref(CONNECTION_ARN.name),
            RepositoryFullName=Ref(REPOSITORY.name),
            RepositoryBranch=Ref(BRANCH.name),
            SeedCode={"Bucket": env("SeedCodeS3BucketName"), "Key": seed_code_path(seed)},
        )
    )
    t.add_output(
        Output(
            "SeedCode",
            Condition=CONNECTION,
            Description="pushed: the seed code is the repository's first commit; kept: the repository had commits "
            "and was left as it is",
            Value=GetAtt(result, "SeedCode"),
        )
    )


def _vpc_config() -> codebuild.VpcConfig:
    return codebuild.VpcConfig(
        VpcId=env("VpcId"),
        Subnets=Split(",", env("SubnetIds")),
        SecurityGroupIds=Split(",", env("SecurityGroups")),
    )


def seed_code_path(seed: str) -> str:
    """How a template refers to a seed-code folder before packaging (see templates_src.references)."""
    return f"seed_code/{seed}.zip"


def source_action(repo: codecommit.Repository) -> If:
    output = [codepipeline.OutputArtifacts(Name=SOURCE_ARTIFACT)]
    return If(
        CODECOMMIT,
        codepipeline.Actions(
            Name="Source",
            RunOrder=1,
            OutputArtifacts=output,
            ActionTypeId=codepipeline.ActionTypeId(Category="Source", Owner="AWS", Provider="CodeCommit", Version="1"),
            # The push rule starts the pipeline; no polling.
            Configuration={
                "RepositoryName": GetAtt(repo, "Name"),
                "BranchName": Ref(BRANCH.name),
                "PollForSourceChanges": "false",
            },
        ),
        codepipeline.Actions(
            Name="Source",
            RunOrder=1,
            OutputArtifacts=output,
            ActionTypeId=codepipeline.ActionTypeId(
                Category="Source", Owner="AWS", Provider="CodeStarSourceConnection", Version="1"
            ),
            Configuration={
                "ConnectionArn": Ref(CONNECTION_ARN.name),
                "FullRepositoryId": Ref(REPOSITORY.name),
                "BranchName": Ref(BRANCH.name),
                "OutputArtifactFormat": "CODE_ZIP",
                "DetectChanges": "true",
            },
        ),
    )


def variables(values: dict) -> list:
    """CodeBuild environment variables, plus where pip installs from: PIP_INDEX_URL (the project's own index; empty:
    the environment's) and PACKAGE_INDEX (the environment's: PyPI, an index URL or its mirror's repository ARN),
    read by the seed code's package_index.sh."""
    values = {**values, "PIP_INDEX_URL": Ref(PIP_INDEX_URL.name), "PACKAGE_INDEX": env("PackageIndex")}
    return [codebuild.EnvironmentVariable(Name=k, Value=v, Type="PLAINTEXT") for k, v in values.items()]


def common_variables(bucket: s3.Bucket) -> dict:
    return {
        "SAGEMAKER_PROJECT_NAME": Ref(PROJECT_NAME.name),
        "SAGEMAKER_PROJECT_ID": Ref(PROJECT_ID.name),
        "ENV_NAME": env(environment.ENV_NAME_TAG),
        "ENV_TYPE": env(environment.ENV_TYPE_TAG),
        "ARTIFACT_BUCKET": Ref(bucket),
        "DATA_BUCKET": env("DataBucketName"),
        "MODEL_BUCKET": env("ModelBucketName"),
        "S3_KMS_KEY_ARN": env("S3KmsKeyArn"),
        "EBS_KMS_KEY_ARN": env("EbsKmsKeyArn"),
        "SUBNET_IDS": env("SubnetIds"),
        "SECURITY_GROUP_IDS": env("SecurityGroups"),
        "SAGEMAKER_PIPELINE_ROLE_ARN": env("PipelineExecutionRoleArn"),
    }


def build_project(
    ctx: BuildContext,
    t: Template,
    title: str,
    suffix: str,
    *,
    description: str,
    buildspec: str,
    timeout: int,
    values: dict,
) -> codebuild.Project:
    """A CodeBuild project fed by the pipeline, inside the environment's VPC (the environment's buckets accept
    requests through its S3 endpoint only), its artifacts and logs encrypted with the environment's S3 key."""
    return t.add_resource(
        codebuild.Project(
            title,
            Name=physical(ctx, "codebuild", suffix),
            Description=description,
            ServiceRole=role_arn(),
            Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
            Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec=buildspec),
            Environment=codebuild.Environment(
                ComputeType="BUILD_GENERAL1_SMALL",
                Image=BUILD_IMAGE,
                Type="LINUX_CONTAINER",
                EnvironmentVariables=variables(values),
            ),
            VpcConfig=_vpc_config(),
            EncryptionKey=env("S3KmsKeyArn"),
            LogsConfig=codebuild.LogsConfig(CloudWatchLogs=codebuild.CloudWatchLogs(Status="ENABLED")),
            TimeoutInMinutes=timeout,
            Tags=tags(),
        )
    )


def build_action(
    name: str,
    project: codebuild.Project,
    inputs: list[str],
    outputs: list[str] = (),
    run_order: int = 1,
    primary: str | None = None,
) -> codepipeline.Actions:
    configuration = {"ProjectName": Ref(project)}
    if primary:
        configuration["PrimarySource"] = primary
    return codepipeline.Actions(
        Name=name,
        RunOrder=run_order,
        ActionTypeId=codepipeline.ActionTypeId(Category="Build", Owner="AWS", Provider="CodeBuild", Version="1"),
        Configuration=configuration,
        InputArtifacts=[codepipeline.InputArtifacts(Name=n) for n in inputs],
        OutputArtifacts=[codepipeline.OutputArtifacts(Name=n) for n in outputs],
    )


def pipeline(
    ctx: BuildContext, t: Template, title: str, suffix: str, bucket: s3.Bucket, stages: list[codepipeline.Stages]
) -> codepipeline.Pipeline:
    return t.add_resource(
        codepipeline.Pipeline(
            title,
            Name=physical(ctx, "pipeline", suffix),
            RoleArn=role_arn(),
            ArtifactStore=codepipeline.ArtifactStore(
                Type="S3",
                Location=Ref(bucket),
                EncryptionKey=codepipeline.EncryptionKey(Id=env("S3KmsKeyArn"), Type="KMS"),
            ),
            RestartExecutionOnUpdate=False,
            Stages=stages,
            Tags=tags(),
        )
    )


def rule_target(ctx: BuildContext, pipe: codepipeline.Pipeline, target_id: str) -> events.Target:
    return events.Target(
        Id=target_id,
        RoleArn=role_arn(),
        Arn=Sub(f"arn:${{AWS::Partition}}:codepipeline:${{AWS::Region}}:${{AWS::AccountId}}:${{{pipe.title}}}"),
    )


def push_rule(
    ctx: BuildContext, t: Template, title: str, suffix: str, repo: codecommit.Repository, pipe: codepipeline.Pipeline
) -> events.Rule:
    """CodeCommit: a push to the branch starts the pipeline (CodeConnections detect changes themselves)."""
    return t.add_resource(
        events.Rule(
            title,
            Condition=CODECOMMIT,
            Name=physical(ctx, "rule", suffix),
            Description=Sub("Starts ${Pipeline} on a push to ${RepositoryBranch}", Pipeline=Ref(pipe)),
            EventPattern={
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Repository State Change"],
                "resources": [GetAtt(repo, "Arn")],
                "detail": {
                    "event": ["referenceCreated", "referenceUpdated"],
                    "referenceType": ["branch"],
                    "referenceName": [Ref(BRANCH.name)],
                },
            },
            State="ENABLED",
            Targets=[rule_target(ctx, pipe, "Pipeline")],
        )
    )


def outputs(t: Template, repo: codecommit.Repository, pipe: codepipeline.Pipeline, bucket: s3.Bucket) -> None:
    t.add_output(
        [
            Output(
                "RepositoryCloneUrlHttp",
                Condition=CODECOMMIT,
                Description="Clone URL of the project's repository "
                "(git-remote-codecommit: codecommit::<region>://<name>)",
                Value=GetAtt(repo, "CloneUrlHttp"),
            ),
            Output(
                "RepositoryName",
                Description="The project's repository",
                Value=If(CODECOMMIT, GetAtt(repo, "Name"), Ref(REPOSITORY.name)),
            ),
            Output("PipelineName", Description="The project's CI/CD pipeline", Value=Ref(pipe)),
            Output("ArtifactBucketName", Description="Bucket of the pipeline's artifacts", Value=Ref(bucket)),
        ]
    )
