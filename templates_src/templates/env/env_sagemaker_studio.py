"""env-sagemaker-studio: the environment's SageMaker Studio domain (the current Studio, VPC only, IAM auth).

* The domain: VPC-only apps in the environment's private subnets and security groups, storage encrypted with the
  environment's Studio key, the Studio web portal with JupyterLab and Code Editor (Studio Classic hidden), the
  user profile name as ``sts:SourceIdentity`` of the execution role's sessions (CloudTrail shows who did what),
  tags EnvironmentName/EnvironmentType (the core's environment configuration function reads them) propagated
  to the apps and spaces users create.
* A default user profile, and the domain id in SSM (``<env>-<type>-sagemaker-domain-id``).
* SageMaker Projects enabled in the account and region (custom resource EnableSageMakerProjects); the
  environment's roles use its own project templates (env-sc-portfolio), not SageMaker's, which run as SageMaker's
  account-wide products use role.
* No home file system by default (``CreateStudioHomeFileSystem`` NO: ``HomeEfsFileSystemCreation: Disabled``):
  each JupyterLab and Code Editor space keeps its files on its own EBS volume (encrypted with the Studio key),
  and no EFS file system, mount targets or NFS security groups exist, so the domain is created sooner and
  deleting the environment leaves nothing in the VPC.  YES keeps the shared home file system of earlier
  releases (Studio Classic's model) for teams that need one.
* Clean deletion without manual steps: StudioAppsCleanup (deleted before the user profile and the domain)
  removes what users created in the domain; with a home file system, HomeFileSystemRelease (after the domain)
  removes its mount targets and SageMaker's NFS security groups, so the network stack can be deleted; the file
  system itself is kept.

No Studio Classic: no JupyterServer or KernelGateway apps (``AWS::SageMaker::App`` can create only those).
"""

from __future__ import annotations

from awacs.aws import ArnEquals, Condition, StringLike
from troposphere import Equals, Export, GetAtt, If, Not, Output, Ref, Sub, Tags, Template, sagemaker, ssm

from templates_src import naming
from templates_src.blocks import boundary as platform_boundary
from templates_src.blocks import custom_resource as cr
from templates_src.blocks import environment
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ENVIRONMENT, ParamSpec
from templates_src.context import BuildContext

NAME = "env-sagemaker-studio"
DESCRIPTION = "Creates the environment's VPC-only SageMaker Studio domain with SageMaker Projects enabled"

