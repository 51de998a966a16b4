"""core-iam-shared-roles: persona and service roles shared by every environment of a core deployment.

* DataScienceAdministratorRole: the person who provisions environments, through Service Catalog or with
  CloudFormation as the environment launch role, and only from the release's env-main template
  (``cloudformation:TemplateUrl``): it cannot run another template as that role, holds no AWS managed policy
  but ReadOnlyAccess, and creates no SageMaker resource itself.
* SageMakerDetectiveControlExecutionRole: functions that stop or remove non-compliant SageMaker resources.
* SCLaunchRole: the Service Catalog launch role of the data science environment product; it creates the
  whole environment, so it is the broadest role of the platform.  Every role it creates, changes, deletes or
  attaches a policy to must carry the platform permissions boundary (``PlatformBoundary``, created here when
  the configuration names none, which no environment role can exceed and which denies every IAM write); it
  passes only the environment's roles (by name suffix) to the services that run them; it creates and versions
  only the environment's policies (by name marker), never its own policies, the boundary or the core's roles.
"""

from __future__ import annotations

from awacs.aws import Condition as PolicyCondition
from awacs.aws import Null, StringEquals, StringLike
from troposphere import And, Condition, Equals, GetAtt, Not, Output, Ref, Sub, Template

from templates_src import naming, references
from templates_src.blocks import boundary as platform_boundary
from templates_src.blocks import environment, network, package_mirror, partitions, policies, scanners
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext

NAME = "core-iam-shared-roles"
DESCRIPTION = "Creates the shared IAM roles of the data science platform: personas and execution roles"

DS_ADMIN_ROLE_NAME = params.role_name_param(
    "DSAdministratorRoleName",
    "Name of the data science administrator role; empty skips it",
    "Data science administrator role name",
    default="DataScienceAdministrator",
)
DETECTIVE_ROLE_NAME = params.role_name_param(
    "SageMakerDetectiveControlExecutionRoleName",
    "Name of the detective-control function role; empty skips it",
    "Detective control role name",
    default="DSSageMakerDetectiveControlRole",
)
SC_LAUNCH_ROLE_NAME = params.role_name_param(
    "SCLaunchRoleName",
    "Name of the Service Catalog launch role of the environment product; empty skips it",
    "Service Catalog launch role name",
    default="DSServiceCatalogLaunchRole",
)

ENVIRONMENT_TEMPLATE_URL = params.ParamSpec(
    "EnvironmentTemplateURL",
    "URL of the release's env-main template: the only template the data science "
    "administrator may deploy with the environment launch role (core-main passes it)",
    "Environment template URL",
    max_length=1024,
    allowed_pattern=r"https://[\x21-\x7e]+|[\w./-]+\.(yaml|json)",
    constraint="must be an https:// URL (or, before packaging, the template's file name)",
)
PLATFORM_BOUNDARY_ARN = platform_boundary.PARAMETER.with_(
    description="The platform permissions boundary (core-main creates it): the launch role creates and changes "
    "only roles that carry it"
)

DS_ADMIN_CONDITION = "DSAdministratorRoleCondition"
DETECTIVE_CONDITION = "SageMakerDetectiveControlExecutionRoleCondition"
SC_LAUNCH_CONDITION = "SCLaunchRoleCondition"

SWITCH_ROLE_LINK = "DSAdministratorRoleLink"

# Logical ids of the roles (the proofs in templates_src/checks find the personas and deployers by them).
DS_ADMIN_ROLE_ID = "DataScienceAdministratorRole"
SC_LAUNCH_ROLE_ID = "SCLaunchRole"


