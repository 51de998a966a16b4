"""core-iam-shared-roles: persona and service roles shared by every environment of a core deployment.

* DataScienceAdministratorRole: the person who provisions environments through Service Catalog.
* SageMakerDetectiveControlExecutionRole: functions that stop or remove non-compliant SageMaker resources.
* SCLaunchRole: the Service Catalog launch role of the data science environment product; it creates the
  whole environment, so it is the broadest role of the platform.  Its grants are scoped to this account,
  to the platform's role path and name prefix, and to the environment's naming where AWS allows it.
"""

from __future__ import annotations

from awacs.aws import BoolIfExists, Principal, StringEquals
from awacs.aws import Condition as PolicyCondition
from troposphere import And, Condition, Equals, GetAtt, Not, Output, Ref, Sub, Template

from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import network
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


def ds_admin_role(ctx: BuildContext):
    a, allow = iam_blocks.actions, iam_blocks.allow
    buckets = [Sub(f"arn:${{AWS::Partition}}:s3:::*-${{AWS::AccountId}}-{kind}{objects}")
               for kind in ("data", "models") for objects in ("", "/*")]
    return iam_blocks.role(
        ctx, "DataScienceAdministratorRole",
        description="Data science administrator: provisions environments from the Service Catalog portfolio",
        name=Ref(DS_ADMIN_ROLE_NAME.name),
        # People of this account who are allowed to assume it; IAM users must have signed in with MFA
        # (federated and role sessions carry no MFA flag, hence IfExists).
        assume=iam_blocks.trust(iam_blocks.trust_statement(
            Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
            condition=PolicyCondition(BoolIfExists({"aws:MultiFactorAuthPresent": "true"})), sid="AccountPrincipals")),
        managed=[
            iam_blocks.aws_managed("ReadOnlyAccess"),
            iam_blocks.aws_managed("AWSServiceCatalogEndUserFullAccess"),
            # The administrator runs SageMaker for the teams (Studio, projects, endpoints); AWS keeps this
            # policy current with SageMaker's features, which a hand-written list would not.
            iam_blocks.aws_managed("AmazonSageMakerFullAccess"),
        ],
        policies=[iam_blocks.inline(
            "data-science-administrator",
            allow(a("iam", "PassRole"),
                  ctx.role_arn("AmazonSageMakerServiceCatalogProductsLaunchRole", path="/service-role/"),
                  sid="SageMakerProjects"),
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


def sc_launch_statements(ctx: BuildContext) -> list:
    a, allow = iam_blocks.actions, iam_blocks.allow
    acct = "${AWS::AccountId}"
    platform_roles = Sub(ctx.role_path_pattern() + "*")
    sagemaker_roles = ctx.role_arn("AmazonSageMakerServiceCatalogProducts*", path="/service-role/")
    statements = [
        allow(a("cloudformation", "CreateStack", "UpdateStack", "DeleteStack", "DescribeStacks",
                "DescribeStackEvents", "DescribeStackResource", "DescribeStackResources", "ListStackResources",
                "GetTemplate", "GetTemplateSummary", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet",
                "DeleteChangeSet", "TagResource", "UntagResource", "CreateStackSet", "UpdateStackSet",
                "DeleteStackSet", "DescribeStackSet", "DescribeStackSetOperation", "ListStackSetOperations",
                "ListStackSetOperationResults", "CreateStackInstances", "UpdateStackInstances",
                "DeleteStackInstances", "DescribeStackInstance", "ListStackInstances", "StopStackSetOperation"),
              [ctx.arn("cloudformation", f"{kind}", region="${AWS::Region}") for kind in
               ("stack/SC-*", "stack/StackSet-*", "stackset/*", "stackset-target/*", "type/resource/*")],
              sid="EnvironmentStacks"),
        allow(a("cloudformation", "ValidateTemplate"), "*", sid="ValidateTemplate"),
        # Templates and seed code are read from buckets of this account only.
        allow(a("s3", "GetObject", "GetObjectVersion"), Sub("arn:${AWS::Partition}:s3:::*/*"), sid="ReadTemplates",
              condition=PolicyCondition(StringEquals({"s3:ResourceAccount": Ref("AWS::AccountId")}))),
        allow(a("s3", "CreateBucket", "DeleteBucket", "PutBucketPolicy", "GetBucketPolicy", "DeleteBucketPolicy",
                "PutEncryptionConfiguration", "GetEncryptionConfiguration", "PutBucketPublicAccessBlock",
                "GetBucketPublicAccessBlock", "PutBucketVersioning", "GetBucketVersioning", "PutBucketTagging",
                "GetBucketTagging", "PutBucketLogging", "GetBucketLogging", "PutBucketOwnershipControls",
                "GetBucketOwnershipControls", "PutLifecycleConfiguration", "GetLifecycleConfiguration",
                "GetBucketLocation", "ListBucket"),
              [Sub(f"arn:${{AWS::Partition}}:s3:::*-{acct}-{kind}") for kind in ("data", "models", "logs")],
              sid="EnvironmentBuckets"),
        *iam_blocks.role_admin_statements(ctx, [platform_roles], sid="EnvironmentRoles"),
        # The core's own roles share the path and prefix of environment roles: never let the launch role
        # change them (that would let it widen its own permissions).
        iam_blocks.deny(a("iam", "PutRolePolicy", "AttachRolePolicy", "DeleteRolePolicy", "DetachRolePolicy",
                          "UpdateAssumeRolePolicy", "UpdateRole", "DeleteRole", "PutRolePermissionsBoundary",
                          "DeleteRolePermissionsBoundary", "TagRole", "UntagRole"),
                        [ctx.role_arn("${%s}" % spec.name) for spec in
                         (SC_LAUNCH_ROLE_NAME, DS_ADMIN_ROLE_NAME, DETECTIVE_ROLE_NAME)] + [sagemaker_roles],
                        sid="NoChangesToCoreRoles"),
        allow(a("iam", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion", "GetPolicy",
                "GetPolicyVersion", "ListPolicyVersions", "TagPolicy", "UntagPolicy"),
              Sub(f"arn:${{AWS::Partition}}:iam::{acct}:policy{ctx.config.role_path}{ctx.config.prefix}*"),
              sid="EnvironmentManagedPolicies"),
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
        # A key's ARN does not exist before CreateKey, so CreateKey cannot be scoped; everything else can.
        allow(a("kms", "CreateKey"), "*", sid="CreateKeys"),
        allow(a("kms", "DescribeKey", "EnableKeyRotation", "GetKeyRotationStatus", "GetKeyPolicy", "PutKeyPolicy",
                "ScheduleKeyDeletion", "TagResource", "UntagResource", "UpdateKeyDescription", "CreateGrant",
                "ListResourceTags", "CreateAlias", "DeleteAlias", "UpdateAlias", "Encrypt", "Decrypt",
                "GenerateDataKey"),
              [ctx.arn("kms", kind, region="${AWS::Region}") for kind in ("key/*", "alias/*")], sid="EnvironmentKeys"),
        allow(a("kms", "ListAliases"), "*", sid="ListAliases"),
        allow(a("ssm", "PutParameter", "DeleteParameter", "GetParameter", "GetParameters", "AddTagsToResource",
                "RemoveTagsFromResource", "ListTagsForResource"),
              ctx.arn("ssm", "parameter/*", region="${AWS::Region}"), sid="EnvironmentParameters"),
        allow(a("lambda", "CreateFunction", "DeleteFunction", "GetFunction", "GetFunctionConfiguration",
                "UpdateFunctionCode", "UpdateFunctionConfiguration", "InvokeFunction", "TagResource",
                "UntagResource", "ListTags", "PutFunctionConcurrency", "DeleteFunctionConcurrency"),
              ctx.arn("lambda", f"function:{ctx.config.prefix}*", region="${AWS::Region}"), sid="EnvironmentFunctions"),
        allow(a("logs", "CreateLogGroup", "DeleteLogGroup", "PutRetentionPolicy", "DeleteRetentionPolicy",
                "TagResource", "UntagResource", "TagLogGroup", "ListTagsForResource", "AssociateKmsKey",
                "DescribeLogGroups"),
              [ctx.arn("logs", f"log-group:{group}", region="${AWS::Region}") for group in
               ("/aws/lambda/*", "/vpcflowlogs/*")], sid="EnvironmentLogGroups"),
        allow(a("sagemaker", "CreateDomain", "UpdateDomain", "DeleteDomain", "DescribeDomain", "CreateUserProfile",
                "UpdateUserProfile", "DeleteUserProfile", "DescribeUserProfile", "CreateSpace", "UpdateSpace",
                "DeleteSpace", "DescribeSpace", "CreateApp", "DeleteApp", "DescribeApp", "AddTags", "DeleteTags",
                "ListTags"),
              [ctx.arn("sagemaker", f"{kind}/*", region="${AWS::Region}") for kind in
               ("domain", "user-profile", "space", "app")], sid="Studio"),
        # Enabling SageMaker projects has no resource-level permissions.
        allow(a("sagemaker", "EnableSagemakerServicecatalogPortfolio", "DisableSagemakerServicecatalogPortfolio",
                "GetSagemakerServicecatalogPortfolioStatus", "ListDomains", "ListUserProfiles", "ListApps",
                "ListSpaces"), "*", sid="StudioAccount"),
        # Studio's home file system is created and removed by SageMaker with the caller's permissions.
        allow(a("elasticfilesystem", "CreateFileSystem", "DeleteFileSystem", "DescribeFileSystems",
                "CreateMountTarget", "DeleteMountTarget", "DescribeMountTargets", "TagResource", "UntagResource"),
              ctx.arn("elasticfilesystem", "file-system/*", region="${AWS::Region}"), sid="StudioFileSystem"),
        allow(a("servicecatalog", "CreatePortfolio", "DeletePortfolio", "UpdatePortfolio", "DescribePortfolio",
                "CreateProduct", "DeleteProduct", "UpdateProduct", "DescribeProductAsAdmin",
                "CreateProvisioningArtifact", "DeleteProvisioningArtifact", "UpdateProvisioningArtifact",
                "DescribeProvisioningArtifact", "AssociateProductWithPortfolio",
                "DisassociateProductFromPortfolio", "AssociatePrincipalWithPortfolio",
                "DisassociatePrincipalFromPortfolio", "CreateConstraint", "DeleteConstraint", "DescribeConstraint",
                "UpdateConstraint", "TagResource", "UntagResource", "AssociateTagOptionWithResource",
                "DisassociateTagOptionFromResource"),
              [ctx.arn("catalog", kind, region="${AWS::Region}") for kind in ("portfolio/*", "product/*")],
              sid="MLOpsPortfolio"),
        # Constraints, associations and searches are not resource-scoped in Service Catalog.
        allow(a("servicecatalog", "ListPortfolios", "ListConstraintsForPortfolio", "ListPrincipalsForPortfolio",
                "ListPortfoliosForProduct", "SearchProductsAsAdmin", "DescribeCopyProductStatus"), "*",
              sid="MLOpsPortfolioRead"),
        allow(a("resource-groups", "CreateGroup", "DeleteGroup", "GetGroup", "GetGroupQuery", "UpdateGroup",
                "UpdateGroupQuery", "Tag", "Untag", "GetTags"),
              ctx.arn("resource-groups", "group/*", region="${AWS::Region}"), sid="EnvironmentResourceGroup"),
    ]
    return statements


def sc_launch_role(ctx: BuildContext, t: Template):
    # More than IAM's 10,240 characters of inline policy per role: customer managed policies instead.
    policies = iam_blocks.managed_policies(ctx, "SCLaunchPolicy", "Service Catalog launch role of the data science "
                                           "environment product", sc_launch_statements(ctx))
    for policy in policies:
        policy.Condition = SC_LAUNCH_CONDITION
        t.add_resource(policy)
    return iam_blocks.role(
        ctx, "SCLaunchRole",
        description="Service Catalog launch role of the data science environment product",
        name=Ref(SC_LAUNCH_ROLE_NAME.name),
        # Service Catalog launches the product; CloudFormation is trusted too, for deploying the
        # environment template directly with --role-arn (the two-step CloudFormation option).
        assume=iam_blocks.service_trust("servicecatalog", "cloudformation"),
        managed=[Ref(p) for p in policies],
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