# SageMaker's rule for domain and user profile names.
SAGEMAKER_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
SAGEMAKER_NAME_LIMIT = 63
DOMAIN_NAME = ParamSpec(
    "DomainName",
    "Name of the Studio domain. Leave empty for <EnvName>-<EnvType>",
    "Studio domain name",
    default="",
    allowed_pattern=params.optional(SAGEMAKER_NAME),
    max_length=63,
    constraint="up to 63 letters, digits and hyphens, starting with a letter or digit, not ending with a hyphen, "
    "or empty",
)
USER_PROFILE_NAME = ParamSpec(
    "UserProfileName",
    "Name of the default user profile. Leave empty for <EnvName>-<EnvType>-default",
    "Default user profile name",
    default="",
    allowed_pattern=params.optional(SAGEMAKER_NAME),
    max_length=63,
    constraint="up to 63 letters, digits and hyphens, starting with a letter or digit, not ending with a hyphen, "
    "or empty",
)
VPC_ID = ParamSpec(
    "VPCId", "VPC of the Studio domain (its apps run there without internet access)", "VPC", type="AWS::EC2::VPC::Id"
)
SUBNET_IDS = ParamSpec(
    "SageMakerStudioSubnetIds",
    "Private subnets of the VPC for the Studio apps, comma-separated",
    "Studio subnets",
    type="CommaDelimitedList",
)
SECURITY_GROUP_IDS = ParamSpec(
    "SageMakerSecurityGroupIds",
    "Security groups of the Studio apps and spaces, comma-separated (at most 4: "
    "SageMaker adds its own NFS security group for the home file system)",
    "Studio security groups",
    type="CommaDelimitedList",
)
STORAGE_KEY = environment.kms_key_arn_param(
    "SageMakerStudioStorageKMSKeyId",
    "ARN of the KMS key that encrypts the Studio home file system and the spaces' storage volumes",
    "Studio storage KMS key ARN",
)
NETWORK_ACCESS = ParamSpec(
    "NetworkAccessType",
    "Network access of the Studio apps: VPC only (no direct internet access)",
    "Network access type",
    default="VpcOnly",
    allowed_values=("VpcOnly",),
    constraint="must be VpcOnly: the environment's Studio apps reach only the VPC (PublicInternetOnly is not offered)",
)
AUTH_MODE = ParamSpec(
    "AuthMode",
    "How users sign in to Studio: IAM (presigned URLs for IAM principals)",
    "Authentication mode",
    default="IAM",
    allowed_values=("IAM",),
    constraint="must be IAM (IAM Identity Center domains are not offered by this template)",
)
EXECUTION_ROLE_ARN = params.role_arn_param(
    "SageMakerExecutionRoleArn",
    "Execution role of the Studio users, spaces and jobs; it may use SageMaker's project templates",
    "SageMaker execution role ARN",
    required=True,
)
HOME_FILE_SYSTEM = params.yes_no(
    "CreateStudioHomeFileSystem",
    "Create a home file system (EFS) shared by the domain's users. NO: each JupyterLab and Code Editor space "
    "keeps its files on its own EBS volume, and no file system, mount targets or NFS security groups exist",
    "Studio home file system (EFS)",
    default="NO",
)
# Studio lists S3 project templates from the location its domain's tag names (AWS's S3 project templates).
PROJECT_TEMPLATES_TAG = "sagemaker:projectS3TemplatesLocation"
PROJECT_TEMPLATES_LOCATION = ParamSpec(
    "ProjectTemplatesS3Location",
    "Where Studio lists the MLOps project templates from as S3 project templates (the domain's "
    f"{PROJECT_TEMPLATES_TAG} tag): the folder of the release, set by packaging. Empty: Studio offers "
    "the Service Catalog project templates only",
    "S3 project templates location",
    default="",
    allowed_pattern=r"^$|^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([^\s]+/)?$",
    max_length=1024,
    constraint="empty, or an S3 folder like s3://bucket/prefix/releases/1.2.0/ (ending with /)",
)
SETUP_ROLE_ARN = params.role_arn_param(
    "SetupLambdaExecutionRoleArn",
    "Role of this stack's set-up functions. Leave empty to give each function its "
    "own least-privilege role; a role given here needs the permissions of all three",
    "Set-up function role ARN",
)

HOME_FS = "CreateHomeFileSystem"
HAS_PROJECT_TEMPLATES = "HasS3ProjectTemplates"
GENERATE_DOMAIN_NAME = "GenerateDomainName"
GENERATE_USER_PROFILE_NAME = "GenerateUserProfileName"
CREATE_FUNCTION_ROLES = "CreateFunctionRoles"

# Defaults of the users' apps and spaces (users may choose other instance types and sizes within the limits).
DEFAULT_INSTANCE_TYPE = "ml.t3.medium"
DEFAULT_EBS_GB, MAXIMUM_EBS_GB = 5, 100
IDLE_MINUTES, MIN_IDLE_MINUTES, MAX_IDLE_MINUTES = 120, 60, 720
HIDDEN_APP_TYPES = ["JupyterServer"]  # Studio Classic
FUNCTION_TIMEOUT = 900  # the cleanups wait up to 780 s (studio_cleanup.BUDGET); the runtime answers in time

SPECS = [
    params.ENV_NAME,
    params.ENV_TYPE,
    DOMAIN_NAME,
    USER_PROFILE_NAME,
    AUTH_MODE,
    NETWORK_ACCESS,
    VPC_ID,
    SUBNET_IDS,
    SECURITY_GROUP_IDS,
    HOME_FILE_SYSTEM,
    STORAGE_KEY,
    EXECUTION_ROLE_ARN,
    SETUP_ROLE_ARN,
]
ENV_TAGS = environment.tags()
DOMAIN_RESOURCE = "SageMakerStudioDomain"  # the domain's logical id