def ds_admin_role(ctx: BuildContext):
    a, allow = iam_blocks.actions, iam_blocks.allow
    environment_stacks = ctx.own("cloudformation", f"stack/{ctx.config.prefix}{naming.ENVIRONMENT_STACKS}/*")
    template_url = Ref(ENVIRONMENT_TEMPLATE_URL.name)
    return iam_blocks.role(
        ctx,
        DS_ADMIN_ROLE_ID,
        description="Data science administrator: provisions environments from the release's env-main template",
        name=Ref(DS_ADMIN_ROLE_NAME.name),
        assume=iam_blocks.administrator_trust(ctx),
        # Reads only; no AWS managed policy that writes (AmazonSageMakerFullAccess would put the administrator
        # outside every environment's guardrails, with iam:PassRole of any SageMaker role).
        managed=[ctx.aws_policy_arn("ReadOnlyAccess")],
        policies=[
            iam_blocks.inline(
                "data-science-administrator",
                # Service Catalog: launch, update and terminate the environment product (the portfolio's products
                # shared with this role; Service Catalog runs them as the product's launch role).
                *policies.service_catalog_end_user(ctx, sid="EnvironmentProducts"),
                # The two-step CloudFormation deployment: CloudFormation runs the environment stack as the
                # environment launch role, and only with the release's env-main template (its packaged URL or a
                # release's alias of it): no other template can run as that role.
                allow(
                    a("iam", "PassRole"),
                    ctx.role_arn("${SCLaunchRoleName}"),
                    sid="EnvironmentLaunchRole",
                    condition=PolicyCondition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
                ),
                allow(
                    a("cloudformation", *policies.STACK_TEMPLATE_ACTIONS),
                    environment_stacks,
                    sid="EnvironmentTemplateOnly",
                    condition=PolicyCondition(
                        StringLike(
                            {
                                "cloudformation:TemplateUrl": [
                                    template_url,
                                    references.release_alias_pattern(template_url, "env-main"),
                                ]
                            }
                        )
                    ),
                ),
                allow(
                    a("cloudformation", *policies.STACK_RUN_ACTIONS),
                    environment_stacks,
                    sid="EnvironmentStacks",
                ),
                allow(a("cloudformation", *policies.TEMPLATE_ACTIONS), "*", sid="EnvironmentTemplates"),
                # Taking an environment down (generate.py cleanup, templates_src/cleanup.py): exactly the writes the
                # command makes, each on what the platform names or tags (reads come from ReadOnlyAccess).  The
                # environment stacks and provisioned products are deleted above, as the stack's own role.
                *cleanup_statements(ctx),
            )
        ],
        condition=DS_ADMIN_CONDITION,
    )


def cleanup_statements(ctx: BuildContext) -> list:
    """What ``generate.py cleanup`` writes, beyond deleting stacks (tests/test_cleanup.py proves the command needs
    each action and is granted every call it makes)."""
    a, allow = iam_blocks.actions, iam_blocks.allow
    tagged = environment.ENV_NAME_TAG
    env_tagged = PolicyCondition(Null({f"aws:ResourceTag/{tagged}": "false"}))
    return [
        # Empty and delete the environment's buckets and its projects' artifact buckets (every object version and
        # delete marker; a VPC-only bucket policy, which denies deletions from outside the VPC, is removed first).
        allow(
            a("s3", "DeleteObjectVersion", "DeleteBucketPolicy", "DeleteBucket"),
            [
                ctx.bucket_arn(pattern, objects)
                for pattern in (
                    *(f"*-${{AWS::AccountId}}-{kind}" for kind in ENVIRONMENT_BUCKETS),
                    environment.PROJECT_BUCKETS,
                )
                for objects in (None, "*")
            ],
            sid="EnvironmentBucketCleanup",
        ),
        # The projects' model deployments in every target account, and their StackSets.
        allow(
            a("cloudformation", *policies.STACK_SET_CLEANUP_ACTIONS),
            [ctx.arn("cloudformation", f"{kind}/sagemaker-*", region="*") for kind in ("stackset", "stackset-target")],
            sid="ProjectStackSetCleanup",
        ),
        # The projects, their pipelines (sagemaker-<project>-<id>) and endpoints, and a Studio domain left
        # outside its stack with what users created in it.
        allow(
            a(
                "sagemaker",
                "DeleteProject",
                "DeleteEndpoint",
                "DeleteDomain",
                "DeleteApp",
                "DeleteSpace",
                "DeleteUserProfile",
            ),
            [
                ctx.own("sagemaker", f"{kind}/*")
                for kind in ("project", "endpoint", "domain", "app", "space", "user-profile")
            ],
            sid="ProjectAndStudioCleanup",
        ),
        allow(a("sagemaker", "DeletePipeline"), ctx.own("sagemaker", "pipeline/sagemaker-*"), sid="PipelineCleanup"),
        # Model packages (with --delete-data), in the groups the environment tagged.
        allow(
            a("sagemaker", "DeleteModelPackage", "DeleteModelPackageGroup"),
            [ctx.own("sagemaker", f"{kind}/*") for kind in ("model-package", "model-package-group")],
            sid="ModelPackageCleanup",
        ),
        # Studio's home file system (SageMaker tags it with its domain): mount targets, and with --delete-data the
        # file system.
        allow(
            a("elasticfilesystem", "DeleteMountTarget", "DeleteFileSystem"),
            ctx.own("elasticfilesystem", "file-system/*"),
            sid="HomeFileSystemCleanup",
            condition=PolicyCondition(Null({f"aws:ResourceTag/{environment.SAGEMAKER_HOME_FS_TAG}": "false"})),
        ),
        # Network interfaces left behind in the environment's VPC by deleted endpoints.
        allow(a("ec2", "DeleteNetworkInterface"), ctx.own("ec2", "network-interface/*"), sid="NetworkInterfaceCleanup"),
        # With --delete-data, the environment's keys (tagged): deletion scheduled, cancellable for 30 days.
        allow(
            a("kms", "ScheduleKeyDeletion"),
            ctx.own("kms", "key/*"),
            sid="KeyCleanup",
            condition=env_tagged,
        ),
    ]


