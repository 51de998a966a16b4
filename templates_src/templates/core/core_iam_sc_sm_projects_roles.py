"""core-iam-sc-sm-projects-roles: the two roles SageMaker projects use, for accounts that lack them.

SageMaker looks these roles up by their fixed names under /service-role/ (the console creates them when
projects are enabled).  core-main creates only the ones missing in the account and keeps them on delete,
because other core stacks and running projects in the account may use them.

* The launch role creates the MLOps projects of every environment (the environments' project products launch
  with it) and hands each project the roles of its environment: the environment's model build or model deploy
  role (by name suffix, only to CodeBuild, CodePipeline and EventBridge).
* The use role is SageMaker's account-wide role for its own (AWS-provided) project templates.  This platform's
  projects never run as it (each environment has its own project roles), and its environments' roles are not
  principals of SageMaker's own portfolio; it is kept for SageMaker and hardened all the same: the guardrails
  that need no environment (VPC and keys on every job, no internet notebook, VPC-only domains), no model
  approval, roles passed only to the services that use them, no other role assumed.
"""

from __future__ import annotations

from awacs.aws import Condition, ForAnyValueStringLike, StringEquals, StringLike
from troposphere import Equals, GetAtt, If, Not, Output, Ref, Sub, Template

from templates_src import naming
from templates_src.blocks import guardrails, policies
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext

NAME = "core-iam-sc-sm-projects-roles"
DESCRIPTION = "Creates the IAM roles for SageMaker projects (AmazonSageMakerServiceCatalogProducts*) when missing"

SERVICE_ROLE_PATH = naming.SAGEMAKER_SERVICE_ROLE_PATH  # required by SageMaker for these two roles
LAUNCH_ROLE = naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE
USE_ROLE = naming.SAGEMAKER_PRODUCTS_USE_ROLE


def _name_param(role: str, what: str) -> params.ParamSpec:
    return params.ParamSpec(
        f"{role}Name",
        f"{what} Leave empty when the role already exists in the account",
        f"{role} name",
        default=role,
        allowed_values=(role, ""),
        constraint=f"must be {role} (SageMaker uses that exact name) or empty",
    )


LAUNCH_ROLE_NAME = _name_param(LAUNCH_ROLE, "Creates the Service Catalog launch role of SageMaker projects.")
USE_ROLE_NAME = _name_param(USE_ROLE, "Creates the role the resources of SageMaker projects run as.")
LAUNCH_CONDITION = f"{LAUNCH_ROLE}Condition"
USE_CONDITION = f"{USE_ROLE}Condition"


def _arn(ctx, service, resource, account="${AWS::AccountId}", region="*"):
    return ctx.arn(service, resource, region=region, account=account)