def _conditions(t: Template) -> None:
    t.add_condition(GENERATE_DOMAIN_NAME, Equals(Ref(DOMAIN_NAME.name), ""))
    t.add_condition(GENERATE_USER_PROFILE_NAME, Equals(Ref(USER_PROFILE_NAME.name), ""))
    t.add_condition(CREATE_FUNCTION_ROLES, Equals(Ref(SETUP_ROLE_ARN.name), ""))
    t.add_condition(HOME_FS, Equals(Ref(HOME_FILE_SYSTEM.name), "YES"))
    t.add_condition(HAS_PROJECT_TEMPLATES, Not(Equals(Ref(PROJECT_TEMPLATES_LOCATION.name), "")))


def _sagemaker_name(pattern: str) -> Sub:
    """A generated domain or user profile name (SageMaker allows 63 characters; no prefix: it is not an IAM
    or account-wide name that SCPs match)."""
    if naming.worst_case_length(pattern, ENVIRONMENT) > SAGEMAKER_NAME_LIMIT:
        raise ValueError(f"SageMaker name {pattern!r} can exceed {SAGEMAKER_NAME_LIMIT} characters")
    return Sub(pattern)


def domain_name():
    return If(GENERATE_DOMAIN_NAME, _sagemaker_name(environment.ENV), Ref(DOMAIN_NAME.name))


def user_profile_name():
    return If(GENERATE_USER_PROFILE_NAME, _sagemaker_name(f"{environment.ENV}-default"), Ref(USER_PROFILE_NAME.name))


def _app_settings(kind):
    return kind(
        DefaultResourceSpec=sagemaker.ResourceSpec(InstanceType=DEFAULT_INSTANCE_TYPE),
        AppLifecycleManagement=sagemaker.AppLifecycleManagement(
            IdleSettings=sagemaker.IdleSettings(
                LifecycleManagement="ENABLED",
                IdleTimeoutInMinutes=IDLE_MINUTES,
                MinIdleTimeoutInMinutes=MIN_IDLE_MINUTES,
                MaxIdleTimeoutInMinutes=MAX_IDLE_MINUTES,
            )
        ),
    )


def _storage():
    return sagemaker.DefaultSpaceStorageSettings(
        DefaultEbsStorageSettings=sagemaker.DefaultEbsStorageSettings(
            DefaultEbsVolumeSizeInGb=DEFAULT_EBS_GB, MaximumEbsVolumeSizeInGb=MAXIMUM_EBS_GB
        )
    )


def domain(ctx: BuildContext, t: Template, release) -> sagemaker.Domain:
    role, groups = Ref(EXECUTION_ROLE_ARN.name), Ref(SECURITY_GROUP_IDS.name)
    return t.add_resource(
        sagemaker.Domain(
            DOMAIN_RESOURCE,
            DomainName=domain_name(),
            # With a home file system, "Enabled" comes from HomeFileSystemRelease: the domain is created after it
            # and deleted before it (see module docstring).  Without one that resource does not exist and the
            # domain waits for nothing of this stack.
            HomeEfsFileSystemCreation=If(HOME_FS, GetAtt(release, "HomeEfsFileSystemCreation"), "Disabled"),
            AuthMode=Ref(AUTH_MODE.name),
            AppNetworkAccessType=Ref(NETWORK_ACCESS.name),
            VpcId=Ref(VPC_ID.name),
            SubnetIds=Ref(SUBNET_IDS.name),
            KmsKeyId=Ref(STORAGE_KEY.name),
            DefaultUserSettings=sagemaker.UserSettings(
                ExecutionRole=role,
                SecurityGroups=groups,
                StudioWebPortal="ENABLED",
                DefaultLandingUri="studio::",
                StudioWebPortalSettings=sagemaker.StudioWebPortalSettings(HiddenAppTypes=HIDDEN_APP_TYPES),
                JupyterLabAppSettings=_app_settings(sagemaker.JupyterLabAppSettings),
                CodeEditorAppSettings=_app_settings(sagemaker.CodeEditorAppSettings),
                SpaceStorageSettings=_storage(),
            ),
            DefaultSpaceSettings=sagemaker.DefaultSpaceSettings(
                ExecutionRole=role,
                SecurityGroups=groups,
                JupyterLabAppSettings=_app_settings(sagemaker.JupyterLabAppSettings),
                SpaceStorageSettings=_storage(),
            ),
            # The execution role's sessions carry the user profile name as sts:SourceIdentity (audit); the role's
            # trust policy must allow sts:SetSourceIdentity to SageMaker (env-iam).
            DomainSettings=sagemaker.DomainSettings(ExecutionRoleIdentityConfig="USER_PROFILE_NAME"),
            TagPropagation="ENABLED",
            # The environment's tags, and where Studio lists the S3 project templates from (when a location is set).
            Tags=Tags(**ENV_TAGS)
            + Tags(
                If(
                    HAS_PROJECT_TEMPLATES,
                    {"Key": PROJECT_TEMPLATES_TAG, "Value": Ref(PROJECT_TEMPLATES_LOCATION.name)},
                    Ref("AWS::NoValue"),
                )
            ),
        )
    )


