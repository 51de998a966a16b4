"""core-iam-shared-roles: persona and service roles shared by every environment of a core deployment.

* DataScienceAdministratorRole: the person who provisions environments through Service Catalog.
* SageMakerDetectiveControlExecutionRole: functions that stop or remove non-compliant SageMaker resources.
* SCLaunchRole: the Service Catalog launch role of the data science environment product; it creates the
  whole environment, so it is the broadest role of the platform.  Its grants are scoped to this account,
  to the platform's role path and name prefix, and to the environment's naming where AWS allows it.
"""

from __future__ import annotations

from awacs.aws import ArnLike, Bool, Principal, StringEquals
from awacs.aws import Condition as PolicyCondition
from troposphere import And, Condition, Equals, GetAtt, Not, Output, Ref, Sub, Template

from templates_src import naming
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import network, policies, scanners
from templates_src.blocks import parameters as params
from templates_src.blocks import partitions
from templates_src.context import BuildContext

NAME = "core-iam-shared-roles"
DESCRIPTION = "Creates the shared IAM roles of the data science platform: personas and execution roles"

DS_ADMIN_ROLE_NAME = params.role_name_param(
    "DSAdministratorRoleName", "Name of the data science administrator role; empty skips it",
    "Data science administrator role name", default="DataScienceAdministrator")
DETECTIVE_ROLE_NAME = params.role_name_param(
    "SageMakerDetectiveControlExecutionRoleName", "Name of the detective-control function role; empty skips it",
    "Detective control role name", default="DSSageMakerDetectiveControlRole")
SC_LAUNCH_ROLE_NAME = params.role_name_param(
    "SCLaunchRoleName", "Name of the Service Catalog launch role of the environment product; empty skips it",
    "Service Catalog launch role name", default="DSServiceCatalogLaunchRole")

DS_ADMIN_CONDITION = "DSAdministratorRoleCondition"
DETECTIVE_CONDITION = "SageMakerDetectiveControlExecutionRoleCondition"
SC_LAUNCH_CONDITION = "SCLaunchRoleCondition"

SWITCH_ROLE_LINK = "DSAdministratorRoleLink"


def administrator_trust(ctx: BuildContext):
    """Who may assume the data science administrator role (configuration ``ds_administrator_trust``).

    * IAM users of this account, only with MFA: their long-term access keys carry no MFA flag, so
      ``Bool`` (not ``BoolIfExists``) keeps them out unless they signed in, or got a session, with MFA.
    * Role sessions of this account whose role matches the configured patterns: federated (SAML, OIDC) and
      IAM Identity Center users arrive as role sessions, authenticated (with MFA) by their identity provider.
    ``aws:PrincipalArn`` is the user's ARN, or for a role session the role's ARN (path included).
    """
    trust = ctx.config.ds_administrator_trust
    account = Principal("AWS", ctx.root_arn())
    statements = []
    if trust.iam_users_with_mfa:
        statements.append(iam_blocks.trust_statement(account, sid="IamUsersWithMfa", condition=PolicyCondition([
            Bool({"aws:MultiFactorAuthPresent": "true"}),
            ArnLike({"aws:PrincipalArn": ctx.arn("iam", "user/*")}),
        ])))
    if trust.roles:
        statements.append(iam_blocks.trust_statement(account, sid="RoleSessions", condition=PolicyCondition(
            ArnLike({"aws:PrincipalArn": [ctx.arn("iam", f"role/{pattern}") for pattern in trust.roles]}))))
    return iam_blocks.trust(*statements)


