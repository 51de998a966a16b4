"""env-iam-target-account-roles: the roles model deployment needs in each account it deploys to.

Deployed by the environment as a nested stack in the development account (single-account deployments
work the same way) and by a StackSet into every staging and production account, with the development
account's role names so that one ExecutionRoleName works everywhere.
"""

from __future__ import annotations

from awacs.aws import Bool, Condition, ForAllValuesStringNotEquals, Principal, StringEquals, StringLike
from troposphere import Equals, GetAtt, If, Not, Output, Ref, Template, encode_to_dict

from templates_src.blocks import environment, guardrails, policies, stacksets, target_accounts
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext

NAME = "env-iam-target-account-roles"
DESCRIPTION = (
    "Creates the IAM roles for multi-account model deployment in a target account (staging, prod) "
    "or in the development account"
)

PIPELINE_ROLE_ARN = params.role_arn_param(
    "PipelineExecutionRoleArn",
    "Role in the development account that may assume the model execution role (the tests of deployed endpoints: "
    "the environment's model deploy role, which env-main passes). Leave empty for none",
    "Endpoint test role ARN",
)
MODEL_KMS_KEY_ARN = params.ParamSpec(
    "ModelS3KMSKeyArn",
    "ARN of the KMS key that encrypts the model bucket in the development account",
    "Model bucket KMS key ARN",
    allowed_pattern=params.KMS_KEY_ARN,
    max_length=params.KMS_KEY_ARN_MAX,
    constraint="must be a KMS key ARN (arn:<partition>:kms:<region>:<account-id>:key/<key-id>)",
)
MODEL_BUCKET_NAME = target_accounts.MODEL_BUCKET_NAME
GENERATE_MODEL_ROLE_NAME = "GenerateSageMakerModelExecutionRoleName"
GENERATE_STACKSET_ROLE_NAME = "GenerateStackSetExecutionRoleName"
PIPELINE_ROLE_DEFAULT = "PipelineExecutionRoleCondition"
# Logical ids of the roles (the proofs in templates_src/checks find the model deployment path by them).
STACKSET_EXECUTION_ROLE_ID = "StackSetExecutionRole"
MODEL_EXECUTION_ROLE_ID = "SageMakerModelExecutionRole"
PERMISSIONS_BOUNDARY_ARN = params.ParamSpec(
    "PermissionsBoundaryArn",
    "Permissions boundary of both roles: in a target account the PermissionsBoundaryArn output of "
    "env-iam-setup-stackset-role (its StackSet execution role may create roles only with it). Leave empty "
    "for none (the development account)",
    "Permissions boundary ARN",
    default="",
    allowed_pattern=params.optional(params.POLICY_ARN),
    max_length=params.POLICY_ARN_MAX,
    constraint="must be an IAM managed policy ARN (arn:<partition>:iam::<account-id>:policy/<name>), or empty",
)
HAS_BOUNDARY = "PermissionsBoundaryGiven"
USE_TARGET_BOUNDARY = params.yes_no(
    "UseTargetAccountBoundary",
    "YES: both roles carry the target-account permissions boundary env-iam-setup-stackset-role created in this "
    "account (what the environment's self-managed StackSets pass; its execution role creates roles only with it)",
    "Use the target-account boundary",
    default="NO",
)
TARGET_BOUNDARY = "TargetAccountBoundaryCondition"


def model_execution_policy(ctx: BuildContext):
    endpoint_resources = [
        ctx.arn("sagemaker", f"{kind}/*", region="${AWS::Region}") for kind in ("endpoint", "endpoint-config", "model")
    ]
    log_groups = ctx.arn("logs", "log-group:/aws/sagemaker/Endpoints/*", region="${AWS::Region}")
    return iam_blocks.inline(
        "sagemaker-model-execution",
        # Read and invoke only: endpoints are created by the StackSet execution role, not by this role; only the
        # environment's (tagged EnvironmentName by the endpoint template: other environments may deploy here too).
        iam_blocks.allow(
            iam_blocks.actions(
                "sagemaker", "DescribeEndpoint", "DescribeEndpointConfig", "DescribeModel", "InvokeEndpoint", "ListTags"
            ),
            endpoint_resources,
            sid="EndpointsReadAndInvoke",
            condition=own_environment(),
        ),
        iam_blocks.allow(
            iam_blocks.actions(
                "ec2",
                *policies.SAGEMAKER_INTERFACE_ACTIONS,
            ),
            ctx.arn("ec2", "*", region="${AWS::Region}"),
            sid="VpcNetworkInterfaces",
        ),
        # EC2 Describe calls have no resource-level permissions.
        iam_blocks.allow(
            iam_blocks.actions(
                "ec2",
                *policies.SAGEMAKER_NETWORK_DESCRIBE_ACTIONS,
            ),
            "*",
            sid="VpcDescribe",
        ),
        iam_blocks.allow(
            iam_blocks.actions("s3", "GetObject"), ctx.bucket_arn("${ModelBucketName}", "*"), sid="ReadModelArtifacts"
        ),
        iam_blocks.allow(
            iam_blocks.actions("s3", "ListBucket"), ctx.bucket_arn("${ModelBucketName}"), sid="ListModelBucket"
        ),
        iam_blocks.allow(
            iam_blocks.actions("kms", "Decrypt", "DescribeKey"),
            Ref(MODEL_KMS_KEY_ARN.name),
            sid="DecryptModelArtifacts",
        ),
        # Data capture (the endpoint template's DataCaptureS3Uri): written to the model bucket's capture prefix,
        # encrypted with its key, never anywhere else.
        iam_blocks.allow(
            iam_blocks.actions("s3", "PutObject"),
            ctx.bucket_arn("${ModelBucketName}", environment.DATA_CAPTURE_PREFIX + "*"),
            sid="WriteDataCapture",
        ),
        iam_blocks.allow(
            iam_blocks.actions("kms", "GenerateDataKey"), Ref(MODEL_KMS_KEY_ARN.name), sid="EncryptDataCapture"
        ),
        iam_blocks.allow(
            iam_blocks.actions("logs", *policies.SAGEMAKER_LOG_ACTIONS),
            log_groups,
            sid="EndpointLogs",
        ),
        # PutMetricData has no resource-level permissions; the namespace condition confines it.
        iam_blocks.allow(
            iam_blocks.actions("cloudwatch", "PutMetricData"),
            "*",
            sid="EndpointMetrics",
            condition=Condition(StringLike({"cloudwatch:namespace": "/aws/sagemaker/*"})),
        ),
    )