def detective_control_role(ctx: BuildContext):
    a, allow = iam_blocks.actions, iam_blocks.allow
    return iam_blocks.role(
        ctx,
        "SageMakerDetectiveControlExecutionRole",
        description="Functions that stop or remove non-compliant SageMaker resources",
        name=Ref(DETECTIVE_ROLE_NAME.name),
        assume=iam_blocks.service_trust("lambda"),
        policies=[
            iam_blocks.inline(
                "detective-control",
                allow(
                    a(
                        "sagemaker",
                        "StopTrainingJob",
                        "StopTransformJob",
                        "StopProcessingJob",
                        "DeleteEndpoint",
                        "DeleteEndpointConfig",
                        "DeleteModel",
                        "AddTags",
                        "DeleteTags",
                    ),
                    ctx.arn("sagemaker", "*", region="*"),
                    sid="RemediateSageMaker",
                ),
                allow(a("sagemaker", "List*"), "*", sid="ListSageMaker"),
                allow(
                    a("logs", *policies.LOG_ACTIONS),
                    ctx.arn("logs", "log-group:/aws/lambda/*", region="*"),
                    sid="FunctionLogs",
                ),
            )
        ],
        condition=DETECTIVE_CONDITION,
    )


# The environment's buckets (data, models, access logs): <env>-<type>-<region>-<account>-<kind>.
ENVIRONMENT_BUCKETS = ("data", "models", "logs")


# The environment's roles the launch role hands to the services that run them, by name suffix (every environment
# role is <prefix><env>-<type>[-<region>]-<suffix>, under the configured path).
PASSED_ROLES = {
    "sagemaker.amazonaws.com": (environment.SAGEMAKER_EXECUTION, environment.PIPELINE_EXECUTION),
    "lambda.amazonaws.com": (environment.FUNCTION_ROLES + "*",),
    "cloudformation.amazonaws.com": (naming.STACKSET_ADMINISTRATION_ROLE_MARKER,),
    "vpc-flow-logs.amazonaws.com": (environment.FLOW_LOGS,),
}


def passed_roles(ctx: BuildContext) -> list:
    """iam:PassRole statements: each service gets only the environment roles it runs (and Service Catalog the
    SageMaker projects' launch role, for the portfolio's launch constraints)."""
    a, allow = iam_blocks.actions, iam_blocks.allow
    out = []
    for service, suffixes in PASSED_ROLES.items():
        out.append(
            allow(
                a("iam", "PassRole"),
                [Sub(f"{ctx.role_path_pattern()}*-{suffix}") for suffix in suffixes],
                sid="Pass" + service.split(".")[0].title().replace("-", "") + "Roles",
                condition=PolicyCondition(StringEquals({"iam:PassedToService": service})),
            )
        )
    out.append(
        allow(
            a("iam", "PassRole"),
            ctx.sagemaker_role_arn(naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE),
            sid="PassProjectLaunchRole",
            condition=PolicyCondition(StringEquals({"iam:PassedToService": "servicecatalog.amazonaws.com"})),
        )
    )
    return out


