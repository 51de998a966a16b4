"""env-kms: the environment's three customer managed KMS keys.

* ``SagemakerEBSKMSKey``: ML storage volumes of SageMaker jobs and endpoints;
* ``SageMakerStudioStorageKMSKey``: the Studio domain's ``KmsKeyId`` (home EFS and the spaces' EBS volumes);
* ``S3BucketKMSKey``: the data and model buckets (env-s3) and the MLOps projects' artefacts.

Every key rotates yearly and is kept when its stack is deleted or the key replaced (Retain): deleting a stack
never makes data unreadable.  The key policies separate the roles that *administer* a key from the roles that
*use* it:

1. the account (root) gets ``kms:*``, AWS's default statement: IAM policies then decide as for any resource
   (the account's administrators and the launch role deploying the environment administer the keys);
2. key users (SageMaker execution, pipeline and project roles, the data scientist and team administrator roles
   when given) get cryptographic use and ...
3. ... grants for AWS resources (how SageMaker, EFS and EBS use a key for the volumes they attach);
4. an explicit Deny keeps every role of the environment (the key users) from administering a key, whatever
   their IAM policies say: a key administrator could rewrite the key policy.  The 2022 reference made the
   SageMaker execution role, which every notebook and job runs as, an administrator of the Studio storage key
   (able to disable it or schedule its deletion), and the team administrator an administrator of every key;
5. an explicit Deny of grants that are not for AWS resources, to everyone.

Optional role ARNs may be empty: they are chosen with ``Fn::If`` over whole principal lists, never with
``AWS::NoValue`` inside a list, so an empty ARN never becomes a principal.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Equals, GetAtt, If, Not, Output, Ref, Sub, Template, kms, ssm

from templates_src.blocks import environment, scanners, target_accounts
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext

NAME = "env-kms"
DESCRIPTION = "Creates the environment's customer managed KMS keys for SageMaker volumes, Studio storage and S3"

DS_TEAM_ADMIN_ROLE_ARN = params.role_arn_param(
    "DSTeamAdministratorRoleArn",
    "Role of the data science team administrator: administers the keys and may use them. Leave empty for none",
    "Team administrator role ARN",
)
DATA_SCIENTIST_ROLE_ARN = params.role_arn_param(
    "DataScientistRoleArn",
    "Role of the data scientists: may use the keys, never administer them. Leave empty for none",
    "Data scientist role ARN",
)
EXECUTION_ROLE_ARN = params.role_arn_param(
    "SageMakerExecutionRoleArn",
    "Role SageMaker Studio, notebooks and jobs run as: may use the keys, never administer them",
    "SageMaker execution role ARN",
    required=True,
)
PIPELINE_ROLE_ARN = params.role_arn_param(
    "SageMakerPipelineExecutionRoleArn",
    "Role SageMaker pipelines run as: may use the keys, never administer them",
    "SageMaker pipeline execution role ARN",
    required=True,
)
BUILD_ROLE_ARN = params.role_arn_param(
    "SageMakerModelBuildRoleArn",
    "Role of the model build/train projects (their pipelines' artifacts, their data): may use the keys, never "
    "administer them",
    "Model build role ARN",
    required=True,
)
DEPLOY_ROLE_ARN = params.role_arn_param(
    "SageMakerModelDeployRoleArn",
    "Role of the model deploy projects (their pipelines' artifacts): may use the keys, never administer them",
    "Model deploy role ARN",
    required=True,
)

HAS_DS_TEAM_ADMIN = "HasDSTeamAdministratorRole"
HAS_DATA_SCIENTIST = "HasDataScientistRole"

POLICY_VERSION = "2012-10-17"

USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")
GRANT_ACTIONS = ("kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant")
# What the environment's roles may never do.  Not denied: cryptographic use, DescribeKey, Get*/List*, and the grant
# operations (CreateGrant, ListGrants, RevokeGrant, RetireGrant) that SageMaker, EFS and EBS need to attach
# encrypted volumes for these roles.
DENIED_TO_WORKLOADS = (
    "kms:CreateAlias",
    "kms:Delete*",
    "kms:Update*",
    "kms:Put*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:ImportKeyMaterial",
    "kms:RotateKeyOnDemand",
    "kms:TagResource",
    "kms:UntagResource",
)


@dataclass(frozen=True)
class KeySpec:
    title: str  # logical id (reference name)
    kind: str  # alias and SSM suffix: ebs | efs | s3
    purpose: str  # for the description
    output_label: str


KEYS = (
    KeySpec(
        "SagemakerEBSKMSKey",
        environment.EBS_KEY,
        "the ML storage volumes of SageMaker jobs and endpoints",
        "SageMaker ML storage volume key",
    ),
    KeySpec(
        "SageMakerStudioStorageKMSKey",
        environment.EFS_KEY,
        "the SageMaker Studio domain's storage (home EFS and EBS volumes)",
        "SageMaker Studio storage key",
    ),
    KeySpec(
        "S3BucketKMSKey",
        environment.S3_KEY,
        "the data and model buckets and the MLOps project artefacts",
        "S3 bucket key",
    ),
)


def _role_list(required: list, optional: list[tuple[str, Ref]]):
    """The ARNs of ``required`` plus each optional ARN whose condition holds: ``Fn::If`` over whole lists."""
    if not optional:
        return list(required)
    (condition, arn), rest = optional[0], optional[1:]
    return If(condition, _role_list(required + [arn], rest), _role_list(required, rest))


WORKLOADS = (EXECUTION_ROLE_ARN, PIPELINE_ROLE_ARN, BUILD_ROLE_ARN, DEPLOY_ROLE_ARN)


def key_users():
    return _role_list(
        [Ref(spec.name) for spec in WORKLOADS],
        [
            (HAS_DATA_SCIENTIST, Ref(DATA_SCIENTIST_ROLE_ARN.name)),
            (HAS_DS_TEAM_ADMIN, Ref(DS_TEAM_ADMIN_ROLE_ARN.name)),
        ],
    )


def key_policy(ctx: BuildContext) -> dict:
    """The key policy of every environment key (see the module docstring).

    The statement list is literal (scanners and AWS Control Tower's checks read it as written); only
    principal lists vary with the optional roles.
    """
    # (1) AWS's default statement.  Without it only the principals named below could ever manage the key: if
    # they were deleted, the key (and everything it encrypts) would become unmanageable, recoverable only by
    # AWS Support.  It delegates to IAM: the launch role deploying this stack, for example, updates the key
    # through its IAM policy.  It does not let anyone in the account use the key by itself.
    root = {
        "Sid": "EnableIAMPolicies",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.root_arn()},
        "Action": "kms:*",
        "Resource": "*",
    }
    # (2) Use, not administer.
    users = {
        "Sid": "KeyUsers",
        "Effect": "Allow",
        "Principal": {"AWS": key_users()},
        "Action": list(USE_ACTIONS),
        "Resource": "*",
    }
    # (3) Grants only for AWS resources: SageMaker, EFS and EBS create grants to attach encrypted volumes.
    grants = {
        "Sid": "KeyUsersGrantsForAWSResources",
        "Effect": "Allow",
        "Principal": {"AWS": key_users()},
        "Action": list(GRANT_ACTIONS),
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }
    # (4) No role of the environment ever administers a key, even if an IAM policy (or a mistake) allowed it: an
    # explicit Deny wins over the root statement's delegation to IAM.  A key administrator could rewrite the
    # key policy (to another account, say), so only the account's administrators and the launch role that
    # deploys this stack do, through IAM.  Principal "*" with aws:PrincipalArn matches every session of these roles.
    deny_admin = {
        "Sid": "DenyKeyAdministrationToEnvironmentRoles",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": list(DENIED_TO_WORKLOADS),
        "Resource": "*",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": key_users()}},
    }
    # (5) Nobody, whatever IAM allows, creates a grant that is not for an AWS resource (a grant to oneself or
    # another principal would be a second, invisible key policy); AWS services acting as themselves may.
    # AWS Control Tower's CT.KMS.PR.3.
    deny_grants = {
        "Sid": "DenyGrantsNotForAWSResources",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
    }
    return {"Version": POLICY_VERSION, "Statement": [root, users, grants, deny_admin, deny_grants]}


def cross_account_statement(ctx: BuildContext):
    """Multi-account: the target accounts' model execution roles decrypt models and encrypt their endpoints'
    data capture, only through S3 (the model bucket's objects are encrypted with the S3 key)."""
    return target_accounts.reader_statement(
        ctx,
        "TargetAccountsDecryptModels",
        ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
        "*",
        Ref(target_accounts.MODEL_ROLE_NAME.name),
        extra={"StringLike": {"kms:ViaService": Sub("s3.${AWS::Region}.amazonaws.com")}},
    )


def cross_account_volume_statements(ctx: BuildContext) -> list:
    """Multi-account: the model deployments' StackSet execution role of each target account creates endpoints whose
    ML storage volumes this key encrypts.  It describes the key (SageMaker checks it when the endpoint
    configuration is created; DescribeKey requests carry no grant keys, so it cannot sit under the grant
    condition) and creates the grant SageMaker uses the key through, for AWS resources only."""
    role = Ref(target_accounts.STACKSET_ROLE_NAME.name)
    return [
        target_accounts.reader_statement(
            ctx, "TargetAccountsDescribeEndpointVolumeKey", ["kms:DescribeKey"], "*", role
        ),
        target_accounts.reader_statement(
            ctx,
            "TargetAccountsEncryptEndpointVolumes",
            ["kms:CreateGrant"],
            "*",
            role,
            extra={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
    ]


def add_key(ctx: BuildContext, t: Template, spec: KeySpec) -> kms.Key:
    key = t.add_resource(
        kms.Key(
            spec.title,
            Description=Sub(f"Environment ${{EnvName}}-${{EnvType}}: encrypts {spec.purpose}"),
            EnableKeyRotation=True,
            KeyPolicy=key_policy(ctx),
        )
    )
    if spec.kind == "s3":
        key.KeyPolicy["Statement"].append(cross_account_statement(ctx))
        scanners.skip(key, scanners.CONDITIONED_CROSS_ACCOUNT_PRINCIPAL)
    elif spec.kind == "ebs":
        key.KeyPolicy["Statement"].extend(cross_account_volume_statements(ctx))
        scanners.skip(key, scanners.CONDITIONED_CROSS_ACCOUNT_VOLUME_KEY)
    # Keys outlive their stack: data, volumes and backups encrypted with them stay readable.
    key.DeletionPolicy = "Retain"
    key.UpdateReplacePolicy = "Retain"
    t.add_resource(
        kms.Alias(f"{spec.title}Alias", AliasName=Sub(environment.kms_alias(spec.kind)), TargetKeyId=Ref(key))
    )
    t.add_resource(
        ssm.Parameter(
            f"{spec.title}ArnSSM",
            Name=environment.ssm_name(environment.kms_key_arn_ssm(spec.kind)),
            Type="String",
            Value=GetAtt(key, "Arn"),
            Description=Sub(
                f"ARN of the KMS key of environment ${{EnvName}}-${{EnvType}} that encrypts {spec.purpose}"
            ),
        )
    )
    t.add_output(
        [
            Output(f"{spec.title}Arn", Description=f"ARN of the {spec.output_label}", Value=GetAtt(key, "Arn")),
            Output(f"{spec.title}Id", Description=f"Id of the {spec.output_label}", Value=Ref(key)),
        ]
    )
    return key


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    params.add(
        t,
        params.ENV_NAME,
        params.ENV_TYPE,
        DS_TEAM_ADMIN_ROLE_ARN,
        DATA_SCIENTIST_ROLE_ARN,
        EXECUTION_ROLE_ARN,
        PIPELINE_ROLE_ARN,
        BUILD_ROLE_ARN,
        DEPLOY_ROLE_ARN,
        *target_accounts.PARAMETERS,
        target_accounts.MODEL_ROLE_NAME,
        target_accounts.STACKSET_ROLE_NAME,
    )
    target_accounts.add_conditions(t, multi_account=False)
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
            (
                "Key users and administrators",
                [
                    EXECUTION_ROLE_ARN,
                    PIPELINE_ROLE_ARN,
                    BUILD_ROLE_ARN,
                    DEPLOY_ROLE_ARN,
                    DATA_SCIENTIST_ROLE_ARN,
                    DS_TEAM_ADMIN_ROLE_ARN,
                ],
            ),
            (
                "Target accounts that read models",
                [*target_accounts.PARAMETERS, target_accounts.MODEL_ROLE_NAME, target_accounts.STACKSET_ROLE_NAME],
            ),
        ],
    )
    t.add_condition(HAS_DS_TEAM_ADMIN, Not(Equals(Ref(DS_TEAM_ADMIN_ROLE_ARN.name), "")))
    t.add_condition(HAS_DATA_SCIENTIST, Not(Equals(Ref(DATA_SCIENTIST_ROLE_ARN.name), "")))
    for spec in KEYS:
        add_key(ctx, t, spec)
    return t
