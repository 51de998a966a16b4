"""env-iam: the IAM roles of a data science environment.

* DataScienceTeamAdministratorRole and DataScientistRole (CreateIAMUserRoles=YES): the people of the
  environment, trusted like the core's data science administrator (IAM users with MFA, sessions of the
  configured roles), never by the account root alone.  Their grants are explicit and scoped to the
  environment: Studio resources by the EnvironmentName/EnvironmentType tags the domain carries (and, with
  the domain's tag propagation, its user profiles, spaces and apps), SSM parameters and log groups by name.
* SageMakerExecutionRole (Studio, notebooks, jobs) and SageMakerPipelineExecutionRole: explicit customer
  managed policies instead of AmazonSageMakerFullAccess; this account's SageMaker resources in this region,
  the environment's buckets and the project buckets of this account.  The environment's SageMaker guardrails
  (``templates_src.blocks.guardrails``) are attached by env-main once the network and the keys exist; key use
  is granted by the key policies (env-kms).
* SageMakerModelBuildRole and SageMakerModelDeployRole: the MLOps projects' pipelines, builds and event rules,
  one role per kind of project and environment (never SageMaker's account-wide products use role).  The build
  role runs the data scientists' code (a push to a build/train repository) and holds no more than the execution
  role: the guardrails, this environment only, no approval.  The deploy role runs the deploy projects' reviewed
  code (their repositories' writes are the team administrator's) and their StackSet actions, with the model
  deployment administration role.
* StackSetAdministrationRole: may assume only the target accounts' setup role (the environment's own StackSets).
* ModelDeploymentAdministrationRole: may assume only the target accounts' model deployment StackSet execution
  role (the deploy projects' StackSets): model deployment can never run as the setup role.
* VPCFlowLogsRole (CreateVPCFlowLogsRole=YES): writes the environment's flow log group only.

Every role carries the platform permissions boundary (``templates_src.blocks.boundary``, or the configured
one), and every service trust the confused-deputy conditions its service documents.  What each persona can
reach, through any chain of roles, is proven in tests/test_escalation.py.

There is no setup function role and no Service Catalog launch role here: each function of the environment
gets its own least-privilege role where it is defined, and the project launch role is SageMaker's own
(core-iam-sc-sm-projects-roles).
"""

from __future__ import annotations

from awacs.aws import (
    ArnEquals,
    ArnEqualsIfExists,
    ArnLike,
    Condition,
    Null,
    Principal,
    StringEquals,
    StringLike,
    StringNotEquals,
)
from troposphere import And, Equals, If, Output, Ref, Sub, Template
from troposphere import Condition as TemplateCondition

from templates_src import naming, release_layout
from templates_src.blocks import boundary as platform_boundary
from templates_src.blocks import environment, package_mirror, partitions, policies, project, vpc
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.environment import ENV
from templates_src.context import BuildContext

NAME = "env-iam"
DESCRIPTION = (
    "Creates the environment's IAM roles: personas, SageMaker execution roles, StackSet administration and flow logs"
)

# -- parameters -------------------------------------------------------------------------------------------------
CREATE_USER_ROLES = params.yes_no(
    "CreateIAMUserRoles",
    "Create the persona roles of the environment (team administrator and data scientist)",
    "Create persona roles",
)
CREATE_FLOW_LOGS_ROLE = params.yes_no(
    "CreateVPCFlowLogsRole",
    "Create the role VPC flow logs use to write to the environment's CloudWatch log group",
    "Create VPC flow logs role",
)
DATA_BUCKET = environment.bucket_param(
    "DataBucketName", "Name of the environment's data bucket", "Data bucket name", required=True
)
MODEL_BUCKET = environment.bucket_param(
    "ModelBucketName", "Name of the environment's model bucket", "Model bucket name", required=True
)
SEED_CODE_BUCKET = environment.bucket_param(
    "SeedCodeS3BucketName",
    "Name of the bucket with the MLOps project seed code (read only)",
    "Seed code bucket name",
    required=True,
)
SETUP_ROLE_NAME = params.role_name_param(
    "SetupStackSetExecutionRoleName",
    "Name of the StackSet execution role created by env-iam-setup-stackset-role in the target accounts. Leave "
    "empty for that template's generated names, <prefix><EnvName>-<stage>-stackset-setup",
    "Setup StackSet execution role name",
)

USER_ROLES = "IAMUserRolesCondition"
FLOW_LOGS_ROLE = "VPCFlowLogsRoleCondition"
GENERATED_SETUP_ROLE = "GeneratedSetupStackSetExecutionRoleName"
SWITCH_ROLE_LINKS = "IAMUserRolesLinks"

# Logical ids of the roles the proofs (templates_src/checks) find personas, deployers and administrators by.
TEAM_ADMIN_ROLE_ID = "DataScienceTeamAdministratorRole"
DATA_SCIENTIST_ROLE_ID = "DataScientistRole"
MODEL_DEPLOY_ROLE_ID = "SageMakerModelDeployRole"
STACKSET_ADMINISTRATION_ROLE_ID = "StackSetAdministrationRole"
DEPLOYMENT_ADMINISTRATION_ROLE_ID = "ModelDeploymentAdministrationRole"

# The tags env-sagemaker-studio puts on the domain and its user profiles (propagated to spaces and apps):
# what the persona roles find the environment's Studio resources by.
ENVIRONMENT_TAGS = environment.TAG_PARAMETERS
STUDIO_KINDS = ("domain", "user-profile", "space", "app")
SDK_DEFAULT_BUCKET = "sagemaker-${AWS::Region}-${AWS::AccountId}"  # the SageMaker SDK's default bucket (account-wide)
PROJECT_NAMES = "sagemaker-*"  # CodeCommit repositories, pipelines and builds of SageMaker projects
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"

a, allow = iam_blocks.actions, iam_blocks.allow


# -- names and ARNs --------------------------------------------------------------------------------------------
def role_names(ctx: BuildContext) -> dict[str, naming.Name]:
    """Physical names of the roles, by suffix (the markers other policies find the roles by stay in them)."""
    names = {
        suffix: environment.role_name(ctx, suffix)
        for suffix in (
            environment.SAGEMAKER_EXECUTION,
            environment.PIPELINE_EXECUTION,
            environment.DS_TEAM_ADMIN,
            environment.DATA_SCIENTIST,
            environment.FLOW_LOGS,
            environment.MODEL_BUILD,
            environment.MODEL_DEPLOY,
        )
    }
    for marker in (naming.STACKSET_ADMINISTRATION_ROLE_MARKER, naming.DEPLOYMENT_ADMINISTRATION_ROLE_MARKER):
        names[marker] = environment.role_name(ctx, marker, regional=False)
    return names


def own_sagemaker(kind: str = "*") -> Sub:
    return BuildContext.own("sagemaker", kind if kind == "*" else f"{kind}/*")