def sc_launch_statements(ctx: BuildContext, boundary) -> list:
    """What launching the data science environment product needs, proven by the deploying-role check
    (tests/test_iam_coverage.py) against the handler permissions of every resource the environment deploys.

    ``boundary``: the permissions boundary every role it creates or changes must carry (the platform boundary
    this template creates, or the configured one)."""
    a, allow = iam_blocks.actions, iam_blocks.allow
    platform_roles = Sub(ctx.role_path_pattern() + "*")
    sagemaker_roles = ctx.sagemaker_role_arn(naming.SAGEMAKER_PRODUCTS_ROLES)
    environment_policies = ctx.policy_arn(f"{ctx.config.prefix}*-{naming.ENVIRONMENT_POLICY_MARKER}-*")
    policy_writes = (
        "CreatePolicy",
        "DeletePolicy",
        "CreatePolicyVersion",
        "DeletePolicyVersion",
        "SetDefaultPolicyVersion",
        "TagPolicy",
        "UntagPolicy",
    )
    return [
        # Service Catalog provisions into SC-<account>-pp-<id>; a direct deployment (two-step option, --role-arn)
        # names its stack <prefix>ds-env-*; nested stacks are named after their parent.
        *policies.stacks(ctx, ["SC-*", ctx.config.prefix + naming.ENVIRONMENT_STACKS], sid="EnvironmentStacks"),
        policies.provisioning_artifacts(),
        policies.own_account_objects(ctx),
        *policies.stack_sets(ctx, sid="EnvironmentStackSets"),
        # Service-managed StackSets called as a delegated administrator: CloudFormation checks the caller's
        # registration with Organizations as the caller (a read; the action has no resource type).
        allow(a("organizations", "ListDelegatedAdministrators"), "*", sid="DelegatedAdministratorCheck"),
        # Buckets are kept when the environment is deleted (Retain): never deleted by this role.
        policies.buckets(
            ctx, [f"*-${{AWS::AccountId}}-{kind}" for kind in ENVIRONMENT_BUCKETS], sid="EnvironmentBuckets"
        ),
        # Every role it creates, changes or deletes carries the boundary (IAM checks iam:PermissionsBoundary on
        # each of these calls), so no other role of the account can be touched and none it makes can exceed it.
        *iam_blocks.role_admin_statements(
            ctx, [platform_roles], sid="EnvironmentRoles", boundary=boundary, attachable=[environment_policies]
        ),
        # The core's own roles share the path and prefix of environment roles: never let the launch role
        # change them (that would let it widen its own permissions).
        iam_blocks.deny(
            a(
                "iam",
                "PutRolePolicy",
                "AttachRolePolicy",
                "DeleteRolePolicy",
                "DetachRolePolicy",
                "UpdateAssumeRolePolicy",
                "UpdateRole",
                "DeleteRole",
                "PutRolePermissionsBoundary",
                "DeleteRolePermissionsBoundary",
                "TagRole",
                "UntagRole",
            ),
            [
                ctx.role_arn("${%s}" % spec.name)
                for spec in (SC_LAUNCH_ROLE_NAME, DS_ADMIN_ROLE_NAME, DETECTIVE_ROLE_NAME)
            ]
            + [sagemaker_roles],
            sid="NoChangesToCoreRoles",
        ),
        allow(
            a("iam", *policy_writes, "GetPolicy", "GetPolicyVersion", "ListPolicyVersions", "ListEntitiesForPolicy"),
            environment_policies,
            sid="EnvironmentManagedPolicies",
        ),
        # Nor its own policies, nor the boundary: the launch role cannot rewrite what it may do.
        iam_blocks.deny(
            a("iam", *policy_writes),
            [ctx.policy_arn("${%s}-*" % SC_LAUNCH_ROLE_NAME.name), boundary],
            sid="NoChangesToOwnPoliciesOrBoundary",
        ),
        # Service Catalog checks the roles of launch constraints and portfolio principals (both are roles).
        allow(a("iam", "GetRole"), [platform_roles, sagemaker_roles], sid="ReadRoles"),
        *passed_roles(ctx),
        allow(
            a("iam", "CreateServiceLinkedRole"),
            ctx.arn("iam", "role/aws-service-role/*"),
            sid="ServiceLinkedRoles",
            condition=PolicyCondition(
                StringEquals(
                    {
                        "iam:AWSServiceName": [
                            "sagemaker.amazonaws.com",
                            "elasticfilesystem.amazonaws.com",
                            "servicecatalog.amazonaws.com",
                        ]
                    }
                )
            ),
        ),
        *network.network_statements(
            ctx,
            "${AWS::Region}",
            internet=True,
            flow_logs=True,
            extra=policies.NETWORK_INTERFACE_ACTIONS,
        ),
        *policies.kms_keys(ctx, sid="EnvironmentKeys"),
        allow(
            a(
                "ssm",
                *policies.PARAMETER_ADMIN_ACTIONS,
            ),
            ctx.own("ssm", "parameter/*"),
            sid="EnvironmentParameters",
        ),
        allow(
            a(
                "lambda",
                "CreateFunction",
                "DeleteFunction",
                "GetFunction",
                "GetFunctionConfiguration",
                "UpdateFunctionCode",
                "UpdateFunctionConfiguration",
                "InvokeFunction",
                "TagResource",
                "UntagResource",
                "ListTags",
            ),
            ctx.own("lambda", f"function:{ctx.config.prefix}*"),
            sid="EnvironmentFunctions",
        ),
        allow(
            a(
                "logs",
                *policies.LOG_GROUP_ADMIN_ACTIONS,
            ),
            [ctx.own("logs", f"log-group:{group}") for group in ("/aws/lambda/*", "/vpcflowlogs/*")],
            sid="EnvironmentLogGroups",
        ),
        # CloudWatch Logs authorizes DescribeLogGroups on the account's log-group::log-stream: resource.
        allow(a("logs", "DescribeLogGroups"), ctx.own("logs", "log-group::log-stream:*"), sid="DescribeLogGroups"),
        allow(
            a(
                "sagemaker",
                "CreateDomain",
                "UpdateDomain",
                "DeleteDomain",
                "DescribeDomain",
                "CreateUserProfile",
                "UpdateUserProfile",
                "DeleteUserProfile",
                "DescribeUserProfile",
                "CreateSpace",
                "UpdateSpace",
                "DeleteSpace",
                "DescribeSpace",
                "CreateApp",
                "DeleteApp",
                "DescribeApp",
                "AddTags",
                "DeleteTags",
                "ListTags",
            ),
            [ctx.own("sagemaker", f"{kind}/*") for kind in ("domain", "user-profile", "space", "app")],
            sid="Studio",
        ),
        # SageMaker creates Studio's home file system with the caller's permissions; IAM authorizes
        # CreateFileSystem on "*" only.
        allow(a("elasticfilesystem", "CreateFileSystem"), "*", sid="StudioFileSystemCreate"),
        allow(
            a(
                "elasticfilesystem",
                "DeleteFileSystem",
                "DescribeFileSystems",
                "CreateMountTarget",
                "DeleteMountTarget",
                "DescribeMountTargets",
                "TagResource",
                "UntagResource",
            ),
            ctx.own("elasticfilesystem", "file-system/*"),
            sid="StudioFileSystem",
        ),
        policies.service_catalog_admin(ctx, sid="MLOpsPortfolio"),
        allow(
            a(
                "resource-groups",
                "DeleteGroup",
                "GetGroup",
                "GetGroupQuery",
                "UpdateGroup",
                "UpdateGroupQuery",
                "GetGroupConfiguration",
                "PutGroupConfiguration",
                "GroupResources",
                "UngroupResources",
                "ListGroupResources",
                "Tag",
                "Untag",
                "GetTags",
            ),
            ctx.own("resource-groups", "group/*"),
            sid="EnvironmentResourceGroup",
        ),
        # CreateGroup has no resource type in IAM: it is authorized on "*" only.
        allow(a("resource-groups", "CreateGroup"), "*", sid="EnvironmentResourceGroupCreate"),
        # The package mirror (UseSharedServicesPyPiMirror): a domain named <EnvName>-<EnvType>, its PyPI repository.
        allow(
            a(
                "codeartifact",
                "DescribeDomain",
                "DeleteDomain",
                "DescribeRepository",
                "UpdateRepository",
                "DeleteRepository",
                "AssociateExternalConnection",
                "DisassociateExternalConnection",
                "AssociateWithDownstreamRepository",
                "TagResource",
                "UntagResource",
                "ListTagsForResource",
            ),
            [
                ctx.own("codeartifact", f"domain/{package_mirror.DOMAIN_PATTERN}"),
                ctx.own("codeartifact", f"repository/{package_mirror.DOMAIN_PATTERN}/{package_mirror.REPOSITORY}"),
            ],
            sid="PackageMirror",
        ),
        # IAM authorizes creating a domain or a repository on "*" only (the service authorization reference).
        allow(a("codeartifact", "CreateDomain", "CreateRepository"), "*", sid="PackageMirrorCreate"),
    ]