def launch_role_statements(ctx: BuildContext) -> list:
    a, allow = iam_blocks.actions, iam_blocks.allow
    tagged = Condition(StringLike({"aws:ResourceTag/sagemaker:launch-source": "*"}))
    tagging = Condition(ForAnyValueStringLike({"aws:TagKeys": ["sagemaker:launch-source"]}))
    own_buckets = ("sagemaker-*", "sm-mlops-cp-*")
    env_config_fn = _arn(ctx, "lambda", f"function:{ctx.config.prefix}*-{naming.GET_ENVIRONMENT_CONFIGURATION}")
    return [
        # API Gateway, Cognito: only resources the SageMaker project templates tag as theirs.
        allow(
            a("apigateway", "GET", "POST", "PUT", "PATCH", "DELETE"),
            ctx.arn("apigateway", "/*", region="*", account=""),
            sid="ApiGatewayTagged",
            condition=tagged,
        ),
        allow(
            a("apigateway", "POST"),
            ctx.arn("apigateway", "/*", region="*", account=""),
            sid="ApiGatewayCreateTagged",
            condition=tagging,
        ),
        allow(
            a("apigateway", "PATCH"), ctx.arn("apigateway", "/account", region="*", account=""), sid="ApiGatewayAccount"
        ),
        # Service Catalog provisions project products into SC-<account>-pp-<id> stacks.
        *policies.stacks(ctx, ["SC-*"], sid="ProvisionedStacks"),
        allow(
            a("codebuild", "CreateProject", "DeleteProject", "UpdateProject", "BatchGetProjects"),
            _arn(ctx, "codebuild", "project/sagemaker-*"),
            sid="CodeBuild",
        ),
        allow(
            a(
                "codecommit",
                "CreateCommit",
                "CreateRepository",
                "DeleteRepository",
                "GetRepository",
                "UpdateRepositoryName",
                "UpdateRepositoryDescription",
                "TagResource",
                "UntagResource",
            ),
            _arn(ctx, "codecommit", "sagemaker-*"),
            sid="CodeCommit",
        ),
        # Pipelines of projects whose code lives in GitHub, GitLab or Bitbucket use a connection of this account.
        *policies.pass_connections(
            lambda service, resource: _arn(ctx, service, resource),
            "codepipeline.amazonaws.com",
            sid="PassConnectionsToPipelines",
        ),
        allow(a("codecommit", "ListRepositories"), "*", sid="ListRepositories"),
        allow(
            a(
                "codepipeline",
                "CreatePipeline",
                "DeletePipeline",
                "GetPipeline",
                "GetPipelineState",
                "StartPipelineExecution",
                "TagResource",
                "UntagResource",
                "UpdatePipeline",
            ),
            _arn(ctx, "codepipeline", "sagemaker-*"),
            sid="CodePipeline",
        ),
        # CodePipeline checks the role it is given.
        allow(
            a("iam", "GetRole"),
            [ctx.sagemaker_role_arn(naming.SAGEMAKER_PRODUCTS_ROLES), *project_roles(ctx)],
            sid="ReadProjectRoles",
        ),
        allow(a("cognito-idp", "CreateUserPool"), "*", sid="CognitoCreateTagged", condition=tagging),
        allow(
            a(
                "cognito-idp",
                "CreateGroup",
                "CreateUserPoolDomain",
                "CreateUserPoolClient",
                "DeleteGroup",
                "DeleteUserPool",
                "DeleteUserPoolClient",
                "DeleteUserPoolDomain",
                "DescribeUserPool",
                "DescribeUserPoolClient",
                "UpdateUserPool",
                "UpdateUserPoolClient",
            ),
            _arn(ctx, "cognito-idp", "userpool/*"),
            sid="CognitoTagged",
            condition=tagged,
        ),
        allow(a("ecr", "CreateRepository", "DeleteRepository"), _arn(ctx, "ecr", "repository/sagemaker-*"), sid="Ecr"),
        allow(
            a(
                "events",
                "DescribeRule",
                "DeleteRule",
                "DisableRule",
                "EnableRule",
                "PutRule",
                "PutTargets",
                "RemoveTargets",
                "ListTargetsByRule",
                "TagResource",
                "UntagResource",
            ),
            _arn(ctx, "events", "rule/sagemaker-*"),
            sid="Events",
        ),
        allow(
            a(
                "firehose",
                "CreateDeliveryStream",
                "DeleteDeliveryStream",
                "DescribeDeliveryStream",
                "StartDeliveryStreamEncryption",
                "StopDeliveryStreamEncryption",
                "UpdateDestination",
            ),
            _arn(ctx, "firehose", "deliverystream/sagemaker-*"),
            sid="Firehose",
        ),
        allow(
            a("glue", "CreateDatabase", "DeleteDatabase"),
            [
                _arn(ctx, "glue", "catalog"),
                _arn(ctx, "glue", "database/sagemaker-*"),
                _arn(ctx, "glue", "table/sagemaker-*"),
                _arn(ctx, "glue", "userDefinedFunction/sagemaker-*"),
            ],
            sid="GlueDatabases",
        ),
        allow(
            a(
                "glue",
                "CreateClassifier",
                "DeleteClassifier",
                "DeleteCrawler",
                "DeleteJob",
                "DeleteTrigger",
                "DeleteWorkflow",
                "StopCrawler",
            ),
            _arn(ctx, "glue", "*"),
            sid="GlueCleanup",
        ),
        allow(a("glue", "CreateWorkflow"), _arn(ctx, "glue", "workflow/sagemaker-*"), sid="GlueWorkflows"),
        allow(a("glue", "CreateJob"), _arn(ctx, "glue", "job/sagemaker-*"), sid="GlueJobs"),
        allow(a("glue", "CreateCrawler", "GetCrawler"), _arn(ctx, "glue", "crawler/sagemaker-*"), sid="GlueCrawlers"),
        allow(a("glue", "CreateTrigger", "GetTrigger"), _arn(ctx, "glue", "trigger/sagemaker-*"), sid="GlueTriggers"),
        # An environment's project roles, to the services a project runs them with (the project templates read
        # them from the environment's configuration); SageMaker's use role likewise, for its own templates.
        allow(
            a("iam", "PassRole"),
            [ctx.sagemaker_role_arn(naming.SAGEMAKER_PRODUCTS_USE_ROLE), *project_roles(ctx)],
            sid="PassProjectRoles",
            condition=Condition(StringEquals({"iam:PassedToService": PROJECT_SERVICES})),
        ),
        allow(
            a(
                "lambda",
                "AddPermission",
                "CreateFunction",
                "DeleteFunction",
                "GetFunction",
                "GetFunctionConfiguration",
                "InvokeFunction",
                "RemovePermission",
                "PutFunctionConcurrency",
                "TagResource",
            ),
            _arn(ctx, "lambda", "function:sagemaker-*"),
            sid="ProjectFunctions",
        ),
        # CloudFormation invokes the core's project functions with this role: the environment configuration and
        # the seed code check-in.
        allow(
            a("lambda", "InvokeFunction"),
            [env_config_fn, _arn(ctx, "lambda", f"function:{ctx.config.prefix}*-{naming.SEED_CODE_CHECKIN}")],
            sid="EnvironmentConfiguration",
        ),
        allow(
            a(
                "logs",
                "CreateLogGroup",
                "CreateLogStream",
                "DeleteLogGroup",
                "DeleteLogStream",
                "DescribeLogGroups",
                "DescribeLogStreams",
                "PutRetentionPolicy",
            ),
            [_arn(ctx, "logs", "log-group:/aws/apigateway/AccessLogs/*"), _arn(ctx, "logs", "log-group::log-stream:*")],
            sid="ApiGatewayLogs",
        ),
        # Product templates and seed code: tagged objects, which Service Catalog keeps in a bucket of its own.
        policies.provisioning_artifacts(sid="ProductTemplatesAndSeedCode"),
        allow(a("s3", "GetObject"), [ctx.bucket_arn(b, "*") for b in own_buckets], sid="ProjectObjects"),
        # Project artifact buckets hold pipeline artifacts only (models live in the environment's bucket).
        policies.buckets(ctx, list(own_buckets), sid="ProjectBuckets", deletable=True),
        allow(
            a(
                "sagemaker",
                "CreateEndpoint",
                "CreateEndpointConfig",
                "CreateModel",
                "CreateWorkteam",
                "DeleteEndpoint",
                "DeleteEndpointConfig",
                "DeleteModel",
                "DeleteWorkteam",
                "Describe*",
                "AddTags",
            ),
            _arn(ctx, "sagemaker", "*"),
            sid="SageMaker",
        ),
        allow(a("sagemaker", "List*"), "*", sid="SageMakerList"),
        allow(
            a("states", "CreateStateMachine", "DeleteStateMachine", "UpdateStateMachine"),
            _arn(ctx, "states", "stateMachine:sagemaker-*"),
            sid="StepFunctions",
        ),
        allow(a("ssm", *reversed(policies.PARAMETER_READ_ACTIONS)), _arn(ctx, "ssm", "parameter/*"), sid="Parameters"),
    ]