def own_environment(key: str = "aws:ResourceTag") -> Condition:
    return Condition(StringEquals({f"{key}/{environment.ENV_NAME_TAG}": Ref(params.ENV_NAME.name)}))


def stackset_execution_policy(ctx: BuildContext, model_role):
    own = [
        ctx.arn("sagemaker", f"{kind}/*", region="${AWS::Region}") for kind in ("endpoint", "endpoint-config", "model")
    ]
    return iam_blocks.inline(
        "stackset-execution",
        *stacksets.stack_instance_statements(ctx),
        # The environment's endpoints only (tagged EnvironmentName by the endpoint template): created with the
        # tag, changed and deleted only with it.
        iam_blocks.allow(
            iam_blocks.actions("sagemaker", "CreateModel", "CreateEndpointConfig", "CreateEndpoint"),
            own,
            sid="CreateEndpoints",
            condition=own_environment("aws:RequestTag"),
        ),
        iam_blocks.allow(
            iam_blocks.actions("sagemaker", "AddTags"),
            own,
            sid="TagOnCreate",
            condition=Condition(
                StringEquals({"sagemaker:TaggingAction": ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"]})
            ),
        ),
        iam_blocks.allow(
            iam_blocks.actions(
                "sagemaker",
                "DeleteModel",
                "DescribeModel",
                "DeleteEndpointConfig",
                "DescribeEndpointConfig",
                "DeleteEndpoint",
                "DescribeEndpoint",
                "UpdateEndpoint",
                "UpdateEndpointWeightsAndCapacities",
                "ListTags",
            ),
            own,
            sid="DeployEndpoints",
            condition=own_environment(),
        ),
        # A template update changes other tags of its resources, never the EnvironmentName tag.
        iam_blocks.allow(
            iam_blocks.actions("sagemaker", "AddTags", "DeleteTags"),
            own,
            sid="RetagEndpoints",
            condition=Condition(
                [
                    StringEquals({f"aws:ResourceTag/{environment.ENV_NAME_TAG}": Ref(params.ENV_NAME.name)}),
                    ForAllValuesStringNotEquals({"aws:TagKeys": environment.ENV_NAME_TAG}),
                ]
            ),
        ),
        # The endpoints serve model packages registered in the development account.
        iam_blocks.allow(
            iam_blocks.actions("sagemaker", "DescribeModelPackage"),
            ctx.arn("sagemaker", "model-package/*", region="${AWS::Region}", account=stacksets.ADMIN),
            sid="ReadSourceModelPackages",
        ),
        # Endpoint configurations encrypt their ML storage volumes with a key of this or the development
        # account; SageMaker uses it through a grant for the endpoint.
        iam_blocks.allow(
            iam_blocks.actions("kms", "DescribeKey"),
            [ctx.own("kms", "key/*"), ctx.arn("kms", "key/*", region="${AWS::Region}", account=stacksets.ADMIN)],
            sid="EndpointVolumeKeys",
        ),
        iam_blocks.allow(
            iam_blocks.actions("kms", "CreateGrant"),
            [ctx.own("kms", "key/*"), ctx.arn("kms", "key/*", region="${AWS::Region}", account=stacksets.ADMIN)],
            sid="EndpointVolumeKeyGrants",
            condition=Condition(Bool({"kms:GrantIsForAWSResource": "true"})),
        ),
        iam_blocks.allow(
            iam_blocks.actions("ssm", *policies.PARAMETER_READ_ACTIONS),
            ctx.arn("ssm", "parameter/${EnvName}-*", region="${AWS::Region}"),
            sid="EnvironmentParameters",
        ),
        iam_blocks.allow(
            iam_blocks.actions("iam", "PassRole"),
            GetAtt(model_role, "Arn"),
            sid="PassModelRole",
            condition=Condition(StringEquals({"iam:PassedToService": "sagemaker.amazonaws.com"})),
        ),
        # Whatever a deployment's template says: models only in a VPC, endpoint volumes only encrypted with a key.
        *guardrails.presence_statements("Endpoints"),
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    model_name, stackset_name = target_accounts.role_name_params(ctx)
    specs = [
        params.ENV_NAME,
        params.ENV_TYPE,
        model_name,
        stackset_name,
        PIPELINE_ROLE_ARN,
        params.ADMINISTRATOR_ACCOUNT_ID,
        MODEL_KMS_KEY_ARN,
        MODEL_BUCKET_NAME,
    ]
    params.add(t, *specs)
    own_boundary = ctx.permissions_boundary is None  # a configured boundary applies to every role anyway
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE, params.ADMINISTRATOR_ACCOUNT_ID]),
            ("Role names", [model_name, stackset_name, PIPELINE_ROLE_ARN]),
            ("Model artifacts", [MODEL_BUCKET_NAME, MODEL_KMS_KEY_ARN]),
        ]
        + ([("Permissions boundary", [PERMISSIONS_BOUNDARY_ARN, USE_TARGET_BOUNDARY])] if own_boundary else []),
    )
    t.add_condition(GENERATE_MODEL_ROLE_NAME, Equals(Ref(model_name.name), ""))
    t.add_condition(GENERATE_STACKSET_ROLE_NAME, Equals(Ref(stackset_name.name), ""))
    t.add_condition(PIPELINE_ROLE_DEFAULT, Equals(Ref(PIPELINE_ROLE_ARN.name), ""))
    boundary = None
    if own_boundary:
        params.add(t, PERMISSIONS_BOUNDARY_ARN, USE_TARGET_BOUNDARY)
        t.add_condition(HAS_BOUNDARY, Not(Equals(Ref(PERMISSIONS_BOUNDARY_ARN.name), "")))
        t.add_condition(TARGET_BOUNDARY, Equals(Ref(USE_TARGET_BOUNDARY.name), "YES"))
        # A given ARN wins; else the setup template's boundary in this account when asked for; else none.
        boundary = If(
            HAS_BOUNDARY,
            Ref(PERMISSIONS_BOUNDARY_ARN.name),
            If(TARGET_BOUNDARY, stacksets.target_boundary_arn(ctx), Ref("AWS::NoValue")),
        )

    model_generated = target_accounts.model_role_name(ctx)
    stackset_generated = target_accounts.stackset_role_name(ctx)

    # The endpoint tests of the environment's deploy projects (one named role of the development account, never
    # SageMaker's account-wide products use role); SageMaker for this account only (aws:SourceAccount).
    model_role = t.add_resource(
        iam_blocks.role(
            ctx,
            MODEL_EXECUTION_ROLE_ID,
            description="SageMaker endpoints of the environment's MLOps projects run as this role",
            name=If(GENERATE_MODEL_ROLE_NAME, model_generated.sub(), Ref(model_name.name)),
            assume={
                "Version": iam_blocks.POLICY_VERSION,
                "Statement": [
                    encode_to_dict(
                        iam_blocks.trust_statement(
                            Principal("Service", ["sagemaker.amazonaws.com"]),
                            sid="SageMaker",
                            condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
                        )
                    ),
                    If(
                        PIPELINE_ROLE_DEFAULT,
                        Ref("AWS::NoValue"),
                        encode_to_dict(
                            iam_blocks.trust_statement(
                                Principal("AWS", Ref(PIPELINE_ROLE_ARN.name)), sid="EndpointTests"
                            )
                        ),
                    ),
                ],
            },
            policies=[model_execution_policy(ctx)],
            boundary=boundary,
        )
    )
    stackset_role = t.add_resource(
        iam_blocks.role(
            ctx,
            STACKSET_EXECUTION_ROLE_ID,
            description="Model deployment StackSets of the environment's MLOps projects run as this role",
            name=If(GENERATE_STACKSET_ROLE_NAME, stackset_generated.sub(), Ref(stackset_name.name)),
            # Only the environment's model deployment administration role (never its set-up one).
            assume=stacksets.administration_role_trust(ctx, stacksets.DEPLOYMENT_ADMINISTRATION_ROLES),
            policies=[stackset_execution_policy(ctx, model_role)],
            boundary=boundary,
        )
    )
    t.add_output(
        [
            Output(
                "SageMakerModelExecutionRoleArn",
                Description="ARN of the SageMaker model execution role",
                Value=iam_blocks.role_arn(model_role),
            ),
            Output(
                "SageMakerModelExecutionRoleName",
                Description="Name of the SageMaker model execution role",
                Value=Ref(model_role),
            ),
            Output(
                "StackSetExecutionRoleArn",
                Description="ARN of the StackSet execution role",
                Value=iam_blocks.role_arn(stackset_role),
            ),
            Output(
                "StackSetExecutionRoleName", Description="Name of the StackSet execution role", Value=Ref(stackset_role)
            ),
        ]
    )
    return t
