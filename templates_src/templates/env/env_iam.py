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
* StackSetAdministrationRole: may assume only the StackSet execution roles of the environment's target
  accounts (found by name marker) and their setup role.
* VPCFlowLogsRole (CreateVPCFlowLogsRole=YES): writes the environment's flow log group only.

There is no setup function role and no Service Catalog launch role here: each function of the environment
gets its own least-privilege role where it is defined, and the project launch role is SageMaker's own
(core-iam-sc-sm-projects-roles).
"""

from __future__ import annotations

from awacs.aws import Allow, ArnLike, Condition, Principal, Statement, StringEquals, StringLike, StringNotEquals
from awacs.sts import AssumeRole, SetSourceIdentity
from troposphere import And, Equals, If, Output, Ref, Sub, Template
from troposphere import Condition as TemplateCondition

from templates_src import naming
from templates_src.blocks import environment, partitions
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.environment import ENV
from templates_src.context import BuildContext
from templates_src.templates.core.core_iam_shared_roles import administrator_trust
from templates_src.templates.env import env_vpc

NAME = "env-iam"
DESCRIPTION = ("Creates the environment's IAM roles: personas, SageMaker execution roles, StackSet administration "
               "and flow logs")

# -- parameters -------------------------------------------------------------------------------------------------
CREATE_USER_ROLES = params.yes_no(
    "CreateIAMUserRoles",
    "Create the persona roles of the environment (team administrator and data scientist)",
    "Create persona roles")
CREATE_FLOW_LOGS_ROLE = params.yes_no(
    "CreateVPCFlowLogsRole",
    "Create the role VPC flow logs use to write to the environment's CloudWatch log group",
    "Create VPC flow logs role")
DATA_BUCKET = environment.bucket_param(
    "DataBucketName", "Name of the environment's data bucket", "Data bucket name", required=True)
MODEL_BUCKET = environment.bucket_param(
    "ModelBucketName", "Name of the environment's model bucket", "Model bucket name", required=True)
SEED_CODE_BUCKET = environment.bucket_param(
    "SeedCodeS3BucketName", "Name of the bucket with the MLOps project seed code (read only)",
    "Seed code bucket name", required=True)
SETUP_ROLE_NAME = params.role_name_param(
    "SetupStackSetExecutionRoleName",
    "Name of the StackSet execution role created by env-iam-setup-stackset-role in the target accounts. Leave "
    "empty for that template's generated names, <prefix><EnvName>-<stage>-stackset-setup",
    "Setup StackSet execution role name")

USER_ROLES = "IAMUserRolesCondition"
FLOW_LOGS_ROLE = "VPCFlowLogsRoleCondition"
GENERATED_SETUP_ROLE = "GeneratedSetupStackSetExecutionRoleName"
SWITCH_ROLE_LINKS = "IAMUserRolesLinks"

# The tags env-sagemaker-studio puts on the domain and its user profiles (propagated to spaces and apps):
# what the persona roles find the environment's Studio resources by.
ENVIRONMENT_TAGS = {"EnvironmentName": params.ENV_NAME.name, "EnvironmentType": params.ENV_TYPE.name}
STUDIO_KINDS = ("domain", "user-profile", "space", "app")
PROJECT_BUCKETS = ("sagemaker-*", "sm-mlops-cp-*")  # SageMaker's and the MLOps projects' buckets
PROJECT_NAMES = "sagemaker-*"  # CodeCommit repositories, pipelines and builds of SageMaker projects
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"

a, allow = iam_blocks.actions, iam_blocks.allow


# -- names and ARNs --------------------------------------------------------------------------------------------
def role_names(ctx: BuildContext) -> dict[str, naming.Name]:
    """Physical names of the roles, by suffix (the markers other policies find the roles by stay in them)."""
    names = {suffix: environment.role_name(ctx, suffix) for suffix in (
        environment.SAGEMAKER_EXECUTION, environment.PIPELINE_EXECUTION, environment.DS_TEAM_ADMIN,
        environment.DATA_SCIENTIST, environment.FLOW_LOGS)}
    names[naming.STACKSET_ADMINISTRATION_ROLE_MARKER] = environment.role_name(
        ctx, naming.STACKSET_ADMINISTRATION_ROLE_MARKER, regional=False)
    return names


def own_sagemaker(kind: str = "*") -> Sub:
    return BuildContext.own("sagemaker", kind if kind == "*" else f"{kind}/*")


def env_tags_condition(prefix: str = "aws:ResourceTag") -> dict:
    return {f"{prefix}/{tag}": Ref(param) for tag, param in ENVIRONMENT_TAGS.items()}


def pass_to_sagemaker(roles: list, sid: str):
    return allow(a("iam", "PassRole"), roles, sid=sid,
                 condition=Condition(StringEquals({"iam:PassedToService": SAGEMAKER_SERVICE})))


def service_trust(service: str, extra: list | None = None, source_identity: bool = False):
    """Trust an AWS service acting for this account only (confused-deputy protection).

    ``source_identity``: the service may also set the session's source identity (Studio sets the user profile
    name, env-sagemaker-studio's ExecutionRoleIdentityConfig, so CloudTrail shows who did what).
    """
    condition = Condition([StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}), *(extra or [])])
    acts = [AssumeRole, *([SetSourceIdentity] if source_identity else [])]
    return iam_blocks.trust(Statement(Sid="ServiceForThisAccount", Effect=Allow, Action=acts,
                                      Principal=Principal("Service", [f"{service}.amazonaws.com"]),
                                      Condition=condition))


# -- statements several roles share ---------------------------------------------------------------------------
def environment_parameters(ctx: BuildContext, sid: str = "EnvironmentParameters") -> list:
    return [allow(a("ssm", "GetParameter", "GetParameters"), ctx.own("ssm", f"parameter/{ENV}-*"), sid=sid)]


def environment_buckets(ctx: BuildContext) -> list:
    """Read and write the environment's data and model buckets and this account's project buckets."""
    env = [f"${{{DATA_BUCKET.name}}}", f"${{{MODEL_BUCKET.name}}}"]
    bucket_actions = a("s3", "ListBucket", "GetBucketLocation", "ListBucketMultipartUploads")
    object_actions = a("s3", "GetObject", "GetObjectVersion", "PutObject", "DeleteObject", "AbortMultipartUpload",
                       "ListMultipartUploadParts")
    this_account = Condition(StringEquals({"s3:ResourceAccount": Ref("AWS::AccountId")}))
    return [
        allow(bucket_actions, [ctx.bucket_arn(b) for b in env], sid="EnvironmentBuckets"),
        allow(object_actions, [ctx.bucket_arn(b, "*") for b in env], sid="EnvironmentObjects"),
        allow(bucket_actions, [ctx.bucket_arn(b) for b in PROJECT_BUCKETS], sid="ProjectBuckets",
              condition=this_account),
        allow(object_actions, [ctx.bucket_arn(b, "*") for b in PROJECT_BUCKETS], sid="ProjectObjects",
              condition=this_account),
    ]


def job_runtime(ctx: BuildContext) -> list:
    """What SageMaker jobs running as the role need: images, logs, metrics, network interfaces in the VPC."""
    return [
        # GetAuthorizationToken has no resource type; pulls from this region's repositories (SageMaker's own
        # images live in AWS accounts).
        allow(a("ecr", "GetAuthorizationToken"), "*", sid="EcrLogin"),
        allow(a("ecr", "BatchCheckLayerAvailability", "BatchGetImage", "GetDownloadUrlForLayer", "DescribeImages"),
              ctx.arn("ecr", "repository/*", region="${AWS::Region}", account="*"), sid="EcrPull"),
        allow(a("logs", "CreateLogGroup", "CreateLogStream", "PutLogEvents", "DescribeLogStreams", "GetLogEvents"),
              ctx.own("logs", "log-group:/aws/sagemaker/*"), sid="SageMakerLogs"),
        allow(a("logs", "DescribeLogGroups"), "*", sid="DescribeLogGroups"),
        # PutMetricData has no resource-level permissions; the namespace condition confines it.
        allow(a("cloudwatch", "PutMetricData"), "*", sid="SageMakerMetrics",
              condition=Condition(StringLike({"cloudwatch:namespace": "/aws/sagemaker/*"}))),
        allow(a("ec2", "CreateNetworkInterface", "CreateNetworkInterfacePermission", "DeleteNetworkInterface",
                "DeleteNetworkInterfacePermission"), ctx.own("ec2", "*"), sid="VpcNetworkInterfaces"),
        # EC2's Describe calls have no resource-level permissions.
        allow(a("ec2", "DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups", "DescribeNetworkInterfaces",
                "DescribeDhcpOptions", "DescribeVpcEndpoints", "DescribeRouteTables"), "*", sid="VpcDescribe"),
    ]


def sagemaker_read(sid: str) -> list:
    """Read-only SageMaker: descriptions of this account's resources in this region, lists and searches."""
    return [
        allow(a("sagemaker", "Describe*", "BatchDescribeModelPackage", "BatchGetMetrics", "ListTags"),
              own_sagemaker(), sid=sid),
        # Lists, searches and lineage queries (most have no resource type): metadata only.
        allow(a("sagemaker", "List*", "Search", "QueryLineage", "GetSearchSuggestions"), "*", sid=sid + "Lists"),
    ]