# The services a project's resources run a role with (pipelines, builds, rules; SageMaker's own templates also
# use the others).
PROJECT_SERVICES = [
    f"{service}.amazonaws.com"
    for service in (
        "codebuild",
        "codepipeline",
        "events",
        "sagemaker",
        "cloudformation",
        "lambda",
        "states",
        "glue",
        "firehose",
        "apigateway",
    )
]


def project_roles(ctx: BuildContext) -> list:
    """Every environment's project roles (<prefix><env>-<type>-<region>-sm-model-build | -sm-model-deploy)."""
    return [
        Sub(f"{ctx.role_path_pattern()}*-{marker}")
        for marker in (naming.MODEL_BUILD_ROLE_MARKER, naming.MODEL_DEPLOY_ROLE_MARKER)
    ]


def connections(ctx: BuildContext) -> list:
    """CodeConnections connections of this account, under both service prefixes (the console has created
    codeconnections ARNs since July 2024; older connections keep codestar-connections ARNs)."""
    return policies.connections(lambda service, resource: _arn(ctx, service, resource))


def use_role_statements(ctx: BuildContext) -> list:
    a, allow = iam_blocks.actions, iam_blocks.allow
    ctx.role_path_pattern()
    sagemaker_write = (
        "Create*",
        "Delete*",
        "Start*",
        "Stop*",
        "Update*",
        "Add*",
        "Associate*",
        "Disassociate*",
        "Register*",
        "Put*",
    )
    studio = [
        _arn(ctx, "sagemaker", f"{kind}/*") for kind in ("domain", "user-profile", "app", "space", "flow-definition")
    ]
    return [
        allow(
            a("cloudformation", *policies.PROJECT_STACK_ACTIONS),
            [
                _arn(ctx, "cloudformation", "stack/sagemaker-*"),
                _arn(ctx, "cloudformation", "stackset/sagemaker-*"),
                _arn(ctx, "cloudformation", "stackset-target/sagemaker-*"),
                _arn(ctx, "cloudformation", "type/resource/*"),
            ],
            sid="ProjectStacks",
        ),
        allow(
            a("cloudformation", *policies.TAG_ACTIONS),
            [_arn(ctx, "cloudformation", "stack/sagemaker-*"), _arn(ctx, "cloudformation", "stackset/sagemaker-*")],
            sid="TagProjectStacks",
        ),
        # No resource-level permissions for these.  IAM authorizes CreateStackSet only on "*"; the model deployment
        # StackSets can still only run as the environment's StackSet roles (PassRole below).
        allow(
            a("cloudformation", "GetTemplate", *sorted(policies.TEMPLATE_ACTIONS), policies.CREATE_STACK_SET),
            "*",
            sid="ReadTemplates",
        ),
        # The model deploy build finds the accounts of the environment's organizational units (read-only calls,
        # answered in the management account and to delegated administrators).
        allow(
            a("organizations", "ListAccountsForParent", "ListChildren", "DescribeOrganizationalUnit"),
            [
                ctx.arn("organizations", "ou/o-*/ou-*", account="*"),
                ctx.arn("organizations", "root/o-*/r-*", account="*"),
            ],
            sid="TargetAccountsOfOrganizationalUnits",
        ),
        allow(policies.connection_actions("UseConnection"), connections(ctx), sid="UseConnections"),
        allow(a("cloudwatch", "PutMetricData"), "*", sid="Metrics"),
        allow(
            a("codebuild", "BatchGetBuilds", "StartBuild"),
            [_arn(ctx, "codebuild", "project/sagemaker-*"), _arn(ctx, "codebuild", "build/sagemaker-*")],
            sid="CodeBuild",
        ),
        allow(a("codebuild", "ListCuratedEnvironmentImages"), "*", sid="CodeBuildImages"),
        allow(
            a(
                "codebuild",
                *policies.BUILD_REPORT_ACTIONS,
            ),
            _arn(ctx, "codebuild", "report-group/sagemaker*"),
            sid="CodeBuildReports",
        ),
        allow(
            a("codecommit", "CancelUploadArchive", "GetBranch", "GetCommit", "GetUploadArchiveStatus", "UploadArchive"),
            _arn(ctx, "codecommit", "sagemaker-*"),
            sid="CodeCommit",
        ),
        allow(
            a("codepipeline", "StartPipelineExecution"), _arn(ctx, "codepipeline", "sagemaker-*"), sid="CodePipeline"
        ),
        allow(
            a("ec2", *policies.NETWORK_INTERFACE_ACTIONS),
            _arn(ctx, "ec2", "*"),
            sid="VpcNetworkInterfaces",
        ),
        allow(
            a(
                "ec2",
                *policies.NETWORK_DESCRIBE_ACTIONS,
            ),
            "*",
            sid="VpcDescribe",
        ),
        # GetAuthorizationToken has no resource-level permissions; pulls cover AWS-owned images too.
        allow(
            a(
                "ecr",
                "BatchCheckLayerAvailability",
                "BatchGetImage",
                "DescribeImages",
                "DescribeRepositories",
                "ListImages",
                "GetAuthorizationToken",
                "GetDownloadUrlForLayer",
            ),
            "*",
            sid="EcrPull",
        ),
        allow(
            a(
                "ecr",
                "BatchDeleteImage",
                "CompleteLayerUpload",
                "CreateRepository",
                "DeleteRepository",
                "InitiateLayerUpload",
                "PutImage",
                "UploadLayerPart",
            ),
            _arn(ctx, "ecr", "repository/sagemaker-*"),
            sid="EcrPush",
        ),
        allow(
            a("events", "DeleteRule", "DescribeRule", "PutRule", "PutTargets", "RemoveTargets"),
            _arn(ctx, "events", "rule/sagemaker-*"),
            sid="Events",
        ),
        allow(
            a("firehose", "PutRecord", "PutRecordBatch"),
            _arn(ctx, "firehose", "deliverystream/sagemaker-*"),
            sid="Firehose",
        ),
        allow(
            a(
                "glue",
                "BatchCreatePartition",
                "BatchDeletePartition",
                "BatchDeleteTable",
                "BatchDeleteTableVersion",
                "BatchGetPartition",
                "CreateDatabase",
                "CreatePartition",
                "CreateTable",
                "DeletePartition",
                "DeleteTable",
                "DeleteTableVersion",
                "GetDatabase",
                "GetPartition",
                "GetPartitions",
                "GetTable",
                "GetTables",
                "GetTableVersion",
                "GetTableVersions",
                "SearchTables",
                "UpdatePartition",
                "UpdateTable",
            ),
            [
                _arn(ctx, "glue", "catalog"),
                _arn(ctx, "glue", "database/default"),
                _arn(ctx, "glue", "database/global_temp"),
                _arn(ctx, "glue", "database/sagemaker-*"),
                _arn(ctx, "glue", "table/sagemaker-*"),
                _arn(ctx, "glue", "tableVersion/sagemaker-*"),
            ],
            sid="Glue",
        ),
        # Only itself (SageMaker's own templates pass it on to the services they create), and only to them.
        allow(
            a("iam", "PassRole"),
            ctx.sagemaker_role_arn(naming.SAGEMAKER_PRODUCTS_USE_ROLE),
            sid="PassItself",
            condition=Condition(StringEquals({"iam:PassedToService": PROJECT_SERVICES})),
        ),
        allow(a("lambda", "InvokeFunction"), _arn(ctx, "lambda", "function:sagemaker-*"), sid="Lambda"),
        allow(
            a(
                "logs",
                "CreateLogDelivery",
                "CreateLogGroup",
                "CreateLogStream",
                "DeleteLogDelivery",
                "DescribeLogGroups",
                "DescribeLogStreams",
                "GetLogDelivery",
                "GetLogEvents",
                "ListLogDeliveries",
                "PutLogEvents",
                "PutResourcePolicy",
                "UpdateLogDelivery",
            ),
            _arn(ctx, "logs", "*"),
            sid="Logs",
        ),
        allow(
            a(
                "s3",
                "CreateBucket",
                "GetBucketAcl",
                "GetBucketCors",
                "GetBucketLocation",
                "ListBucket",
                "ListBucketMultipartUploads",
                "PutBucketCors",
                "AbortMultipartUpload",
                "DeleteObject",
                "GetObject",
                "GetObjectVersion",
                "PutObject",
            ),
            [ctx.bucket_arn(b, objects) for objects in (None, "*") for b in ("aws-glue-*", "sagemaker-*")],
            sid="ProjectBuckets",
        ),
        allow(a("s3", "ListAllMyBuckets"), "*", sid="ListBuckets"),
        # Pipelines, model packages, jobs, models and endpoints of this account.  Studio itself (domains,
        # user profiles, apps, spaces) is denied below: projects must not change the environment.
        allow(
            a("sagemaker", *sagemaker_write, "Describe*", "Search", "Send*", "Get*", "Batch*", "ListTags"),
            _arn(ctx, "sagemaker", "*"),
            sid="SageMakerProjectResources",
        ),
        iam_blocks.deny(a("sagemaker", *sagemaker_write), studio, sid="NoStudioChanges"),
        # Models are approved by people: never by what a project's code runs as.
        iam_blocks.deny(
            a("sagemaker", *policies.MODEL_PACKAGE_WRITE_ACTIONS),
            "*",
            sid="NoModelApproval",
            condition=Condition(StringEquals({"sagemaker:ModelApprovalStatus": "Approved"})),
        ),
        *guardrails.presence_statements(),
        allow(a("sagemaker", "List*"), "*", sid="SageMakerList"),
        allow(
            a(
                "states",
                "DescribeExecution",
                "DescribeStateMachine",
                "DescribeStateMachineForExecution",
                "GetExecutionHistory",
                "ListExecutions",
                "ListTagsForResource",
                "StartExecution",
                "StopExecution",
                "TagResource",
                "UntagResource",
                "UpdateStateMachine",
            ),
            [_arn(ctx, "states", "stateMachine:sagemaker-*"), _arn(ctx, "states", "execution:sagemaker-*:*")],
            sid="StepFunctions",
        ),
        allow(a("states", "ListStateMachines"), "*", sid="ListStateMachines"),
        # Keys of this account only (the environment's S3 and EBS keys; their names are not known here).
        allow(
            a(
                "kms",
                "CreateGrant",
                "Decrypt",
                "DescribeKey",
                "Encrypt",
                "GenerateDataKey",
                "GenerateDataKeyWithoutPlaintext",
                "ReEncryptFrom",
                "ReEncryptTo",
            ),
            _arn(ctx, "kms", "key/*"),
            sid="EnvironmentKeys",
        ),
        allow(a("kms", "ListAliases"), "*", sid="ListAliases"),
        allow(a("ssm", *policies.PARAMETER_READ_ACTIONS), _arn(ctx, "ssm", "parameter/*"), sid="Parameters"),
    ]


