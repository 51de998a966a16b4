"""The staging and production accounts of an environment, defined once: the parameters that name them (two
organizational units, or two account lists, never a mix), the conditions that tell the modes apart, and the
principals in them that may read the development account's models.

Grants are narrowed to the target accounts' role by name (``aws:PrincipalArn``): S3 and KMS refuse a policy
that names a role which does not exist yet, and the target roles are created by StackSets after these policies.
With account lists the principals are the listed accounts (by id), so an update of a list adds and removes
grants and deleting the stack removes them.  With organizational units the principal is ``*`` restricted to the
organization (``aws:PrincipalOrgID``, a fixed value) and its OUs' paths (``aws:PrincipalOrgPaths``), so an
account moved into an OU is covered without any update.  Neither form is "public" by S3's definition (Block
Public Access refuses a bucket policy whose ``Principal: *`` statement is not restricted by a fixed value of a
listed key: ``aws:PrincipalOrgPaths`` and ``aws:PrincipalArn`` patterns are wildcards, and
``aws:PrincipalAccount`` is not in S3's list).
"""

from __future__ import annotations

from troposphere import And, Equals, If, Join, Not, Or, Ref, Split, Sub, Template

from templates_src import naming
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext

OU = r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}"
ACCOUNT_LIST = r"\d{12}(,\d{12})*"

OU_STAGING = ParamSpec(
    "OrganizationalUnitStagingId",
    "Organizational unit of the staging accounts (with OrganizationalUnitProdId; "
    "leave both account lists empty). Accounts added to the OU later are set up automatically",
    "Staging organizational unit id",
    default="",
    allowed_pattern=params.optional(OU),
    max_length=68,
    constraint="must be an organizational unit id (ou-xxxx-xxxxxxxx), or empty",
)
OU_PROD = OU_STAGING.with_(
    name="OrganizationalUnitProdId",
    description="Organizational unit of the production accounts (with OrganizationalUnitStagingId)",
    label="Production organizational unit id",
)
ORGANIZATION_ID = ParamSpec(
    "OrganizationId",
    "Id of the AWS organization the organizational units belong to (required with OU ids; it "
    "scopes the cross-account grants to the OUs' paths)",
    "Organization id",
    default="",
    allowed_pattern=params.optional(r"o-[a-z0-9]{10,32}"),
    max_length=34,
    constraint="must be an organization id (o-xxxxxxxxxx), or empty",
)
STAGING_ACCOUNTS = ParamSpec(
    "StagingAccountList",
    "Staging account ids, comma-separated (with ProductionAccountList; leave the OU ids "
    "empty). Each account needs env-iam-setup-stackset-role first",
    "Staging account ids",
    default="",
    allowed_pattern=params.optional(ACCOUNT_LIST),
    max_length=1299,
    constraint="must be 12-digit account ids separated by commas (no spaces), or empty",
)
PROD_ACCOUNTS = STAGING_ACCOUNTS.with_(
    name="ProductionAccountList",
    description="Production account ids, comma-separated (with StagingAccountList)",
    label="Production account ids",
)
MODEL_ROLE_NAME = ParamSpec(
    "TargetModelExecutionRoleName",
    "Name of the model execution role in the target accounts (the role that reads models from this account)",
    "Target model execution role name",
    default="",
    allowed_pattern=params.optional(params.ROLE_NAME),
    max_length=64,
    constraint="must be an IAM role name, or empty",
)

STACKSET_ROLE_NAME = MODEL_ROLE_NAME.with_(
    name="TargetStackSetExecutionRoleName",
    description="Name of the model deployment StackSet execution role in "
    "the target accounts (the role that creates endpoints whose storage volumes the EBS key encrypts)",
    label="Target StackSet execution role name",
)

PARAMETERS = (OU_STAGING, OU_PROD, ORGANIZATION_ID, STAGING_ACCOUNTS, PROD_ACCOUNTS)

# -- what the target accounts' templates receive from the development account -----------------------------------------
# The development account's model bucket (env-iam-target-account-roles' roles read it, env-target-account-network's
# S3 endpoint admits it).
MODEL_BUCKET_NAME = ParamSpec(
    "ModelBucketName",
    "Name of the model bucket in the development account",
    "Model bucket name",
    allowed_pattern=params.BUCKET_NAME,
    min_length=3,
    max_length=63,
    constraint="must be an S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens)",
)


# -- the roles of model deployment in every account (env-iam-target-account-roles), named alike everywhere ----------
def role_name_params(ctx: BuildContext) -> tuple[ParamSpec, ParamSpec]:
    """The parameters that name the model execution role and the model deployment StackSet execution role (empty:
    generated names, ``model_role_name`` and ``stackset_role_name``)."""
    model = params.role_name_param(
        "SageMakerModelExecutionRoleName",
        "Name of the role SageMaker endpoints run as. Leave empty to generate one",
        "Model execution role name",
        contains=naming.MODEL_EXECUTION_ROLE_MARKER,
        starts_with=ctx.config.prefix,
    )
    stackset = params.role_name_param(
        "StackSetExecutionRoleName",
        "Name of the role the model deployment StackSets run as. Leave empty to generate one",
        "StackSet execution role name",
        contains=naming.STACKSET_EXECUTION_ROLE_MARKER,
        starts_with=ctx.config.prefix,
    )
    return model, stackset