def project_repositories(ctx: BuildContext, write: bool, sid: str = "ProjectRepositories") -> list:
    read = ("GitPull", "GetRepository", "BatchGetRepositories", "GetBranch", "ListBranches", "GetCommit",
            "BatchGetCommits", "GetDifferences", "GetFile", "GetFolder", "GetBlob", "GetPullRequest",
            "ListPullRequests")
    writes = ("GitPush", "CreateBranch", "CreateCommit", "CreatePullRequest", "UpdatePullRequestStatus",
              "PostCommentForPullRequest") if write else ()
    return [
        allow(a("codecommit", *read, *writes), ctx.own("codecommit", PROJECT_NAMES), sid=sid),
        allow(a("codecommit", "ListRepositories"), "*", sid=sid + "List"),
    ]


def sagemaker_logs_read(ctx: BuildContext) -> list:
    return [
        allow(a("logs", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents"),
              [ctx.own("logs", f"log-group:{group}")
               for group in ("/aws/sagemaker/*", f"/aws/codebuild/{PROJECT_NAMES}")],
              sid="ReadLogs"),
        allow(a("logs", "DescribeLogGroups"), "*", sid="DescribeLogGroups"),
        # CloudWatch's metric and alarm reads have no resource-level permissions that fit a console.
        allow(a("cloudwatch", "GetMetricData", "GetMetricStatistics", "ListMetrics", "DescribeAlarms"), "*",
              sid="ReadMetrics"),
    ]


def project_pipelines_read(ctx: BuildContext) -> list:
    return [
        allow(a("codepipeline", "GetPipeline", "GetPipelineState", "GetPipelineExecution", "ListPipelineExecutions",
                "ListActionExecutions"), ctx.own("codepipeline", PROJECT_NAMES), sid="ProjectPipelines"),
        allow(a("codepipeline", "ListPipelines"), "*", sid="ListProjectPipelines"),
        allow(a("codebuild", "BatchGetBuilds", "BatchGetProjects", "ListBuildsForProject"),
              ctx.own("codebuild", f"project/{PROJECT_NAMES}"), sid="ProjectBuilds"),
    ]


# Model packages are registered for approval by people, never approved by the roles that register them: the
# approval is what deploys a model to the staging and production accounts.  A request without a status (a
# metadata update) is allowed, as a negated operator holds for an absent key; one that sets Approved is not.
NOT_APPROVED = Condition(StringNotEquals({"sagemaker:ModelApprovalStatus": "Approved"}))


# -- the SageMaker execution role ---------------------------------------------------------------------------------
# SageMaker resources the role creates from Studio or the SDK, each create tagging the resource: AddTags is
# granted only as part of these creates (sagemaker:TaggingAction), so the role cannot re-tag existing resources.
EXECUTION_CREATES = ("CreateTrainingJob", "CreateProcessingJob", "CreateHyperParameterTuningJob",
                     "CreateTransformJob", "CreateAutoMLJob", "CreateAutoMLJobV2", "CreateModel",
                     "CreateEndpointConfig", "CreateEndpoint", "CreatePipeline", "CreateExperiment", "CreateTrial",
                     "CreateTrialComponent", "CreateAction", "CreateArtifact", "CreateContext",
                     "CreateModelPackageGroup", "CreateModelPackage", "CreateProject", "CreateFeatureGroup",
                     "CreateSpace", "CreateApp")


def execution_statements(ctx: BuildContext) -> list:
    names = role_names(ctx)
    role_arn = {suffix: ctx.role_arn(name.pattern) for suffix, name in names.items()}
    own = own_sagemaker()
    return [
        allow(a("sagemaker", "CreateTrainingJob", "StopTrainingJob", "UpdateTrainingJob", "CreateProcessingJob",
                "StopProcessingJob", "CreateHyperParameterTuningJob", "StopHyperParameterTuningJob",
                "ListTrainingJobsForHyperParameterTuningJob", "CreateTransformJob", "StopTransformJob",
                "CreateAutoMLJob", "CreateAutoMLJobV2", "StopAutoMLJob"), own, sid="Jobs"),
        allow(a("sagemaker", "CreateModel", "DeleteModel", "CreateEndpointConfig", "DeleteEndpointConfig",
                "CreateEndpoint", "UpdateEndpoint", "UpdateEndpointWeightsAndCapacities", "DeleteEndpoint",
                "InvokeEndpoint", "InvokeEndpointAsync"), own, sid="ModelsAndEndpoints"),
        allow(a("sagemaker", "CreatePipeline", "UpdatePipeline", "DeletePipeline", "StartPipelineExecution",
                "StopPipelineExecution", "RetryPipelineExecution", "UpdatePipelineExecution",
                "ListPipelineExecutionSteps", "ListPipelineParametersForExecution",
                "SendPipelineExecutionStepSuccess", "SendPipelineExecutionStepFailure"), own, sid="Pipelines"),
        allow(a("sagemaker", "CreateExperiment", "UpdateExperiment", "DeleteExperiment", "CreateTrial", "UpdateTrial",
                "DeleteTrial", "CreateTrialComponent", "UpdateTrialComponent", "DeleteTrialComponent",
                "AssociateTrialComponent", "DisassociateTrialComponent", "BatchPutMetrics", "CreateAction",
                "UpdateAction", "CreateArtifact", "UpdateArtifact", "CreateContext", "UpdateContext",
                "AddAssociation", "DeleteAssociation"), own, sid="ExperimentsAndLineage"),
        allow(a("sagemaker", "CreateModelPackageGroup", "DeleteModelPackageGroup", "DeleteModelPackage"), own,
              sid="ModelRegistry"),
        allow(a("sagemaker", "CreateModelPackage", "UpdateModelPackage"), own, sid="RegisterModelsUnapproved",
              condition=NOT_APPROVED),
        allow(a("sagemaker", "CreateProject", "UpdateProject", "DeleteProject"), own_sagemaker("project"),
              sid="Projects"),
        allow(a("sagemaker", "CreateFeatureGroup", "UpdateFeatureGroup", "DeleteFeatureGroup",
                "UpdateFeatureMetadata", "PutRecord", "GetRecord", "BatchGetRecord", "DeleteRecord"),
              own_sagemaker("feature-group"), sid="FeatureStore"),
        # Studio: the user's own spaces and apps (domains and user profiles are the administrators').
        allow(a("sagemaker", "CreateSpace", "UpdateSpace", "DeleteSpace", "CreateApp", "DeleteApp"),
              [own_sagemaker("space"), own_sagemaker("app")], sid="StudioSpacesAndApps"),
        allow(a("sagemaker", "AddTags"), own, sid="TagOnCreate",
              condition=Condition(StringEquals({"sagemaker:TaggingAction": list(EXECUTION_CREATES)}))),
        # The SDK's Pipeline.upsert tags an existing pipeline when it updates it.
        allow(a("sagemaker", "AddTags"), own_sagemaker("pipeline"), sid="TagPipelines"),
        *sagemaker_read("ReadSageMaker"),
        pass_to_sagemaker([role_arn[environment.SAGEMAKER_EXECUTION], role_arn[environment.PIPELINE_EXECUTION]],
                          sid="PassExecutionRoles"),
        # The SDK reads its own role (with its path) when it resolves the execution role.
        allow(a("iam", "GetRole"), role_arn[environment.SAGEMAKER_EXECUTION], sid="ReadOwnRole"),
        *environment_buckets(ctx),
        # The SageMaker SDK's default bucket: created on first use when it does not exist.
        allow(a("s3", "CreateBucket"), ctx.bucket_arn("sagemaker-${AWS::Region}-${AWS::AccountId}"),
              sid="SdkDefaultBucket"),
        allow(a("s3", "ListBucket", "GetBucketLocation"), ctx.bucket_arn(f"${{{SEED_CODE_BUCKET.name}}}"),
              sid="SeedCodeBucket"),
        allow(a("s3", "GetObject", "GetObjectVersion"), ctx.bucket_arn(f"${{{SEED_CODE_BUCKET.name}}}", "*"),
              sid="SeedCodeObjects"),
        *job_runtime(ctx),
        allow(a("cloudwatch", "GetMetricData", "GetMetricStatistics", "ListMetrics"), "*", sid="ReadMetrics"),
        *environment_parameters(ctx),
        *service_catalog_projects(ctx),
        *project_repositories(ctx, write=True),
    ]


def service_catalog_projects(ctx: BuildContext) -> list:
    """What creating SageMaker projects needs from the caller: SageMaker provisions the project template from the
    portfolios shared with the role (Service Catalog checks the portfolio association itself): the end-user
    actions, confined to the role's own provisioned products."""
    own_products = Condition(StringEquals({"servicecatalog:roleLevel": "self"}))
    return [
        allow(a("servicecatalog", "DescribeProduct", "DescribeProvisioningParameters", "DescribeProvisioningArtifact",
                "ListLaunchPaths", "ListProvisioningArtifacts", "ProvisionProduct"),
              ctx.own("catalog", "product/*"), sid="ProjectProducts"),
        allow(a("servicecatalog", "SearchProducts", "DescribeProductView", "ListAcceptedPortfolioShares"), "*",
              sid="FindProjectProducts"),
        # Provisioned products have no resource type; roleLevel=self confines these to the role's own.
        allow(a("servicecatalog", "DescribeProvisionedProduct", "DescribeRecord", "ListRecordHistory",
                "SearchProvisionedProducts", "ScanProvisionedProducts", "UpdateProvisionedProduct",
                "TerminateProvisionedProduct"), "*", sid="OwnProvisionedProjects", condition=own_products),
    ]


# -- the SageMaker pipeline execution role --------------------------------------------------------------------------
PIPELINE_CREATES = ("CreateTrainingJob", "CreateProcessingJob", "CreateHyperParameterTuningJob",
                    "CreateTransformJob", "CreateModel", "CreateModelPackage", "CreateModelPackageGroup",
                    "CreateExperiment", "CreateTrial", "CreateTrialComponent", "CreateAction", "CreateArtifact",
                    "CreateContext")


def pipeline_statements(ctx: BuildContext) -> list:
    names = role_names(ctx)
    own = own_sagemaker()
    return [
        allow(a("sagemaker", "CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "CreateProcessingJob",
                "DescribeProcessingJob", "StopProcessingJob", "CreateHyperParameterTuningJob",
                "DescribeHyperParameterTuningJob", "StopHyperParameterTuningJob",
                "ListTrainingJobsForHyperParameterTuningJob", "CreateTransformJob", "DescribeTransformJob",
                "StopTransformJob", "CreateModel", "DescribeModel"), own, sid="PipelineJobs"),
        allow(a("sagemaker", "CreateModelPackageGroup", "DescribeModelPackageGroup", "DescribeModelPackage"), own,
              sid="ModelRegistry"),
        allow(a("sagemaker", "CreateModelPackage"), own, sid="RegisterModelsUnapproved", condition=NOT_APPROVED),
        allow(a("sagemaker", "CreateExperiment", "DescribeExperiment", "CreateTrial", "DescribeTrial",
                "CreateTrialComponent", "DescribeTrialComponent", "UpdateTrialComponent", "AssociateTrialComponent",
                "BatchPutMetrics", "CreateAction", "DescribeAction", "CreateArtifact", "DescribeArtifact",
                "CreateContext", "DescribeContext", "AddAssociation"), own, sid="ExperimentsAndLineage"),
        allow(a("sagemaker", "QueryLineage"), "*", sid="QueryLineage"),
        allow(a("sagemaker", "AddTags"), own, sid="TagOnCreate",
              condition=Condition(StringEquals({"sagemaker:TaggingAction": list(PIPELINE_CREATES)}))),
        pass_to_sagemaker([ctx.role_arn(names[environment.PIPELINE_EXECUTION].pattern)], sid="PassOwnRole"),
        *environment_buckets(ctx),
        *job_runtime(ctx),
        *environment_parameters(ctx),
    ]


# -- persona roles --------------------------------------------------------------------------------------------------
def team_admin_statements(ctx: BuildContext) -> list:
    names = role_names(ctx)
    studio = [own_sagemaker(kind) for kind in STUDIO_KINDS]
    created = [own_sagemaker(kind) for kind in ("user-profile", "space")]
    return [
        # The environment's domain and everything in it, found by the environment's tags.
        allow(a("sagemaker", "DescribeDomain", "DescribeUserProfile", "UpdateUserProfile", "DeleteUserProfile",
                "DescribeSpace", "UpdateSpace", "DeleteSpace", "DescribeApp", "DeleteApp",
                "CreatePresignedDomainUrl"), studio, sid="EnvironmentStudio",
              condition=Condition(StringEquals(env_tags_condition()))),
        # New user profiles and spaces must carry the environment's tags (so they stay manageable here).
        allow(a("sagemaker", "CreateUserProfile", "CreateSpace"), created, sid="EnvironmentStudioCreate",
              condition=Condition(StringEquals(env_tags_condition("aws:RequestTag")))),
        allow(a("sagemaker", "AddTags"), created + [own_sagemaker("project")], sid="TagOnCreate",
              condition=Condition(StringEquals({"sagemaker:TaggingAction": ["CreateUserProfile", "CreateSpace",
                                                                            "CreateProject"]}))),
        # User profiles run as the environment's execution role.
        pass_to_sagemaker([ctx.role_arn(names[environment.SAGEMAKER_EXECUTION].pattern)],
                          sid="PassExecutionRole"),
        allow(a("sagemaker", "CreateProject", "UpdateProject", "DeleteProject"), own_sagemaker("project"),
              sid="Projects"),
        # Project templates from the portfolios shared with the role: Service Catalog's end-user actions, written
        # out (the environment's launch role attaches no AWS managed policies).
        *service_catalog_projects(ctx),
        # Approving a model package (UpdateModelPackage with ModelApprovalStatus) deploys it.
        allow(a("sagemaker", "UpdateModelPackage", "DeleteModelPackage", "DeleteModelPackageGroup"),
              [own_sagemaker("model-package"), own_sagemaker("model-package-group")], sid="ModelApprovals"),
        *sagemaker_read("ReadSageMaker"),
        *environment_parameters(ctx),
        allow(a("ssm", "DescribeParameters"), "*", sid="DescribeParameters"),
        *sagemaker_logs_read(ctx),
        *project_repositories(ctx, write=True),
        allow(a("codecommit", "UpdatePullRequestApprovalState", "MergePullRequestBySquash",
                "MergePullRequestByFastForward"), ctx.own("codecommit", PROJECT_NAMES), sid="ProjectReviews"),
        *project_pipelines_read(ctx),
    ]


def data_scientist_statements(ctx: BuildContext) -> list:
    return [
        # Studio as the environment's user profiles (tagged by env-sagemaker-studio or the team administrator).
        allow(a("sagemaker", "CreatePresignedDomainUrl"), own_sagemaker("user-profile"), sid="OpenStudio",
              condition=Condition(StringEquals(env_tags_condition()))),
        *sagemaker_read("ReadSageMaker"),
        *environment_parameters(ctx),
        *sagemaker_logs_read(ctx),
        *project_repositories(ctx, write=False),
        *project_pipelines_read(ctx),
    ]


# -- StackSet administration, flow logs ----------------------------------------------------------------------------
def stackset_targets(ctx: BuildContext) -> list:
    """The roles the administration role may assume: the StackSet execution roles of any account, found by marker,
    and the setup role of the target accounts (given, or env-iam-setup-stackset-role's generated names)."""
    base = ctx.role_path_pattern(account="*")
    return [
        Sub(f"{base}*{naming.STACKSET_EXECUTION_ROLE_MARKER}*"),
        If(GENERATED_SETUP_ROLE, Sub(f"{base}${{EnvName}}-*-stackset-setup"),
           ctx.role_arn(f"${{{SETUP_ROLE_NAME.name}}}", account="*")),
    ]


def flow_logs_statements(ctx: BuildContext) -> list:
    group = env_vpc.flow_logs_log_group_name(ctx).pattern
    return [
        allow(a("logs", "CreateLogStream", "PutLogEvents", "DescribeLogStreams"),
              [ctx.own("logs", f"log-group:{group}"), ctx.own("logs", f"log-group:{group}:*")],
              sid="FlowLogGroup"),
        allow(a("logs", "DescribeLogGroups"), "*", sid="DescribeLogGroups"),
    ]


# -- roles ------------------------------------------------------------------------------------------------------------
def managed(ctx: BuildContext, t: Template, title: str, suffix: str, description: str, statements: list) -> list[Ref]:
    """Customer managed policies (under the configured path) holding ``statements``, more than a role's inline
    policies may hold.  Named like the role they serve (<prefix><env>-<type>-<region>-<suffix>-<n>): the
    environment's launch role may create only policies with the configured prefix."""
    refs = []
    for number, policy in enumerate(iam_blocks.managed_policies(ctx, title, description, statements), start=1):
        policy.ManagedPolicyName = ctx.namer.name(
            "policy", f"{ENV}-${{AWS::Region}}-{suffix}-{number}", params.ENVIRONMENT).sub()
        refs.append(Ref(t.add_resource(policy)))
    return refs


def persona_roles(ctx: BuildContext, t: Template) -> dict:
    names = role_names(ctx)
    admin = t.add_resource(iam_blocks.role(
        ctx, "DataScienceTeamAdministratorRole",
        description="Team administrator of the data science environment: Studio users, projects, model approvals",
        name=names[environment.DS_TEAM_ADMIN].sub(),
        assume=administrator_trust(ctx),
        policies=[iam_blocks.inline("data-science-team-administrator", *team_admin_statements(ctx))],
        condition=USER_ROLES,
    ))
    scientist = t.add_resource(iam_blocks.role(
        ctx, "DataScientistRole",
        description="Data scientist of the environment: opens Studio, reads SageMaker resources and project status",
        name=names[environment.DATA_SCIENTIST].sub(),
        assume=administrator_trust(ctx),
        policies=[iam_blocks.inline("data-scientist", *data_scientist_statements(ctx))],
        condition=USER_ROLES,
    ))
    return {"admin": admin, "scientist": scientist}


def service_roles(ctx: BuildContext, t: Template) -> dict:
    names = role_names(ctx)
    execution = t.add_resource(iam_blocks.role(
        ctx, "SageMakerExecutionRole",
        description="Studio, notebooks and SageMaker jobs of the environment run as this role",
        name=names[environment.SAGEMAKER_EXECUTION].sub(),
        assume=service_trust("sagemaker", source_identity=True),
        managed=managed(ctx, t, "SageMakerExecutionPolicy", environment.SAGEMAKER_EXECUTION,
                        "SageMaker execution role of the environment", execution_statements(ctx)),
    ))
    pipeline = t.add_resource(iam_blocks.role(
        ctx, "SageMakerPipelineExecutionRole",
        description="SageMaker pipelines of the environment's projects and their jobs run as this role",
        name=names[environment.PIPELINE_EXECUTION].sub(),
        assume=service_trust("sagemaker"),
        managed=managed(ctx, t, "SageMakerPipelineExecutionPolicy", environment.PIPELINE_EXECUTION,
                        "SageMaker pipeline role of the environment", pipeline_statements(ctx)),
    ))
    stackset = t.add_resource(iam_blocks.role(
        ctx, "StackSetAdministrationRole",
        description="Administers the environment's self-managed StackSets in the target accounts",
        name=names[naming.STACKSET_ADMINISTRATION_ROLE_MARKER].sub(),
        assume=service_trust("cloudformation"),
        policies=[iam_blocks.inline("assume-stackset-execution-roles", allow(
            a("sts", "AssumeRole"), stackset_targets(ctx), sid="StackSetExecutionRoles"))],
    ))
    flow_logs = t.add_resource(iam_blocks.role(
        ctx, "VPCFlowLogsRole",
        description="VPC flow logs of the environment write to its CloudWatch log group as this role",
        name=names[environment.FLOW_LOGS].sub(),
        assume=service_trust("vpc-flow-logs", [ArnLike({"aws:SourceArn": ctx.own("ec2", "vpc-flow-log/*")})]),
        policies=[iam_blocks.inline("vpc-flow-logs", *flow_logs_statements(ctx))],
        condition=FLOW_LOGS_ROLE,
    ))
    return {"execution": execution, "pipeline": pipeline, "stackset": stackset, "flow_logs": flow_logs}


def outputs(ctx: BuildContext, t: Template, personas: dict, services: dict) -> None:
    names = role_names(ctx)
    signin = partitions.host(t, "SignIn")
    t.add_condition(SWITCH_ROLE_LINKS, And(TemplateCondition(USER_ROLES), TemplateCondition(partitions.KNOWN)))
    path = ctx.config.role_path.lstrip("/")  # the console wants the path (without its leading slash)

    def link(suffix: str) -> Sub:
        name = names[suffix].pattern
        return Sub(f"https://${{Host}}/switchrole?account=${{AWS::AccountId}}&roleName={path}{name}"
                   f"&displayName={name}", Host=signin)

    arn = iam_blocks.role_arn
    t.add_output([
        Output("AssumeTeamAdminRole", Condition=SWITCH_ROLE_LINKS, Value=link(environment.DS_TEAM_ADMIN),
               Description="Console link to switch to the environment's team administrator role"),
        Output("AssumeDataScientistRole", Condition=SWITCH_ROLE_LINKS, Value=link(environment.DATA_SCIENTIST),
               Description="Console link to switch to the environment's data scientist role"),
        Output("DSTeamAdministratorRoleArn", Condition=USER_ROLES, Value=arn(personas["admin"]),
               Description="ARN of the team administrator role"),
        Output("DSTeamAdministratorRoleName", Condition=USER_ROLES, Value=Ref(personas["admin"]),
               Description="Name of the team administrator role"),
        Output("DataScientistRoleArn", Condition=USER_ROLES, Value=arn(personas["scientist"]),
               Description="ARN of the data scientist role"),
        Output("DataScientistRoleName", Condition=USER_ROLES, Value=Ref(personas["scientist"]),
               Description="Name of the data scientist role"),
        Output("SageMakerExecutionRoleArn", Value=arn(services["execution"]),
               Description="ARN of the SageMaker execution role (Studio, notebooks, jobs)"),
        Output("SageMakerExecutionRoleName", Value=Ref(services["execution"]),
               Description="Name of the SageMaker execution role"),
        Output("SageMakerPipelineExecutionRoleArn", Value=arn(services["pipeline"]),
               Description="ARN of the SageMaker pipeline execution role"),
        Output("SageMakerPipelineExecutionRoleName", Value=Ref(services["pipeline"]),
               Description="Name of the SageMaker pipeline execution role"),
        Output("StackSetAdministrationRoleArn", Value=arn(services["stackset"]),
               Description="ARN of the StackSet administration role (AdministrationRoleARN of the StackSets)"),
        Output("VPCFlowLogsRoleArn", Condition=FLOW_LOGS_ROLE, Value=arn(services["flow_logs"]),
               Description="ARN of the VPC flow logs role"),
    ])


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    specs = [params.ENV_NAME, params.ENV_TYPE, CREATE_USER_ROLES, CREATE_FLOW_LOGS_ROLE, DATA_BUCKET, MODEL_BUCKET,
             SEED_CODE_BUCKET, SETUP_ROLE_NAME]
    params.add(t, *specs)
    params.interface(t, [
        ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
        ("Roles to create", [CREATE_USER_ROLES, CREATE_FLOW_LOGS_ROLE]),
        ("Buckets", [DATA_BUCKET, MODEL_BUCKET, SEED_CODE_BUCKET]),
        ("Multi-account deployment", [SETUP_ROLE_NAME]),
    ])
    t.add_condition(USER_ROLES, Equals(Ref(CREATE_USER_ROLES.name), "YES"))
    t.add_condition(FLOW_LOGS_ROLE, Equals(Ref(CREATE_FLOW_LOGS_ROLE.name), "YES"))
    t.add_condition(GENERATED_SETUP_ROLE, Equals(Ref(SETUP_ROLE_NAME.name), ""))
    personas = persona_roles(ctx, t)
    services = service_roles(ctx, t)
    outputs(ctx, t, personas, services)
    return t