def user_profile(ctx: BuildContext, t: Template, studio) -> sagemaker.UserProfile:
    return t.add_resource(
        sagemaker.UserProfile(
            "SageMakerStudioUserProfile",
            DomainId=GetAtt(studio, "DomainId"),
            UserProfileName=user_profile_name(),
            # No UserSettings: the profile runs with the domain's defaults (execution role, security groups).  AWS's
            # migration of a domain into SageMaker Unified Studio requires user profiles without an execution role
            # of their own.
            Tags=Tags(**ENV_TAGS),
        )
    )


def _function_name(ctx: BuildContext, suffix: str):
    return ctx.namer.name("function", f"{environment.ENV}-{suffix}", ENVIRONMENT)


# Function roles are named (<prefix><env>-<type>-<region>-fn-...): the environment launch role creates roles
# only under the platform's name prefix and path.
ROLE_SUFFIXES = {
    "EnableSageMakerProjectsLambda": "fn-projects",
    "StudioAppsCleanupLambda": "fn-apps-cleanup",
    "HomeFileSystemReleaseLambda": "fn-efs-release",
}


def _function(ctx: BuildContext, t: Template, title: str, **kwargs) -> cr.LambdaFunction:
    # The function roles carry the platform boundary (every role the environment launch role creates does).
    bounded = Ref(platform_boundary.PARAMETER.name) if ctx.permissions_boundary is None else None
    return cr.lambda_function(
        ctx,
        t,
        title,
        role_condition=CREATE_FUNCTION_ROLES,
        fallback_role_arn=Ref(SETUP_ROLE_ARN.name),
        role_name=environment.role_name(ctx, ROLE_SUFFIXES[title]),
        boundary=bounded,
        **kwargs,
    )


def enable_projects_statements(ctx: BuildContext) -> list:
    # SageMaker's portfolio is owned by an AWS account and shared with this one: its ARN names that account,
    # which differs by region and partition, so only the account part is a wildcard.
    sagemaker_portfolio = ctx.arn("catalog", "portfolio/*", region="${AWS::Region}", account="*")
    return [
        # No resource type in IAM's action table for these two: authorized on "*" only.
        iam_blocks.allow(
            iam_blocks.actions("sagemaker", "EnableSagemakerServicecatalogPortfolio"),
            "*",
            sid="EnableSageMakerProjects",
        ),
        iam_blocks.allow(
            iam_blocks.actions("servicecatalog", "ListAcceptedPortfolioShares"), "*", sid="FindSageMakerPortfolio"
        ),
        # Disassociates the principals earlier versions associated (the environment associates none now).
        iam_blocks.allow(
            iam_blocks.actions("servicecatalog", "AcceptPortfolioShare", "DisassociatePrincipalFromPortfolio"),
            sagemaker_portfolio,
            sid="SageMakerPortfolioPrincipals",
        ),
    ]