def env_tags_condition(prefix: str = "aws:ResourceTag") -> dict:
    return {f"{prefix}/{tag}": Ref(param) for tag, param in ENVIRONMENT_TAGS.items()}


def pass_to_sagemaker(roles: list, sid: str):
    return allow(
        a("iam", "PassRole"),
        roles,
        sid=sid,
        condition=Condition(StringEquals({"iam:PassedToService": SAGEMAKER_SERVICE})),
    )


def project_trust(ctx: BuildContext):
    """The MLOps projects' roles: CodeBuild and CodePipeline (which document no confused-deputy keys for service
    roles; a role cannot be passed to another account's resources), and EventBridge rules of this account's
    projects (aws:SourceAccount and the rule's ARN, as EventBridge documents for rule targets)."""
    return iam_blocks.trust(
        iam_blocks.trust_statement(
            Principal("Service", ["codebuild.amazonaws.com", "codepipeline.amazonaws.com"]),
            sid="ProjectBuildsAndPipelines",
        ),
        iam_blocks.account_service_statement(
            "events", [ArnLike({"aws:SourceArn": ctx.own("events", f"rule/{PROJECT_NAMES}")})], sid="ProjectEventRules"
        ),
    )


# -- statements several roles share ---------------------------------------------------------------------------
def environment_parameters(ctx: BuildContext, sid: str = "EnvironmentParameters") -> list:
    return [allow(a("ssm", *policies.PARAMETER_READ_ACTIONS), ctx.own("ssm", f"parameter/{ENV}-*"), sid=sid)]


def environment_buckets(ctx: BuildContext, sdk_bucket: bool = True) -> list:
    """Read and write the environment's data and model buckets (and, ``sdk_bucket``, the SageMaker SDK's default
    bucket of the account, which SageMaker shares between everyone of the account).  No project artifact
    bucket: each belongs to its project's pipeline roles (and its bucket policy says so)."""
    env = [f"${{{DATA_BUCKET.name}}}", f"${{{MODEL_BUCKET.name}}}"] + ([SDK_DEFAULT_BUCKET] if sdk_bucket else [])
    bucket_actions = a("s3", "ListBucket", "GetBucketLocation", "ListBucketMultipartUploads")
    object_actions = a(
        "s3",
        "GetObject",
        "GetObjectVersion",
        "PutObject",
        "DeleteObject",
        "AbortMultipartUpload",
        "ListMultipartUploadParts",
    )
    return [
        allow(bucket_actions, [ctx.bucket_arn(b) for b in env], sid="EnvironmentBuckets"),
        allow(object_actions, [ctx.bucket_arn(b, "*") for b in env], sid="EnvironmentObjects"),
    ]


def job_runtime(ctx: BuildContext) -> list:
    """What SageMaker jobs running as the role need: images, logs, metrics, network interfaces in the VPC."""
    return [
        # GetAuthorizationToken has no resource type; pulls from this region's repositories (SageMaker's own
        # images live in AWS accounts).
        allow(a("ecr", "GetAuthorizationToken"), "*", sid="EcrLogin"),
        allow(
            a("ecr", "BatchCheckLayerAvailability", "BatchGetImage", "GetDownloadUrlForLayer", "DescribeImages"),
            ctx.arn("ecr", "repository/*", region="${AWS::Region}", account="*"),
            sid="EcrPull",
        ),
        allow(
            a("logs", *policies.SAGEMAKER_LOG_ACTIONS, "GetLogEvents"),
            ctx.own("logs", "log-group:/aws/sagemaker/*"),
            sid="SageMakerLogs",
        ),
        allow(a("logs", "DescribeLogGroups"), "*", sid="DescribeLogGroups"),
        # PutMetricData has no resource-level permissions; the namespace condition confines it.
        allow(
            a("cloudwatch", "PutMetricData"),
            "*",
            sid="SageMakerMetrics",
            condition=Condition(StringLike({"cloudwatch:namespace": "/aws/sagemaker/*"})),
        ),
        allow(
            a(
                "ec2",
                *policies.SAGEMAKER_INTERFACE_ACTIONS,
            ),
            ctx.own("ec2", "*"),
            sid="VpcNetworkInterfaces",
        ),
        # EC2's Describe calls have no resource-level permissions.
        allow(
            a(
                "ec2",
                "DescribeVpcs",
                "DescribeSubnets",
                "DescribeSecurityGroups",
                "DescribeNetworkInterfaces",
                "DescribeDhcpOptions",
                "DescribeVpcEndpoints",
                "DescribeRouteTables",
            ),
            "*",
            sid="VpcDescribe",
        ),
    ]


def sagemaker_read(sid: str) -> list:
    """Read-only SageMaker: descriptions of this account's resources in this region, lists and searches."""
    return [
        allow(
            a("sagemaker", "Describe*", "BatchDescribeModelPackage", "BatchGetMetrics", "ListTags"),
            own_sagemaker(),
            sid=sid,
        ),
        # Lists, searches and lineage queries (most have no resource type): metadata only.
        allow(a("sagemaker", "List*", "Search", "QueryLineage", "GetSearchSuggestions"), "*", sid=sid + "Lists"),
    ]


REPOSITORY_READS = (
    "GitPull",
    "GetRepository",
    "BatchGetRepositories",
    "GetBranch",
    "ListBranches",
    "GetCommit",
    "BatchGetCommits",
    "GetDifferences",
    "GetFile",
    "GetFolder",
    "GetBlob",
    "GetPullRequest",
    "ListPullRequests",
)
REPOSITORY_WRITES = (
    "GitPush",
    "CreateBranch",
    "CreateCommit",
    "PutFile",
    "CreatePullRequest",
    "UpdatePullRequestStatus",
    "PostCommentForPullRequest",
)


def project_repositories(
    ctx: BuildContext, write_build: bool, write_deploy: bool, sid: str = "ProjectRepositories"
) -> list:
    """The environment's project repositories (tagged with its EnvironmentName and EnvironmentType by the
    project templates): read, and write the build/train ones (``write_build``), the deploy ones
    (``write_deploy``: the team administrator's; what is pushed there is deployed to staging and production)."""
    mine = Condition(StringEquals(env_tags_condition()))
    build = ctx.own("codecommit", f"{PROJECT_NAMES}{project.BUILD_REPOSITORY_SUFFIX}")
    deploy = ctx.own("codecommit", f"{PROJECT_NAMES}{project.DEPLOY_REPOSITORY_SUFFIX}")
    writable = [r for r, w in ((build, write_build), (deploy, write_deploy)) if w]
    out = [
        allow(a("codecommit", *REPOSITORY_READS), [build, deploy], sid=sid, condition=mine),
        allow(a("codecommit", "ListRepositories"), "*", sid=sid + "List"),
    ]
    if writable:
        out.append(allow(a("codecommit", *REPOSITORY_WRITES), writable, sid=sid + "Write", condition=mine))
    return out