def launch_boundary(ctx: BuildContext):
    """The boundary the launch role requires on the roles it creates: the configured one, else the platform
    boundary core-main creates."""
    return ctx.permissions_boundary if ctx.permissions_boundary is not None else Ref(PLATFORM_BOUNDARY_ARN.name)


def sc_launch_role(ctx: BuildContext, t: Template):
    # More than IAM's 10,240 characters of inline policy per role: customer managed policies instead, named
    # after the role (so its own statements can deny it any change to them).
    packed = iam_blocks.managed_policies(
        ctx,
        "SCLaunchPolicy",
        "Service Catalog launch role of the data science environment product",
        sc_launch_statements(ctx, launch_boundary(ctx)),
        t,
    )
    for number, policy in enumerate(packed, start=1):
        policy.Condition = SC_LAUNCH_CONDITION
        policy.ManagedPolicyName = Sub("${%s}-%d" % (SC_LAUNCH_ROLE_NAME.name, number))
        if iam_blocks.creates_on_star(policy.PolicyDocument):
            scanners.skip(policy, scanners.ACTIONS_AUTHORIZED_ONLY_ON_STAR)
        t.add_resource(policy)
    return iam_blocks.role(
        ctx,
        SC_LAUNCH_ROLE_ID,
        description="Service Catalog launch role of the data science environment product",
        name=Ref(SC_LAUNCH_ROLE_NAME.name),
        # Service Catalog launches the product; CloudFormation is trusted too, for deploying the
        # environment template directly with --role-arn (the two-step CloudFormation option).
        assume=iam_blocks.service_trust("servicecatalog", "cloudformation"),
        managed=[Ref(p) for p in packed],
        condition=SC_LAUNCH_CONDITION,
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    specs = [DS_ADMIN_ROLE_NAME, DETECTIVE_ROLE_NAME, SC_LAUNCH_ROLE_NAME]
    own_boundary = ctx.permissions_boundary is None
    params.add(t, *specs, ENVIRONMENT_TEMPLATE_URL, *([PLATFORM_BOUNDARY_ARN] if own_boundary else []))
    params.interface(
        t,
        [
            ("Role names", specs),
            ("Platform", [ENVIRONMENT_TEMPLATE_URL, *([PLATFORM_BOUNDARY_ARN] if own_boundary else [])]),
        ],
    )
    for cond, spec in (
        (DS_ADMIN_CONDITION, DS_ADMIN_ROLE_NAME),
        (DETECTIVE_CONDITION, DETECTIVE_ROLE_NAME),
        (SC_LAUNCH_CONDITION, SC_LAUNCH_ROLE_NAME),
    ):
        t.add_condition(cond, Not(Equals(Ref(spec.name), "")))

    admin = t.add_resource(ds_admin_role(ctx))
    detective = t.add_resource(detective_control_role(ctx))
    launch = t.add_resource(sc_launch_role(ctx, t))

    signin = partitions.host(t, "SignIn")
    t.add_condition(SWITCH_ROLE_LINK, And(Condition(DS_ADMIN_CONDITION), Condition(partitions.KNOWN)))
    # The console wants the role's path (without the leading slash) in front of its name.
    role_in_url = ctx.config.role_path.lstrip("/") + "${DSAdministratorRoleName}"
    t.add_output(
        [
            Output(
                "AssumeDSAdministratorRole",
                Condition=SWITCH_ROLE_LINK,
                Description="Console link to switch to the data science administrator role",
                Value=Sub(
                    f"https://${{Host}}/switchrole?account=${{AWS::AccountId}}&roleName={role_in_url}"
                    "&displayName=${DSAdministratorRoleName}",
                    Host=signin,
                ),
            ),
            Output(
                "DSAdministratorRoleArn",
                Condition=DS_ADMIN_CONDITION,
                Description="ARN of the data science administrator role",
                Value=GetAtt(admin, "Arn"),
            ),
            Output(
                "SageMakerDetectiveControlExecutionRoleArn",
                Condition=DETECTIVE_CONDITION,
                Description="ARN of the detective-control execution role",
                Value=GetAtt(detective, "Arn"),
            ),
            Output(
                "SCLaunchRoleArn",
                Condition=SC_LAUNCH_CONDITION,
                Description="ARN of the Service Catalog launch role",
                Value=GetAtt(launch, "Arn"),
            ),
        ]
    )
    return t