def enable_projects(ctx: BuildContext, t: Template) -> None:
    fn = _function(
        ctx,
        t,
        "EnableSageMakerProjectsLambda",
        module="enable_sagemaker_projects",
        description="Enables SageMaker Projects in the account and region",
        name=_function_name(ctx, "enable-sm-projects"),
        statements=enable_projects_statements(ctx),
        timeout=120,
    )
    # No principal of the environment uses SageMaker's own project templates (they run as SageMaker's account-wide
    # products use role, which reaches every environment): the environment's portfolios offer its own.  Principals
    # associated by earlier versions are disassociated on the update.
    cr.custom_resource(t, "EnableSageMakerProjects", "Custom::EnableSageMakerProjects", fn, PrincipalArns=[])


def apps_cleanup_statements(ctx: BuildContext) -> list:
    own = lambda kind: ctx.own("sagemaker", f"{kind}/*")  # noqa: E731
    # Any domain of this account and region, not only today's: a replaced domain changes the resource's DomainId
    # (its physical id stays), and the Delete of a stack deletion names the domain of its latest properties.
    return [
        # The handler deletes users' data only while this stack (the one holding the resource: the event's
        # StackId) is being deleted, and asks CloudFormation for its status; no other stack.
        iam_blocks.allow(
            iam_blocks.actions("cloudformation", "DescribeStacks"), Ref("AWS::StackId"), sid="OwnStackStatus"
        ),
        iam_blocks.allow(
            iam_blocks.actions("sagemaker", "ListApps", "ListSpaces", "ListUserProfiles"), "*", sid="ListDomainContents"
        ),
        iam_blocks.allow(iam_blocks.actions("sagemaker", "DescribeDomain"), own("domain"), sid="DescribeDomains"),
        iam_blocks.allow(iam_blocks.actions("sagemaker", "DeleteApp"), own("app"), sid="DeleteApps"),
        iam_blocks.allow(iam_blocks.actions("sagemaker", "DeleteSpace"), own("space"), sid="DeleteSpaces"),
        iam_blocks.allow(
            iam_blocks.actions("sagemaker", "DeleteUserProfile"), own("user-profile"), sid="DeleteUserProfiles"
        ),
    ]


def release_statements(ctx: BuildContext) -> list:
    in_vpc = Condition(ArnEquals({"ec2:Vpc": ctx.own("ec2", "vpc/${VPCId}")}))
    sagemaker_managed = Condition(
        StringLike({f"aws:ResourceTag/{environment.SAGEMAKER_HOME_FS_TAG}": ctx.own("sagemaker", "domain/*")})
    )
    file_systems = ctx.own("elasticfilesystem", "file-system/*")
    return [
        iam_blocks.allow(
            iam_blocks.actions("elasticfilesystem", "DescribeFileSystems", "DescribeMountTargets"),
            file_systems,
            sid="FindHomeFileSystems",
        ),
        # Only the file systems SageMaker created for a domain; DeleteFileSystem is never granted.
        iam_blocks.allow(
            iam_blocks.actions("elasticfilesystem", "DeleteMountTarget"),
            file_systems,
            sid="DeleteHomeMountTargets",
            condition=sagemaker_managed,
        ),
        # DeleteMountTarget also deletes the mount target's network interface with the caller's permissions.
        iam_blocks.allow(
            iam_blocks.actions("ec2", "DeleteNetworkInterface"),
            ctx.own("ec2", "network-interface/*"),
            sid="MountTargetInterfaces",
            condition=in_vpc,
        ),
        iam_blocks.allow(
            iam_blocks.actions("sagemaker", "DescribeDomain"), ctx.own("sagemaker", "domain/*"), sid="DomainGone"
        ),
        iam_blocks.allow(iam_blocks.actions("ec2", "DescribeSecurityGroups"), "*", sid="FindNfsSecurityGroups"),
        iam_blocks.allow(
            iam_blocks.actions("ec2", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "DeleteSecurityGroup"),
            ctx.own("ec2", "security-group/*"),
            sid="DeleteNfsSecurityGroups",
            condition=in_vpc,
        ),
    ]