def use_role_trust(ctx: BuildContext):
    """The services SageMaker's own project templates run the use role with; those that document confused-deputy
    keys for the roles they assume get them (aws:SourceAccount, and for EventBridge the rule's ARN)."""
    from awacs.aws import ArnLike, Principal

    this_account = StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})
    return iam_blocks.trust(
        iam_blocks.trust_statement(
            Principal(
                "Service",
                [
                    f"{s}.amazonaws.com"
                    for s in ("cloudformation", "apigateway", "lambda", "codebuild", "glue", "codepipeline", "firehose")
                ],
            ),
            sid="Services",
        ),
        iam_blocks.trust_statement(
            Principal("Service", [f"{s}.amazonaws.com" for s in ("sagemaker", "states")]),
            condition=Condition(this_account),
            sid="ServicesForThisAccount",
        ),
        iam_blocks.trust_statement(
            Principal("Service", ["events.amazonaws.com"]),
            condition=Condition([this_account, ArnLike({"aws:SourceArn": ctx.own("events", "rule/*")})]),
            sid="EventRulesOfThisAccount",
        ),
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    params.add(t, LAUNCH_ROLE_NAME, USE_ROLE_NAME)
    params.interface(t, [("Roles to create", [LAUNCH_ROLE_NAME, USE_ROLE_NAME])])
    t.add_condition(LAUNCH_CONDITION, Not(Equals(Ref(LAUNCH_ROLE_NAME.name), "")))
    t.add_condition(USE_CONDITION, Not(Equals(Ref(USE_ROLE_NAME.name), "")))

    # More than 90 % of a role's 10,240 characters of inline policy: customer managed policies (kept with the
    # role).
    def kept_policies(role: str, description: str, statements: list, condition: str) -> list:
        policies = iam_blocks.managed_policies(ctx, f"{role}Policy", description, statements, t)
        for policy in policies:
            policy.Condition = condition
            policy.DeletionPolicy = policy.UpdateReplacePolicy = "Retain"
            t.add_resource(policy)
        return policies

    launch_policies = kept_policies(
        LAUNCH_ROLE, "SageMaker's products launch role", launch_role_statements(ctx), LAUNCH_CONDITION
    )
    launch = t.add_resource(
        iam_blocks.role(
            ctx,
            LAUNCH_ROLE,
            description="Service Catalog launch role of SageMaker project templates",
            name=Ref(LAUNCH_ROLE_NAME.name),
            path=SERVICE_ROLE_PATH,
            assume=iam_blocks.service_trust("servicecatalog"),
            managed=[Ref(policy) for policy in launch_policies],
            condition=LAUNCH_CONDITION,
            retain=True,
        )
    )
    use_policies = kept_policies(USE_ROLE, "SageMaker's products use role", use_role_statements(ctx), USE_CONDITION)
    use = t.add_resource(
        iam_blocks.role(
            ctx,
            USE_ROLE,
            description="Role the resources of SageMaker projects (pipelines, builds, rules, stacks) run as",
            name=Ref(USE_ROLE_NAME.name),
            path=SERVICE_ROLE_PATH,
            assume=use_role_trust(ctx),
            managed=[Ref(policy) for policy in use_policies],
            condition=USE_CONDITION,
            retain=True,
        )
    )
    for role, cond, title in ((launch, LAUNCH_CONDITION, LAUNCH_ROLE), (use, USE_CONDITION, USE_ROLE)):
        t.add_output(
            Output(
                f"{title}Arn",
                Description=f"{title} ARN (created here or already in the account)",
                Value=If(cond, GetAtt(role, "Arn"), ctx.sagemaker_role_arn(title)),
            )
        )
    return t