def model_role_name(ctx: BuildContext):
    """The generated name of the model execution role (the same in every account of the environment)."""
    return ctx.namer.name(
        "role", "${EnvName}-${EnvType}-${AWS::Region}-" + naming.MODEL_EXECUTION_ROLE_MARKER, params.ENVIRONMENT
    )


def stackset_role_name(ctx: BuildContext):
    """The generated name of the model deployment StackSet execution role (the same in every account)."""
    return ctx.namer.name(
        "role", "${EnvName}-${EnvType}-${AWS::Region}-" + naming.STACKSET_EXECUTION_ROLE_MARKER, params.ENVIRONMENT
    )


OU_MODE = "OrganizationalUnitCondition"
LIST_MODE = "AccountListCondition"
MULTI_ACCOUNT = "MultiAccountDeploymentCondition"


def _given(spec: ParamSpec) -> Not:
    return Not(Equals(Ref(spec.name), ""))


def add_conditions(template: Template, multi_account: bool = True) -> None:
    template.add_condition(OU_MODE, And(_given(OU_STAGING), _given(OU_PROD)))
    template.add_condition(LIST_MODE, And(_given(STAGING_ACCOUNTS), _given(PROD_ACCOUNTS)))
    if multi_account:
        template.add_condition(MULTI_ACCOUNT, Or({"Condition": OU_MODE}, {"Condition": LIST_MODE}))


def rules() -> dict[str, dict]:
    """Either both OUs (and the organization) or both account lists; never a mix."""
    any_ou = Or(_given(OU_STAGING), _given(OU_PROD))
    any_list = Or(_given(STAGING_ACCOUNTS), _given(PROD_ACCOUNTS))
    return {
        "TargetAccounts": {
            "Assertions": [
                {
                    "Assert": Not(And(any_ou, any_list)),
                    "AssertDescription": "Name the target accounts either by organizational units "
                    "(OrganizationalUnitStagingId "
                    "and OrganizationalUnitProdId) or by account lists (StagingAccountList and "
                    "ProductionAccountList), not both",
                }
            ]
        },
        "OrganizationalUnitIds": {
            "RuleCondition": any_ou,
            "Assertions": [
                {"Assert": _given(spec), "AssertDescription": f"{spec.name} is required with organizational units"}
                for spec in (OU_STAGING, OU_PROD, ORGANIZATION_ID)
            ],
        },
        "AccountList": {
            "RuleCondition": any_list,
            "Assertions": [
                {"Assert": _given(spec), "AssertDescription": f"{spec.name} is required with account lists"}
                for spec in (STAGING_ACCOUNTS, PROD_ACCOUNTS)
            ],
        },
    }


def accounts() -> Split:
    """Every target account id (list mode), staging then production."""
    return Split(",", Join(",", [Ref(STAGING_ACCOUNTS.name), Ref(PROD_ACCOUNTS.name)]))


def model_reader_condition(ctx: BuildContext, role_name, extra: dict | None = None) -> If:
    """The condition block that matches the target accounts' role sessions of ``role_name``: the role by name (and
    the platform's role path), with organizational units also the organization and the OUs' paths; plus
    ``extra`` conditions in either case."""
    role = {
        "ArnLike": {
            "aws:PrincipalArn": Sub(
                f"arn:${{AWS::Partition}}:iam::*:role{ctx.config.role_path}${{Role}}", Role=role_name
            )
        },
        **(extra or {}),
    }
    by_ou = {
        "StringEquals": {"aws:PrincipalOrgID": Ref(ORGANIZATION_ID.name)},
        "ForAnyValue:StringLike": {
            "aws:PrincipalOrgPaths": [
                Sub(f"${{{ORGANIZATION_ID.name}}}/*/${{{spec.name}}}/*") for spec in (OU_STAGING, OU_PROD)
            ]
        },
        **role,
    }
    return If(OU_MODE, by_ou, role)


def reader_principal() -> If:
    """The principals of a target-account grant: the listed accounts (by id), this account alone without
    lists (its own model execution role, which its IAM policy lets read anyway, so the statement list stays
    literal without granting anything new), or, with organizational units, ``*`` (restricted by
    ``aws:PrincipalOrgID`` in the condition)."""
    return If(OU_MODE, {"AWS": "*"}, {"AWS": If(LIST_MODE, accounts(), [Ref("AWS::AccountId")])})


def reader_statement(
    ctx: BuildContext, sid: str, actions: list[str], resources, role_name, extra: dict | None = None
) -> dict:
    """An Allow for a role of the accounts models are deployed to.  Always in the policy (a literal statement
    list: scanners read it as written, and no AWS::NoValue in a list)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": reader_principal(),
        "Action": actions,
        "Resource": resources,
        "Condition": model_reader_condition(ctx, role_name, extra),
    }