def release(ctx: BuildContext, t: Template):
    fn = _function(
        ctx,
        t,
        "HomeFileSystemReleaseLambda",
        condition=HOME_FS,
        module="studio_cleanup",
        description="After the Studio domain is deleted, removes its home file system's mount targets "
        "and NFS security groups (the file system is kept)",
        name=_function_name(ctx, "studio-efs-release"),
        statements=release_statements(ctx),
        timeout=FUNCTION_TIMEOUT,
    )
    return cr.custom_resource(
        t, "HomeFileSystemRelease", "Custom::HomeFileSystemRelease", fn, condition=HOME_FS, VpcId=Ref(VPC_ID.name)
    )


def apps_cleanup(ctx: BuildContext, t: Template, studio, profile) -> None:
    fn = _function(
        ctx,
        t,
        "StudioAppsCleanupLambda",
        module="studio_cleanup",
        description="Before the Studio domain is deleted, deletes the apps, spaces and user profiles its users created",
        name=_function_name(ctx, "studio-apps-cleanup"),
        statements=apps_cleanup_statements(ctx),
        timeout=FUNCTION_TIMEOUT,
    )
    cleanup = cr.custom_resource(
        t,
        "StudioAppsCleanup",
        "Custom::StudioAppsCleanup",
        fn,
        DomainId=GetAtt(studio, "DomainId"),
        KeepUserProfiles=[user_profile_name()],
    )
    # The domain through DomainId; the user profile explicitly: CloudFormation deletes this resource first.
    cleanup.DependsOn = [*cleanup.DependsOn, profile.title]


def _outputs(ctx: BuildContext, t: Template, studio, profile) -> None:
    export = ctx.namer.name("export", f"{environment.ENV}-sagemaker-domain-id", ENVIRONMENT)
    t.add_output(
        [
            Output(
                "SageMakerDomainId",
                Description="SageMaker Studio domain id",
                Value=GetAtt(studio, "DomainId"),
                Export=Export(export.sub()),
            ),
            Output("SageMakerDomainArn", Description="SageMaker Studio domain ARN", Value=GetAtt(studio, "DomainArn")),
            Output("UserProfileName", Description="Name of the default Studio user profile", Value=user_profile_name()),
            Output(
                "UserProfileArn",
                Description="ARN of the default Studio user profile",
                Value=GetAtt(profile, "UserProfileArn"),
            ),
            Output(
                "StudioUrl",
                Description="Studio URL (open it through the console or a presigned URL)",
                Value=GetAtt(studio, "Url"),
            ),
            Output(
                "HomeEfsFileSystemId",
                Description="Home file system of the domain (kept when the stack is deleted)",
                Value=GetAtt(studio, "HomeEfsFileSystemId"),
                Condition=HOME_FS,
            ),
        ]
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    bounded = [platform_boundary.PARAMETER] if ctx.permissions_boundary is None else []
    # A packaged release names its own folder; a local build names none.
    templates = PROJECT_TEMPLATES_LOCATION.with_(default=ctx.release_location)
    params.add(t, *SPECS, templates, *bounded)
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
            (
                "Studio domain",
                [DOMAIN_NAME, USER_PROFILE_NAME, AUTH_MODE, NETWORK_ACCESS, HOME_FILE_SYSTEM, templates],
            ),
            ("Network", [VPC_ID, SUBNET_IDS, SECURITY_GROUP_IDS]),
            ("Encryption", [STORAGE_KEY]),
            ("IAM roles", [EXECUTION_ROLE_ARN, SETUP_ROLE_ARN, *bounded]),
        ],
    )
    _conditions(t)
    fs_release = release(ctx, t)
    studio = domain(ctx, t, fs_release)
    profile = user_profile(ctx, t, studio)
    apps_cleanup(ctx, t, studio, profile)
    enable_projects(ctx, t)
    t.add_resource(
        ssm.Parameter(
            "SageMakerDomainIdSSM",
            Name=environment.ssm_name(environment.SAGEMAKER_DOMAIN_ID_SSM),
            Type="String",
            Value=GetAtt(studio, "DomainId"),
            Description="SageMaker Studio domain id of the environment",
        )
    )
    _outputs(ctx, t, studio, profile)
    return t