def ds_admin_role(ctx: BuildContext):
    a, allow = iam_blocks.actions, iam_blocks.allow
    buckets = [ctx.bucket_arn(f"*-${{AWS::AccountId}}-{kind}", objects)
               for kind in ("data", "models") for objects in (None, "*")]
    return iam_blocks.role(
        ctx, "DataScienceAdministratorRole",
        description="Data science administrator: provisions environments from the Service Catalog portfolio",
        name=Ref(DS_ADMIN_ROLE_NAME.name),
        assume=administrator_trust(ctx),
        managed=[
            ctx.aws_policy_arn("ReadOnlyAccess"),
            ctx.aws_policy_arn("AWSServiceCatalogEndUserFullAccess"),
            # The administrator runs SageMaker for the teams (Studio, projects, endpoints); AWS keeps this
            # policy current with SageMaker's features, which a hand-written list would not.
            ctx.aws_policy_arn("AmazonSageMakerFullAccess"),
        ],
        policies=[iam_blocks.inline(
            "data-science-administrator",
            allow(a("iam", "PassRole"), ctx.sagemaker_role_arn(naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE),
                  sid="SageMakerProjects"),
            # The two-step CloudFormation deployment: the administrator creates the environment stack and
            # CloudFormation runs it as the environment launch role (no rights on the resources themselves).
            allow(a("iam", "PassRole"), ctx.role_arn("${SCLaunchRoleName}"), sid="EnvironmentLaunchRole",
                  condition=PolicyCondition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"}))),
            allow(a("cloudformation", "CreateStack", "UpdateStack", "DeleteStack", "DescribeStacks",
                    "DescribeStackEvents", "DescribeStackResources", "GetTemplate", "CreateChangeSet",
                    "DescribeChangeSet", "ExecuteChangeSet", "DeleteChangeSet"),
                  ctx.own("cloudformation", f"stack/{ctx.config.prefix}{naming.ENVIRONMENT_STACKS}/*"),
                  sid="EnvironmentStacks"),
            allow(a("cloudformation", "ValidateTemplate", "GetTemplateSummary"), "*", sid="EnvironmentTemplates"),
            # Clean-up of an environment: empty its buckets and remove project StackSets.
            allow(a("s3", "ListBucket", "ListBucketVersions", "DeleteObject", "DeleteObjectVersion",
                    "GetBucketPolicy", "DeleteBucketPolicy"), buckets, sid="EnvironmentBucketCleanup"),
            allow(a("cloudformation", "DeleteStackInstances", "DeleteStackSet", "ListStackInstances",
                    "DescribeStackSetOperation"),
                  [ctx.arn("cloudformation", f"{kind}/sagemaker-*", region="*")
                   for kind in ("stackset", "stackset-target")], sid="ProjectStackSetCleanup"),
        )],
        condition=DS_ADMIN_CONDITION,
    )


def detective_control_role(ctx: BuildContext):
    a, allow = iam_blocks.actions, iam_blocks.allow
    return iam_blocks.role(
        ctx, "SageMakerDetectiveControlExecutionRole",
        description="Functions that stop or remove non-compliant SageMaker resources",
        name=Ref(DETECTIVE_ROLE_NAME.name),
        assume=iam_blocks.service_trust("lambda"),
        policies=[iam_blocks.inline(
            "detective-control",
            allow(a("sagemaker", "StopTrainingJob", "StopTransformJob", "StopProcessingJob", "DeleteEndpoint",
                    "DeleteEndpointConfig", "DeleteModel", "AddTags", "DeleteTags"),
                  ctx.arn("sagemaker", "*", region="*"), sid="RemediateSageMaker"),
            allow(a("sagemaker", "List*"), "*", sid="ListSageMaker"),
            allow(a("logs", "CreateLogGroup", "CreateLogStream", "PutLogEvents"),
                  ctx.arn("logs", "log-group:/aws/lambda/*", region="*"), sid="FunctionLogs"),
        )],
        condition=DETECTIVE_CONDITION,
    )


# The environment's buckets (data, models, access logs): <env>-<type>-<region>-<account>-<kind>.
ENVIRONMENT_BUCKETS = ("data", "models", "logs")


def sc_launch_statements(ctx: BuildContext) -> list:
    """What launching the data science environment product needs, proven by the deploying-role check
    (tests/test_iam_coverage.py) against the handler permissions of every resource the environment deploys."""
    a, allow = iam_blocks.actions, iam_blocks.allow
    platform_roles = Sub(ctx.role_path_pattern() + "*")
    sagemaker_roles = ctx.sagemaker_role_arn(naming.SAGEMAKER_PRODUCTS_ROLES)
    platform_policies = ctx.policy_arn(f"{ctx.config.prefix}*")
    return [
        # Service Catalog provisions into SC-<account>-pp-<id>; a direct deployment (two-step option, --role-arn)
        # names its stack <prefix>ds-env-*; nested stacks are named after their parent.
        *policies.stacks(ctx, ["SC-*", ctx.config.prefix + naming.ENVIRONMENT_STACKS], sid="EnvironmentStacks"),
        policies.provisioning_artifacts(),
        policies.own_account_objects(ctx),
        *policies.stack_sets(ctx, sid="EnvironmentStackSets"),
        # Buckets are kept when the environment is deleted (Retain): never deleted by this role.
        policies.buckets(ctx, [f"*-${{AWS::AccountId}}-{kind}" for kind in ENVIRONMENT_BUCKETS],
                         sid="EnvironmentBuckets"),
        *iam_blocks.role_admin_statements(ctx, [platform_roles], sid="EnvironmentRoles",
                                          attachable=[platform_policies]),
        # The core's own roles share the path and prefix of environment roles: never let the launch role
        # change them (that would let it widen its own permissions).
        iam_blocks.deny(a("iam", "PutRolePolicy", "AttachRolePolicy", "DeleteRolePolicy", "DetachRolePolicy",
                          "UpdateAssumeRolePolicy", "UpdateRole", "DeleteRole", "PutRolePermissionsBoundary",
                          "DeleteRolePermissionsBoundary", "TagRole", "UntagRole"),
                        [ctx.role_arn("${%s}" % spec.name) for spec in
                         (SC_LAUNCH_ROLE_NAME, DS_ADMIN_ROLE_NAME, DETECTIVE_ROLE_NAME)] + [sagemaker_roles],
                        sid="NoChangesToCoreRoles"),
        allow(a("iam", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion", "GetPolicy",
                "GetPolicyVersion", "ListPolicyVersions", "ListEntitiesForPolicy", "TagPolicy", "UntagPolicy"),
              platform_policies, sid="EnvironmentManagedPolicies"),
        # Service Catalog checks the roles of launch constraints and portfolio principals (both are roles).
        allow(a("iam", "GetRole"), [platform_roles, sagemaker_roles], sid="ReadRoles"),
        allow(a("iam", "PassRole"), [platform_roles, sagemaker_roles], sid="PassEnvironmentRoles",
              condition=PolicyCondition(StringEquals({"iam:PassedToService": [
                  "sagemaker.amazonaws.com", "lambda.amazonaws.com", "cloudformation.amazonaws.com",
                  "vpc-flow-logs.amazonaws.com", "servicecatalog.amazonaws.com"]}))),
        allow(a("iam", "CreateServiceLinkedRole"), ctx.arn("iam", "role/aws-service-role/*"),
              sid="ServiceLinkedRoles",
              condition=PolicyCondition(StringEquals({"iam:AWSServiceName": [
                  "sagemaker.amazonaws.com", "elasticfilesystem.amazonaws.com", "servicecatalog.amazonaws.com"]}))),
        *network.network_statements(ctx, "${AWS::Region}", internet=True, flow_logs=True, extra=(
            "CreateNetworkInterface", "DeleteNetworkInterface", "CreateNetworkInterfacePermission")),
        *policies.kms_keys(ctx, sid="EnvironmentKeys"),
        allow(a("ssm", "PutParameter", "DeleteParameter", "GetParameter", "GetParameters", "AddTagsToResource",
                "RemoveTagsFromResource", "ListTagsForResource"),
              ctx.own("ssm", "parameter/*"), sid="EnvironmentParameters"),
        allow(a("lambda", "CreateFunction", "DeleteFunction", "GetFunction", "GetFunctionConfiguration",
                "UpdateFunctionCode", "UpdateFunctionConfiguration", "InvokeFunction", "TagResource",
                "UntagResource", "ListTags"),
              ctx.own("lambda", f"function:{ctx.config.prefix}*"), sid="EnvironmentFunctions"),
        allow(a("logs", "CreateLogGroup", "DeleteLogGroup", "PutRetentionPolicy", "DeleteRetentionPolicy",
                "TagResource", "UntagResource", "TagLogGroup", "ListTagsForResource", "AssociateKmsKey",
                "DisassociateKmsKey"),
              [ctx.own("logs", f"log-group:{group}") for group in ("/aws/lambda/*", "/vpcflowlogs/*")],
              sid="EnvironmentLogGroups"),
        # CloudWatch Logs authorizes DescribeLogGroups on the account's log-group::log-stream: resource.
        allow(a("logs", "DescribeLogGroups"), ctx.own("logs", "log-group::log-stream:*"), sid="DescribeLogGroups"),
        allow(a("sagemaker", "CreateDomain", "UpdateDomain", "DeleteDomain", "DescribeDomain", "CreateUserProfile",
                "UpdateUserProfile", "DeleteUserProfile", "DescribeUserProfile", "CreateSpace", "UpdateSpace",
                "DeleteSpace", "DescribeSpace", "CreateApp", "DeleteApp", "DescribeApp", "AddTags", "DeleteTags",
                "ListTags"),
              [ctx.own("sagemaker", f"{kind}/*") for kind in ("domain", "user-profile", "space", "app")],
              sid="Studio"),
        # SageMaker creates Studio's home file system with the caller's permissions; IAM authorizes
        # CreateFileSystem on "*" only.
        allow(a("elasticfilesystem", "CreateFileSystem"), "*", sid="StudioFileSystemCreate"),
        allow(a("elasticfilesystem", "DeleteFileSystem", "DescribeFileSystems", "CreateMountTarget",
                "DeleteMountTarget", "DescribeMountTargets", "TagResource", "UntagResource"),
              ctx.own("elasticfilesystem", "file-system/*"), sid="StudioFileSystem"),
        policies.service_catalog_admin(ctx, sid="MLOpsPortfolio"),
        allow(a("resource-groups", "DeleteGroup", "GetGroup", "GetGroupQuery", "UpdateGroup", "UpdateGroupQuery",
                "GetGroupConfiguration", "PutGroupConfiguration", "GroupResources", "UngroupResources",
                "ListGroupResources", "Tag", "Untag", "GetTags"),
              ctx.own("resource-groups", "group/*"), sid="EnvironmentResourceGroup"),
        # CreateGroup has no resource type in IAM: it is authorized on "*" only.
        allow(a("resource-groups", "CreateGroup"), "*", sid="EnvironmentResourceGroupCreate"),
    ]


def sc_launch_role(ctx: BuildContext, t: Template):
    # More than IAM's 10,240 characters of inline policy per role: customer managed policies instead.
    packed = iam_blocks.managed_policies(ctx, "SCLaunchPolicy", "Service Catalog launch role of the data science "
                                         "environment product", sc_launch_statements(ctx))
    for policy in packed:
        policy.Condition = SC_LAUNCH_CONDITION
        if iam_blocks.creates_on_star(policy.PolicyDocument):
            scanners.skip(policy, scanners.ACTIONS_AUTHORIZED_ONLY_ON_STAR)
        t.add_resource(policy)
    return iam_blocks.role(
        ctx, "SCLaunchRole",
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
    params.add(t, *specs)
    params.interface(t, [("Role names", specs)])
    for cond, spec in ((DS_ADMIN_CONDITION, DS_ADMIN_ROLE_NAME), (DETECTIVE_CONDITION, DETECTIVE_ROLE_NAME),
                       (SC_LAUNCH_CONDITION, SC_LAUNCH_ROLE_NAME)):
        t.add_condition(cond, Not(Equals(Ref(spec.name), "")))

    admin = t.add_resource(ds_admin_role(ctx))
    detective = t.add_resource(detective_control_role(ctx))
    launch = t.add_resource(sc_launch_role(ctx, t))

    signin = partitions.host(t, "SignIn")
    t.add_condition(SWITCH_ROLE_LINK, And(Condition(DS_ADMIN_CONDITION), Condition(partitions.KNOWN)))
    # The console wants the role's path (without the leading slash) in front of its name.
    role_in_url = ctx.config.role_path.lstrip("/") + "${DSAdministratorRoleName}"
    t.add_output([
        Output("AssumeDSAdministratorRole", Condition=SWITCH_ROLE_LINK,
               Description="Console link to switch to the data science administrator role",
               Value=Sub(f"https://${{Host}}/switchrole?account=${{AWS::AccountId}}&roleName={role_in_url}"
                         "&displayName=${DSAdministratorRoleName}", Host=signin)),
        Output("DSAdministratorRoleArn", Condition=DS_ADMIN_CONDITION,
               Description="ARN of the data science administrator role", Value=GetAtt(admin, "Arn")),
        Output("SageMakerDetectiveControlExecutionRoleArn", Condition=DETECTIVE_CONDITION,
               Description="ARN of the detective-control execution role", Value=GetAtt(detective, "Arn")),
        Output("SCLaunchRoleArn", Condition=SC_LAUNCH_CONDITION,
               Description="ARN of the Service Catalog launch role", Value=GetAtt(launch, "Arn")),
    ])
    return t