def only_this_environment(sid: str) -> list:
    """Nothing of another environment, or of another stage of this one (the staging and production endpoints a
    single-account deployment creates here): every SageMaker, CodeCommit, CodeBuild and CodePipeline request
    on a resource tagged for another environment or stage is denied, and so is tagging a new resource for one.
    Resources without these tags are not attributed to any environment and are not covered."""
    services = [*a("sagemaker", "*"), *a("codecommit", "*"), *a("codebuild", "*"), *a("codepipeline", "*")]
    out = []
    for tag, param in ENVIRONMENT_TAGS.items():
        for kind in ("ResourceTag", "RequestTag"):
            key = f"aws:{kind}/{tag}"
            out.append(
                iam_blocks.deny(
                    services,
                    "*",
                    sid=f"{sid}{kind}{tag}",
                    condition=Condition([Null({key: "false"}), StringNotEquals({key: Ref(param)})]),
                )
            )
    return out


def sagemaker_logs_read(ctx: BuildContext) -> list:
    return [
        allow(
            a("logs", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents"),
            [
                ctx.own("logs", f"log-group:{group}")
                for group in ("/aws/sagemaker/*", f"/aws/codebuild/{PROJECT_NAMES}")
            ],
            sid="ReadLogs",
        ),
        allow(a("logs", "DescribeLogGroups"), "*", sid="DescribeLogGroups"),
        # CloudWatch's metric and alarm reads have no resource-level permissions that fit a console.
        allow(
            a("cloudwatch", "GetMetricData", "GetMetricStatistics", "ListMetrics", "DescribeAlarms"),
            "*",
            sid="ReadMetrics",
        ),
    ]


def project_pipelines_read(ctx: BuildContext) -> list:
    mine = Condition(StringEquals(env_tags_condition()))
    return [
        allow(
            a(
                "codepipeline",
                "GetPipeline",
                "GetPipelineState",
                "GetPipelineExecution",
                "ListPipelineExecutions",
                "ListActionExecutions",
            ),
            ctx.own("codepipeline", PROJECT_NAMES),
            sid="ProjectPipelines",
            condition=mine,
        ),
        allow(a("codepipeline", "ListPipelines"), "*", sid="ListProjectPipelines"),
        allow(
            a("codebuild", "BatchGetBuilds", "BatchGetProjects", "ListBuildsForProject"),
            ctx.own("codebuild", f"project/{PROJECT_NAMES}"),
            sid="ProjectBuilds",
            condition=mine,
        ),
    ]


# Model packages are registered for approval by people, never approved by the roles that register them: the
# approval is what deploys a model to the staging and production accounts.  A request without a status (a
# metadata update) is allowed, as a negated operator holds for an absent key; one that sets Approved is not.
NOT_APPROVED = Condition(StringNotEquals({"sagemaker:ModelApprovalStatus": "Approved"}))


# -- the SageMaker execution role ---------------------------------------------------------------------------------
# SageMaker resources the role creates from Studio or the SDK, each create tagging the resource: AddTags is
# granted only as part of these creates (sagemaker:TaggingAction), so the role cannot re-tag existing resources.
EXECUTION_CREATES = (
    "CreateTrainingJob",
    "CreateProcessingJob",
    "CreateHyperParameterTuningJob",
    "CreateTransformJob",
    "CreateAutoMLJob",
    "CreateAutoMLJobV2",
    "CreateModel",
    "CreateEndpointConfig",
    "CreateEndpoint",
    "CreatePipeline",
    "CreateExperiment",
    "CreateTrial",
    "CreateTrialComponent",
    "CreateAction",
    "CreateArtifact",
    "CreateContext",
    "CreateModelPackageGroup",
    "CreateModelPackage",
    "CreateProject",
    "CreateFeatureGroup",
    "CreateSpace",
    "CreateApp",
)


def execution_statements(ctx: BuildContext) -> list:
    names = role_names(ctx)
    role_arn = {suffix: ctx.role_arn(name.pattern) for suffix, name in names.items()}
    own = own_sagemaker()
    return [
        allow(
            a(
                "sagemaker",
                "CreateTrainingJob",
                "StopTrainingJob",
                "UpdateTrainingJob",
                "CreateProcessingJob",
                "StopProcessingJob",
                "CreateHyperParameterTuningJob",
                "StopHyperParameterTuningJob",
                "ListTrainingJobsForHyperParameterTuningJob",
                "CreateTransformJob",
                "StopTransformJob",
                "CreateAutoMLJob",
                "CreateAutoMLJobV2",
                "StopAutoMLJob",
            ),
            own,
            sid="Jobs",
        ),
        allow(
            a(
                "sagemaker",
                "CreateModel",
                "DeleteModel",
                "CreateEndpointConfig",
                "DeleteEndpointConfig",
                "CreateEndpoint",
                "UpdateEndpoint",
                "UpdateEndpointWeightsAndCapacities",
                "DeleteEndpoint",
                "InvokeEndpoint",
                "InvokeEndpointAsync",
            ),
            own,
            sid="ModelsAndEndpoints",
        ),
        allow(
            a(
                "sagemaker",
                "CreatePipeline",
                "UpdatePipeline",
                "DeletePipeline",
                "StartPipelineExecution",
                "StopPipelineExecution",
                "RetryPipelineExecution",
                "UpdatePipelineExecution",
                "ListPipelineExecutionSteps",
                "ListPipelineParametersForExecution",
                "SendPipelineExecutionStepSuccess",
                "SendPipelineExecutionStepFailure",
            ),
            own,
            sid="Pipelines",
        ),
        allow(
            a(
                "sagemaker",
                "CreateExperiment",
                "UpdateExperiment",
                "DeleteExperiment",
                "CreateTrial",
                "UpdateTrial",
                "DeleteTrial",
                "CreateTrialComponent",
                "UpdateTrialComponent",
                "DeleteTrialComponent",
                "AssociateTrialComponent",
                "DisassociateTrialComponent",
                "BatchPutMetrics",
                "CreateAction",
                "UpdateAction",
                "CreateArtifact",
                "UpdateArtifact",
                "CreateContext",
                "UpdateContext",
                "AddAssociation",
                "DeleteAssociation",
            ),
            own,
            sid="ExperimentsAndLineage",
        ),
        allow(
            a("sagemaker", "CreateModelPackageGroup", "DeleteModelPackageGroup", "DeleteModelPackage"),
            own,
            sid="ModelRegistry",
        ),
        allow(
            a("sagemaker", *policies.MODEL_PACKAGE_WRITE_ACTIONS),
            own,
            sid="RegisterModelsUnapproved",
            condition=NOT_APPROVED,
        ),
        allow(a("sagemaker", *policies.SAGEMAKER_PROJECT_ACTIONS), own_sagemaker("project"), sid="Projects"),
        allow(
            a(
                "sagemaker",
                "CreateFeatureGroup",
                "UpdateFeatureGroup",
                "DeleteFeatureGroup",
                "UpdateFeatureMetadata",
                "PutRecord",
                "GetRecord",
                "BatchGetRecord",
                "DeleteRecord",
            ),
            own_sagemaker("feature-group"),
            sid="FeatureStore",
        ),
        # Studio: the user's own spaces and apps (domains and user profiles are the administrators').
        allow(
            a("sagemaker", "CreateSpace", "UpdateSpace", "DeleteSpace", "CreateApp", "DeleteApp"),
            [own_sagemaker("space"), own_sagemaker("app")],
            sid="StudioSpacesAndApps",
        ),
        allow(
            a("sagemaker", "AddTags"),
            own,
            sid="TagOnCreate",
            condition=Condition(StringEquals({"sagemaker:TaggingAction": list(EXECUTION_CREATES)})),
        ),
        # The SDK's Pipeline.upsert tags an existing pipeline when it updates it.
        allow(a("sagemaker", "AddTags"), own_sagemaker("pipeline"), sid="TagPipelines"),
        *sagemaker_read("ReadSageMaker"),
        pass_to_sagemaker(
            [role_arn[environment.SAGEMAKER_EXECUTION], role_arn[environment.PIPELINE_EXECUTION]],
            sid="PassExecutionRoles",
        ),
        # The SDK reads its own role (with its path) when it resolves the execution role.
        allow(a("iam", "GetRole"), role_arn[environment.SAGEMAKER_EXECUTION], sid="ReadOwnRole"),
        *environment_buckets(ctx),
        # The SageMaker SDK's default bucket: created on first use when it does not exist.
        allow(
            a("s3", "CreateBucket"),
            ctx.bucket_arn("sagemaker-${AWS::Region}-${AWS::AccountId}"),
            sid="SdkDefaultBucket",
        ),
        allow(
            a("s3", "ListBucket", "GetBucketLocation"),
            ctx.bucket_arn(f"${{{SEED_CODE_BUCKET.name}}}"),
            sid="SeedCodeBucket",
        ),
        # The release: seed code, and the S3 project templates Studio lists (it reads their tags:
        # sagemaker:studio-visibility).
        allow(
            a("s3", *policies.OBJECT_READ_ACTIONS, "GetObjectTagging"),
            ctx.bucket_arn(f"${{{SEED_CODE_BUCKET.name}}}", "*"),
            sid="SeedCodeObjects",
        ),
        *job_runtime(ctx),
        allow(a("cloudwatch", "GetMetricData", "GetMetricStatistics", "ListMetrics"), "*", sid="ReadMetrics"),
        *environment_parameters(ctx),
        # Project templates: SageMaker provisions them from the portfolios shared with the role (the build/train
        # portfolio; Service Catalog checks the association itself).
        *policies.service_catalog_end_user(ctx, sid="ProjectProducts"),
        # Studio users push to the environment's build/train repositories; deploy code is the team
        # administrator's (what it says is deployed to staging and production).
        *project_repositories(ctx, write_build=True, write_deploy=False),
        *only_this_environment("OnlyThisEnvironment"),
    ]


# -- the SageMaker pipeline execution role --------------------------------------------------------------------------
PIPELINE_CREATES = (
    "CreateTrainingJob",
    "CreateProcessingJob",
    "CreateHyperParameterTuningJob",
    "CreateTransformJob",
    "CreateModel",
    "CreateModelPackage",
    "CreateModelPackageGroup",
    "CreateExperiment",
    "CreateTrial",
    "CreateTrialComponent",
    "CreateAction",
    "CreateArtifact",
    "CreateContext",
)


def pipeline_statements(ctx: BuildContext) -> list:
    names = role_names(ctx)
    own = own_sagemaker()
    return [
        allow(
            a(
                "sagemaker",
                "CreateTrainingJob",
                "DescribeTrainingJob",
                "StopTrainingJob",
                "CreateProcessingJob",
                "DescribeProcessingJob",
                "StopProcessingJob",
                "CreateHyperParameterTuningJob",
                "DescribeHyperParameterTuningJob",
                "StopHyperParameterTuningJob",
                "ListTrainingJobsForHyperParameterTuningJob",
                "CreateTransformJob",
                "DescribeTransformJob",
                "StopTransformJob",
                "CreateModel",
                "DescribeModel",
            ),
            own,
            sid="PipelineJobs",
        ),
        allow(
            a("sagemaker", "CreateModelPackageGroup", "DescribeModelPackageGroup", "DescribeModelPackage"),
            own,
            sid="ModelRegistry",
        ),
        allow(a("sagemaker", "CreateModelPackage"), own, sid="RegisterModelsUnapproved", condition=NOT_APPROVED),
        allow(
            a(
                "sagemaker",
                "CreateExperiment",
                "DescribeExperiment",
                "CreateTrial",
                "DescribeTrial",
                "CreateTrialComponent",
                "DescribeTrialComponent",
                "UpdateTrialComponent",
                "AssociateTrialComponent",
                "BatchPutMetrics",
                "CreateAction",
                "DescribeAction",
                "CreateArtifact",
                "DescribeArtifact",
                "CreateContext",
                "DescribeContext",
                "AddAssociation",
            ),
            own,
            sid="ExperimentsAndLineage",
        ),
        allow(a("sagemaker", "QueryLineage"), "*", sid="QueryLineage"),
        allow(
            a("sagemaker", "AddTags"),
            own,
            sid="TagOnCreate",
            condition=Condition(StringEquals({"sagemaker:TaggingAction": list(PIPELINE_CREATES)})),
        ),
        pass_to_sagemaker([ctx.role_arn(names[environment.PIPELINE_EXECUTION].pattern)], sid="PassOwnRole"),
        *environment_buckets(ctx),
        *job_runtime(ctx),
        *environment_parameters(ctx),
        *only_this_environment("OnlyThisEnvironment"),
    ]


# -- persona roles --------------------------------------------------------------------------------------------------
def team_admin_statements(ctx: BuildContext) -> list:
    names = role_names(ctx)
    studio = [own_sagemaker(kind) for kind in STUDIO_KINDS]
    created = [own_sagemaker(kind) for kind in ("user-profile", "space")]
    mine = Condition(StringEquals(env_tags_condition()))
    return [
        # The environment's domain and everything in it, found by the environment's tags.
        allow(
            a(
                "sagemaker",
                "DescribeDomain",
                "DescribeUserProfile",
                "UpdateUserProfile",
                "DeleteUserProfile",
                "DescribeSpace",
                "UpdateSpace",
                "DeleteSpace",
                "DescribeApp",
                "DeleteApp",
                "CreatePresignedDomainUrl",
            ),
            studio,
            sid="EnvironmentStudio",
            condition=mine,
        ),
        # New user profiles and spaces must carry the environment's tags (so they stay manageable here); a
        # person's profile also carries the person (STUDIO_USER_TAG, see data_scientist_statements).
        allow(
            a("sagemaker", "CreateUserProfile", "CreateSpace"),
            created,
            sid="EnvironmentStudioCreate",
            condition=Condition(StringEquals(env_tags_condition("aws:RequestTag"))),
        ),
        allow(
            a("sagemaker", "AddTags"),
            created + [own_sagemaker("project")],
            sid="TagOnCreate",
            condition=Condition(
                StringEquals({"sagemaker:TaggingAction": ["CreateUserProfile", "CreateSpace", "CreateProject"]})
            ),
        ),
        # User profiles run as the environment's execution role.
        pass_to_sagemaker([ctx.role_arn(names[environment.SAGEMAKER_EXECUTION].pattern)], sid="PassExecutionRole"),
        allow(a("sagemaker", *policies.SAGEMAKER_PROJECT_ACTIONS), own_sagemaker("project"), sid="Projects"),
        # Project templates from the portfolios shared with the role (both kinds: only the team administrator
        # creates model deploy projects, whose code is deployed to staging and production).
        *policies.service_catalog_end_user(ctx, sid="ProjectProducts"),
        # Approving a model package (UpdateModelPackage with ModelApprovalStatus) deploys it.
        allow(
            a("sagemaker", "UpdateModelPackage", "DeleteModelPackage", "DeleteModelPackageGroup"),
            [own_sagemaker("model-package"), own_sagemaker("model-package-group")],
            sid="ModelApprovals",
        ),
        # The production deployment's manual approval in the environment's deploy pipelines.
        allow(
            a("codepipeline", "PutApprovalResult"),
            ctx.own("codepipeline", f"{PROJECT_NAMES}/*/*"),
            sid="ProductionApprovals",
            condition=mine,
        ),
        *sagemaker_read("ReadSageMaker"),
        *environment_parameters(ctx),
        allow(a("ssm", "DescribeParameters"), "*", sid="DescribeParameters"),
        *sagemaker_logs_read(ctx),
        *project_repositories(ctx, write_build=True, write_deploy=True),
        allow(
            a(
                "codecommit",
                "UpdatePullRequestApprovalState",
                "MergePullRequestBySquash",
                "MergePullRequestByFastForward",
            ),
            ctx.own("codecommit", PROJECT_NAMES),
            sid="ProjectReviews",
            condition=mine,
        ),
        *project_pipelines_read(ctx),
        *only_this_environment("OnlyThisEnvironment"),
    ]


# The tag of a person's Studio user profile: the person's source identity (sts:SourceIdentity, set when they
# assume the data scientist role: their IAM user name, or what their identity provider sets; it cannot be
# changed afterwards).  A data scientist opens only the profiles carrying their own.
STUDIO_USER_TAG = "StudioUser"


def data_scientist_statements(ctx: BuildContext) -> list:
    return [
        # Studio as the person's own user profile of the environment (tagged by the team administrator).
        allow(
            a("sagemaker", "CreatePresignedDomainUrl"),
            own_sagemaker("user-profile"),
            sid="OpenOwnStudioProfile",
            condition=Condition(
                StringEquals({**env_tags_condition(), f"aws:ResourceTag/{STUDIO_USER_TAG}": "${aws:SourceIdentity}"})
            ),
        ),
        *sagemaker_read("ReadSageMaker"),
        *environment_parameters(ctx),
        *sagemaker_logs_read(ctx),
        *project_repositories(ctx, write_build=False, write_deploy=False),
        *project_pipelines_read(ctx),
    ]


# -- the MLOps projects' roles -----------------------------------------------------------------------------------------
def codebuild_runtime(ctx: BuildContext) -> list:
    """What a project's builds need to run in the environment's VPC and log (CodeBuild in a VPC creates the
    build's network interface with the service role), and to install through the environment's package mirror
    (when it has one: the statements name its domain and repository)."""
    return [
        *package_mirror.reader_statements(),
        # The release's seed code zips: what a connected repository's check-in build pushes (blocks/project.py).
        allow(
            a("s3", "GetObject"),
            ctx.bucket_arn(f"${{{SEED_CODE_BUCKET.name}}}", f"*{release_layout.SEED_CODE_FOLDER}/*"),
            sid="SeedCodeZips",
        ),
        allow(
            a("logs", *policies.LOG_ACTIONS),
            [
                ctx.own("logs", f"log-group:/aws/codebuild/{PROJECT_NAMES}"),
                ctx.own("logs", f"log-group:/aws/codebuild/{PROJECT_NAMES}:*"),
            ],
            sid="BuildLogs",
        ),
        allow(
            a("ec2", *policies.NETWORK_INTERFACE_ACTIONS),
            ctx.own("ec2", "*"),
            sid="BuildNetworkInterfaces",
        ),
        allow(
            a(
                "ec2",
                *policies.NETWORK_DESCRIBE_ACTIONS,
            ),
            "*",
            sid="BuildNetworkDescribe",
        ),
        allow(
            a(
                "codebuild",
                *policies.BUILD_REPORT_ACTIONS,
            ),
            ctx.own("codebuild", f"report-group/{PROJECT_NAMES}"),
            sid="BuildReports",
        ),
    ]


def project_pipeline_runtime(ctx: BuildContext, repository_suffix: str, suffix: str) -> list:
    """What a project's CodePipeline pipeline and EventBridge rules do with the role: read the source (the
    environment's repositories of the project kind, or a connection), keep artifacts in the project's bucket,
    start the builds and pipelines of the project kind (``suffix``), never another kind's (a build runs as its
    project's role)."""
    mine = Condition(StringEquals(env_tags_condition()))
    # Names end with the kind's suffix (a project name may contain the other kind's: only the end tells).
    builds = [f"{PROJECT_NAMES}{suffix}"] + (
        [f"{PROJECT_NAMES}{suffix}-test"] if suffix == project.DEPLOY_SUFFIX else []
    )
    return [
        allow(
            a(
                "codecommit",
                "GetBranch",
                "GetCommit",
                "GetRepository",
                "UploadArchive",
                "GetUploadArchiveStatus",
                "CancelUploadArchive",
                "GitPull",
            ),
            ctx.own("codecommit", f"{PROJECT_NAMES}{repository_suffix}"),
            sid="Source",
            condition=mine,
        ),
        # Connected repositories: the pipeline's source action, and CodeBuild's download of (and Git credentials
        # for) a repository through a connection (the seed code check-in build).
        allow(
            policies.connection_actions("UseConnection", "GetConnection", "GetConnectionToken"),
            policies.connections(ctx.own),
            sid="SourceConnections",
        ),
        allow(
            a(
                "s3",
                "GetObject",
                "GetObjectVersion",
                "PutObject",
                "GetBucketLocation",
                "ListBucket",
                "GetBucketVersioning",
            ),
            [ctx.bucket_arn(environment.PROJECT_BUCKETS), ctx.bucket_arn(environment.PROJECT_BUCKETS, "*")],
            sid="Artifacts",
            condition=Condition(StringEquals({"s3:ResourceAccount": Ref("AWS::AccountId")})),
        ),
        allow(
            a("codebuild", "StartBuild", "BatchGetBuilds", "StopBuild"),
            [
                ctx.own("codebuild", f"{kind}/{name}{tail}")
                for name in builds
                for kind, tail in (("project", ""), ("build", ":*"))
            ],
            sid="Builds",
            condition=mine,
        ),
        allow(
            a("codepipeline", "StartPipelineExecution"),
            ctx.own("codepipeline", f"{PROJECT_NAMES}{suffix}"),
            sid="StartPipeline",
            condition=mine,
        ),
    ]


def model_build_statements(ctx: BuildContext) -> list:
    """The build/train projects' role: it runs what data scientists push, so it holds no more than the execution
    role (the environment's guardrails are attached to it too, by env-main): upsert and run the project's
    SageMaker pipeline as the pipeline role, its data in the environment's buckets, never an approval."""
    names = role_names(ctx)
    own = own_sagemaker()
    return [
        *project_pipeline_runtime(ctx, project.BUILD_REPOSITORY_SUFFIX, project.BUILD_SUFFIX),
        *codebuild_runtime(ctx),
        allow(
            a(
                "sagemaker",
                "CreatePipeline",
                "UpdatePipeline",
                "DescribePipeline",
                "DescribePipelineDefinitionForExecution",
                "StartPipelineExecution",
                "StopPipelineExecution",
                "DescribePipelineExecution",
                "ListPipelineExecutionSteps",
                "ListPipelineExecutions",
                "ListTags",
            ),
            own,
            sid="SageMakerPipelines",
        ),
        allow(a("sagemaker", "AddTags"), own_sagemaker("pipeline"), sid="TagPipelines"),
        # The project's model package group, created tagged before the first registration (run_pipeline.py).
        allow(a("sagemaker", "CreateModelPackageGroup"), own_sagemaker("model-package-group"), sid="ModelPackageGroup"),
        allow(
            a("sagemaker", "AddTags"),
            own_sagemaker("model-package-group"),
            sid="TagModelPackageGroup",
            condition=Condition(StringEquals({"sagemaker:TaggingAction": "CreateModelPackageGroup"})),
        ),
        *sagemaker_read("ReadSageMaker"),
        pass_to_sagemaker([ctx.role_arn(names[environment.PIPELINE_EXECUTION].pattern)], sid="PassPipelineRole"),
        *environment_buckets(ctx, sdk_bucket=False),
        *environment_parameters(ctx),
        *only_this_environment("OnlyThisEnvironment"),
    ]


def model_deploy_statements(ctx: BuildContext) -> list:
    """The model deploy projects' role: their builds (the newest approved package, its stage configurations and
    target accounts; the staging endpoints' test) and their pipelines' StackSet actions, administered by the
    model deployment administration role.  Its code is reviewed: only the team administrator writes the deploy
    repositories."""
    names = role_names(ctx)
    deployment_admin = ctx.role_arn(names[naming.DEPLOYMENT_ADMINISTRATION_ROLE_MARKER].pattern)
    stack_sets = [
        ctx.own("cloudformation", f"stackset/{PROJECT_NAMES}:*"),
        ctx.own("cloudformation", f"stackset-target/{PROJECT_NAMES}:*"),
        ctx.own("cloudformation", "type/resource/*"),
    ]
    return [
        *project_pipeline_runtime(ctx, project.DEPLOY_REPOSITORY_SUFFIX, project.DEPLOY_SUFFIX),
        *codebuild_runtime(ctx),
        # The build: the group's packages (the newest approved one), the group policy that lets the target
        # accounts' roles read them; the environment's parameters; the accounts of its organizational units.
        allow(a("sagemaker", "ListModelPackages"), "*", sid="ListModelPackages"),
        allow(
            a(
                "sagemaker",
                "DescribeModelPackage",
                "DescribeModelPackageGroup",
                "PutModelPackageGroupPolicy",
                "GetModelPackageGroupPolicy",
                "DeleteModelPackageGroupPolicy",
            ),
            [own_sagemaker("model-package"), own_sagemaker("model-package-group")],
            sid="ModelRegistry",
        ),
        # The accounts of its organizational units the environment set up: the stack instances of its
        # target-account StackSet (CloudFormation checks a delegated administrator's registration as the caller).
        allow(
            a("cloudformation", "ListStackInstances"),
            ctx.own("cloudformation", f"stackset/{ctx.config.prefix}ds-{ENV}-target-account-roles:*"),
            sid="TargetAccountsOfOrganizationalUnits",
        ),
        allow(a("organizations", "ListDelegatedAdministrators"), "*", sid="DelegatedAdministratorCheck"),
        *environment_parameters(ctx),
        # The test: each staging endpoint, as its account's model execution role (the development account's
        # for single-account deployments).
        allow(
            a("sts", "AssumeRole"),
            Sub(ctx.role_path_pattern(account="*") + f"*{naming.MODEL_EXECUTION_ROLE_MARKER}*"),
            sid="AssumeModelExecutionRoles",
        ),
        allow(
            a("sagemaker", "DescribeEndpoint", "InvokeEndpoint"),
            own_sagemaker("endpoint"),
            sid="TestEndpoints",
            condition=Condition(
                StringEquals({f"aws:ResourceTag/{environment.ENV_NAME_TAG}": Ref(params.ENV_NAME.name)})
            ),
        ),
        # The pipeline's StackSet actions: the endpoint StackSets of the projects, administered by the model
        # deployment administration role (and no other).  CreateStackSet is authorized on "*" only.
        # A StackSet of another environment's project (administered by its own administration role) is never
        # updated with this role: a request naming an administration role must name this environment's.
        allow(
            a("cloudformation", *(x for x in policies.STACK_SET_ACTIONS if x != "UpdateStackSet")),
            stack_sets,
            sid="ModelDeploymentStackSets",
        ),
        allow(
            a("cloudformation", "UpdateStackSet"),
            stack_sets,
            sid="ModelDeploymentStackSetUpdates",
            condition=Condition(ArnEqualsIfExists({"cloudformation:RoleArn": deployment_admin})),
        ),
        allow(
            a("cloudformation", policies.CREATE_STACK_SET),
            "*",
            sid="ModelDeploymentStackSetsCreate",
            condition=Condition(ArnEquals({"cloudformation:RoleArn": deployment_admin})),
        ),
        allow(a("cloudformation", *sorted(policies.TEMPLATE_ACTIONS)), "*", sid="Templates"),
        allow(
            a("iam", "PassRole"),
            deployment_admin,
            sid="PassDeploymentAdministrationRole",
            condition=Condition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
        ),
        allow(
            a("cloudwatch", "PutMetricData"),
            "*",
            sid="Metrics",
            condition=Condition(StringLike({"cloudwatch:namespace": "/aws/sagemaker/*"})),
        ),
    ]


# -- StackSet administration, flow logs ----------------------------------------------------------------------------
def stackset_targets(ctx: BuildContext) -> list:
    """The roles the environment's (set-up) StackSet administration role may assume: the setup role of the target
    accounts (given, or env-iam-setup-stackset-role's generated names), nothing else."""
    base = ctx.role_path_pattern(account="*")
    return [
        If(
            GENERATED_SETUP_ROLE,
            Sub(f"{base}${{EnvName}}-*-stackset-setup"),
            ctx.role_arn(f"${{{SETUP_ROLE_NAME.name}}}", account="*"),
        )
    ]


def deployment_targets(ctx: BuildContext) -> list:
    """The roles the model deployment administration role may assume: the model deployment StackSet execution
    roles of the target accounts (and of this account, for single-account deployments), found by marker."""
    return [Sub(ctx.role_path_pattern(account="*") + f"*{naming.STACKSET_EXECUTION_ROLE_MARKER}*")]


def stackset_trust(ctx: BuildContext, stack_sets: str):
    """CloudFormation administering this account's StackSets named ``stack_sets`` (aws:SourceAccount and the
    StackSet's ARN, which StackSets sets when it assumes an administration role)."""
    return iam_blocks.account_service_trust(
        "cloudformation", [ArnLike({"aws:SourceArn": ctx.arn("cloudformation", f"stackset/{stack_sets}", region="*")})]
    )


# -- roles ------------------------------------------------------------------------------------------------------------
def managed(
    ctx: BuildContext,
    t: Template,
    title: str,
    suffix: str,
    description: str,
    statements: list,
    condition: str | None = None,
) -> list[Ref]:
    """Customer managed policies (under the configured path) holding ``statements``, more than a role's inline
    policies may hold.  Named with the environment policy marker (environment.policy_name): the environment's
    launch role may create and version only such policies."""
    refs = []
    for number, policy in enumerate(iam_blocks.managed_policies(ctx, title, description, statements, t), start=1):
        policy.ManagedPolicyName = environment.policy_name(ctx, suffix, number).sub()
        if condition:
            policy.Condition = condition
        refs.append(Ref(t.add_resource(policy)))
    return refs


def boundary(ctx: BuildContext):
    """Every role here carries the platform boundary (a parameter: the core's) unless one is configured."""
    return Ref(platform_boundary.PARAMETER.name) if ctx.permissions_boundary is None else None


def persona_roles(ctx: BuildContext, t: Template) -> dict:
    names = role_names(ctx)
    admin = t.add_resource(
        iam_blocks.role(
            ctx,
            TEAM_ADMIN_ROLE_ID,
            description="Team administrator of the data science environment: Studio users, projects, model approvals",
            name=names[environment.DS_TEAM_ADMIN].sub(),
            assume=iam_blocks.administrator_trust(ctx),
            managed=managed(
                ctx,
                t,
                "DSTeamAdministratorPolicy",
                environment.DS_TEAM_ADMIN,
                "Team administrator of the environment",
                team_admin_statements(ctx),
                USER_ROLES,
            ),
            condition=USER_ROLES,
            boundary=boundary(ctx),
        )
    )
    scientist = t.add_resource(
        iam_blocks.role(
            ctx,
            DATA_SCIENTIST_ROLE_ID,
            description="Data scientist of the environment: opens Studio, reads SageMaker resources and project status",
            name=names[environment.DATA_SCIENTIST].sub(),
            assume=iam_blocks.administrator_trust(ctx),
            policies=[iam_blocks.inline("data-scientist", *data_scientist_statements(ctx))],
            condition=USER_ROLES,
            boundary=boundary(ctx),
        )
    )
    return {"admin": admin, "scientist": scientist}


def service_roles(ctx: BuildContext, t: Template) -> dict:
    names = role_names(ctx)
    bounded = boundary(ctx)
    execution = t.add_resource(
        iam_blocks.role(
            ctx,
            "SageMakerExecutionRole",
            description="Studio, notebooks and SageMaker jobs of the environment run as this role",
            name=names[environment.SAGEMAKER_EXECUTION].sub(),
            assume=iam_blocks.account_service_trust("sagemaker", source_identity=True),
            managed=managed(
                ctx,
                t,
                "SageMakerExecutionPolicy",
                environment.SAGEMAKER_EXECUTION,
                "SageMaker execution role of the environment",
                execution_statements(ctx),
            ),
            boundary=bounded,
        )
    )
    pipeline = t.add_resource(
        iam_blocks.role(
            ctx,
            "SageMakerPipelineExecutionRole",
            description="SageMaker pipelines of the environment's projects and their jobs run as this role",
            name=names[environment.PIPELINE_EXECUTION].sub(),
            assume=iam_blocks.account_service_trust("sagemaker"),
            managed=managed(
                ctx,
                t,
                "SageMakerPipelineExecutionPolicy",
                environment.PIPELINE_EXECUTION,
                "SageMaker pipeline role of the environment",
                pipeline_statements(ctx),
            ),
            boundary=bounded,
        )
    )
    build = t.add_resource(
        iam_blocks.role(
            ctx,
            "SageMakerModelBuildRole",
            description="The environment's model build/train projects (pipelines, builds, rules) run as this role",
            name=names[environment.MODEL_BUILD].sub(),
            assume=project_trust(ctx),
            managed=managed(
                ctx,
                t,
                "SageMakerModelBuildPolicy",
                environment.MODEL_BUILD,
                "Model build/train projects of the environment",
                model_build_statements(ctx),
            ),
            boundary=bounded,
        )
    )
    deploy = t.add_resource(
        iam_blocks.role(
            ctx,
            MODEL_DEPLOY_ROLE_ID,
            description="The environment's model deploy projects (pipelines, builds, rules, StackSet actions) run as "
            "this role",
            name=names[environment.MODEL_DEPLOY].sub(),
            assume=project_trust(ctx),
            managed=managed(
                ctx,
                t,
                "SageMakerModelDeployPolicy",
                environment.MODEL_DEPLOY,
                "Model deploy projects of the environment",
                model_deploy_statements(ctx),
            ),
            boundary=bounded,
        )
    )
    stackset = t.add_resource(
        iam_blocks.role(
            ctx,
            STACKSET_ADMINISTRATION_ROLE_ID,
            description="Administers the environment's own StackSets (target-account roles and networks): assumes only "
            "the target accounts' setup role",
            name=names[naming.STACKSET_ADMINISTRATION_ROLE_MARKER].sub(),
            assume=stackset_trust(ctx, f"{ctx.config.prefix}ds-{ENV}-*"),
            policies=[
                iam_blocks.inline(
                    "assume-stackset-setup-roles",
                    allow(a("sts", "AssumeRole"), stackset_targets(ctx), sid="StackSetSetupRoles"),
                )
            ],
            boundary=bounded,
        )
    )
    deployment = t.add_resource(
        iam_blocks.role(
            ctx,
            DEPLOYMENT_ADMINISTRATION_ROLE_ID,
            description="Administers the model deployment StackSets of the environment's projects: assumes only the "
            "model deployment StackSet execution roles",
            name=names[naming.DEPLOYMENT_ADMINISTRATION_ROLE_MARKER].sub(),
            assume=stackset_trust(ctx, PROJECT_NAMES),
            policies=[
                iam_blocks.inline(
                    "assume-model-deployment-roles",
                    allow(a("sts", "AssumeRole"), deployment_targets(ctx), sid="ModelDeploymentExecutionRoles"),
                )
            ],
            boundary=bounded,
        )
    )
    flow_logs = t.add_resource(
        iam_blocks.role(
            ctx,
            "VPCFlowLogsRole",
            description="VPC flow logs of the environment write to its CloudWatch log group as this role",
            name=names[environment.FLOW_LOGS].sub(),
            assume=iam_blocks.account_service_trust(
                "vpc-flow-logs", [ArnLike({"aws:SourceArn": ctx.own("ec2", "vpc-flow-log/*")})]
            ),
            policies=[iam_blocks.inline("vpc-flow-logs", *vpc.flow_logs_role_statements(ctx))],
            condition=FLOW_LOGS_ROLE,
            boundary=bounded,
        )
    )
    return {
        "execution": execution,
        "pipeline": pipeline,
        "build": build,
        "deploy": deploy,
        "stackset": stackset,
        "deployment": deployment,
        "flow_logs": flow_logs,
    }


def outputs(ctx: BuildContext, t: Template, personas: dict, services: dict) -> None:
    names = role_names(ctx)
    signin = partitions.host(t, "SignIn")
    t.add_condition(SWITCH_ROLE_LINKS, And(TemplateCondition(USER_ROLES), TemplateCondition(partitions.KNOWN)))
    path = ctx.config.role_path.lstrip("/")  # the console wants the path (without its leading slash)

    def link(suffix: str) -> Sub:
        name = names[suffix].pattern
        return Sub(
            f"https://${{Host}}/switchrole?account=${{AWS::AccountId}}&roleName={path}{name}&displayName={name}",
            Host=signin,
        )

    arn = iam_blocks.role_arn
    t.add_output(
        [
            Output(
                "AssumeTeamAdminRole",
                Condition=SWITCH_ROLE_LINKS,
                Value=link(environment.DS_TEAM_ADMIN),
                Description="Console link to switch to the environment's team administrator role",
            ),
            Output(
                "AssumeDataScientistRole",
                Condition=SWITCH_ROLE_LINKS,
                Value=link(environment.DATA_SCIENTIST),
                Description="Console link to switch to the environment's data scientist role",
            ),
            Output(
                "DSTeamAdministratorRoleArn",
                Condition=USER_ROLES,
                Value=arn(personas["admin"]),
                Description="ARN of the team administrator role",
            ),
            Output(
                "DSTeamAdministratorRoleName",
                Condition=USER_ROLES,
                Value=Ref(personas["admin"]),
                Description="Name of the team administrator role",
            ),
            Output(
                "DataScientistRoleArn",
                Condition=USER_ROLES,
                Value=arn(personas["scientist"]),
                Description="ARN of the data scientist role",
            ),
            Output(
                "DataScientistRoleName",
                Condition=USER_ROLES,
                Value=Ref(personas["scientist"]),
                Description="Name of the data scientist role",
            ),
            Output(
                "SageMakerExecutionRoleArn",
                Value=arn(services["execution"]),
                Description="ARN of the SageMaker execution role (Studio, notebooks, jobs)",
            ),
            Output(
                "SageMakerExecutionRoleName",
                Value=Ref(services["execution"]),
                Description="Name of the SageMaker execution role",
            ),
            Output(
                "SageMakerPipelineExecutionRoleArn",
                Value=arn(services["pipeline"]),
                Description="ARN of the SageMaker pipeline execution role",
            ),
            Output(
                "SageMakerPipelineExecutionRoleName",
                Value=Ref(services["pipeline"]),
                Description="Name of the SageMaker pipeline execution role",
            ),
            Output(
                "StackSetAdministrationRoleArn",
                Value=arn(services["stackset"]),
                Description="ARN of the StackSet administration role of the environment's own StackSets",
            ),
            Output(
                "ModelDeploymentAdministrationRoleArn",
                Value=arn(services["deployment"]),
                Description="ARN of the StackSet administration role of the projects' model deployments",
            ),
            Output(
                "SageMakerModelBuildRoleArn",
                Value=arn(services["build"]),
                Description="ARN of the role of the model build/train projects",
            ),
            Output(
                "SageMakerModelBuildRoleName",
                Value=Ref(services["build"]),
                Description="Name of the role of the model build/train projects",
            ),
            Output(
                "SageMakerModelDeployRoleArn",
                Value=arn(services["deploy"]),
                Description="ARN of the role of the model deploy projects",
            ),
            Output(
                "SageMakerModelDeployRoleName",
                Value=Ref(services["deploy"]),
                Description="Name of the role of the model deploy projects",
            ),
            Output(
                "VPCFlowLogsRoleArn",
                Condition=FLOW_LOGS_ROLE,
                Value=arn(services["flow_logs"]),
                Description="ARN of the VPC flow logs role",
            ),
        ]
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    bounded = [platform_boundary.PARAMETER] if ctx.permissions_boundary is None else []
    specs = [
        params.ENV_NAME,
        params.ENV_TYPE,
        CREATE_USER_ROLES,
        CREATE_FLOW_LOGS_ROLE,
        DATA_BUCKET,
        MODEL_BUCKET,
        SEED_CODE_BUCKET,
        SETUP_ROLE_NAME,
        *bounded,
    ]
    params.add(t, *specs)
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
            ("Roles to create", [CREATE_USER_ROLES, CREATE_FLOW_LOGS_ROLE, *bounded]),
            ("Buckets", [DATA_BUCKET, MODEL_BUCKET, SEED_CODE_BUCKET]),
            ("Multi-account deployment", [SETUP_ROLE_NAME]),
        ],
    )
    t.add_condition(USER_ROLES, Equals(Ref(CREATE_USER_ROLES.name), "YES"))
    t.add_condition(FLOW_LOGS_ROLE, Equals(Ref(CREATE_FLOW_LOGS_ROLE.name), "YES"))
    t.add_condition(GENERATED_SETUP_ROLE, Equals(Ref(SETUP_ROLE_NAME.name), ""))
    personas = persona_roles(ctx, t)
    services = service_roles(ctx, t)
    outputs(ctx, t, personas, services)
    return t
