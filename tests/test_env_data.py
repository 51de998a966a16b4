"""env-kms and env-s3: the environment's keys and buckets.

Templates are rendered offline with cloud-radar (parameters, conditions and intrinsic functions resolved as
CloudFormation would), and the key and bucket policies are evaluated with the project's IAM evaluator
(templates_src.checks.iam_policy): what a principal may do with a key, which S3 requests the bucket policies deny.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest
from cloud_radar.cf.unit import Template as RadarTemplate

from templates_src import naming
from templates_src.blocks import environment, scanners
from templates_src.blocks import parameters as params
from templates_src.checks import iam_policy
from templates_src.context import BuildContext
from templates_src.generator import build_template, generate
from templates_src.templates.env import env_kms, env_s3
from tests import cfn

KMS, S3 = env_kms.NAME, env_s3.NAME
ACCOUNT = "111122223333"
EXEC = f"arn:aws:iam::{ACCOUNT}:role/ml-dev-us-east-1-sm-execution"
PIPELINE = f"arn:aws:iam::{ACCOUNT}:role/ml-dev-us-east-1-sm-pipeline"
BUILD = f"arn:aws:iam::{ACCOUNT}:role/ml-dev-us-east-1-sm-model-build"
DEPLOY = f"arn:aws:iam::{ACCOUNT}:role/ml-dev-us-east-1-sm-model-deploy"
SCIENTIST = f"arn:aws:iam::{ACCOUNT}:role/ml-dev-us-east-1-data-scientist"
TEAM_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/ml-dev-us-east-1-ds-team-admin"
OTHER = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ENDPOINT = "vpce-0123456789abcdef0"
DATA, MODELS = f"ml-dev-us-east-1-{ACCOUNT}-data", f"ml-dev-us-east-1-{ACCOUNT}-models"
S3_PARAMS = {
    "EnvName": "ml",
    "EnvType": "dev",
    "DataBucketName": DATA,
    "ModelBucketName": MODELS,
    "VPCEndpointS3Id": ENDPOINT,
    "S3BucketKMSKeyId": KEY_ARN,
    # one account (no target accounts): what the perimeter tests evaluate
    "OrganizationalUnitStagingId": "",
    "OrganizationalUnitProdId": "",
    "StagingAccountList": "",
    "ProductionAccountList": "",
    "TargetModelExecutionRoleName": "ml-dev-eu-west-1-sm-model-exec",
}
KEYS = {"SagemakerEBSKMSKey": "ebs", "SageMakerStudioStorageKMSKey": "efs", "S3BucketKMSKey": "s3"}
# Actions that change a key (what an administrator does and a workload role never may).
KEY_CHANGES = (
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKeyRotation",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:RotateKeyOnDemand",
    "kms:ImportKeyMaterial",
)
CRYPTO = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)


@pytest.fixture(scope="module")
def kms(default_config):
    return build_template(KMS, BuildContext(default_config))


@pytest.fixture(scope="module")
def s3(default_config):
    return build_template(S3, BuildContext(default_config))


def render(template: dict, values: dict) -> dict:
    """The stack CloudFormation would create from ``template`` with these parameter values."""
    return dict(RadarTemplate(json.loads(json.dumps(template))).create_stack(values, region="us-east-1"))


def kms_params(scientist: str = "", team_admin: str = "") -> dict:
    return {
        "EnvName": "ml",
        "EnvType": "dev",
        "SageMakerExecutionRoleArn": EXEC,
        "SageMakerPipelineExecutionRoleArn": PIPELINE,
        "SageMakerModelBuildRoleArn": BUILD,
        "SageMakerModelDeployRoleArn": DEPLOY,
        "DataScientistRoleArn": scientist,
        "DSTeamAdministratorRoleArn": team_admin,
    }


OPTIONAL_ROLES = [
    dict(zip(("scientist", "team_admin"), combo, strict=False))
    for combo in itertools.product(("", SCIENTIST), ("", TEAM_ADMIN))
]


def principals(stmt: dict) -> list[str]:
    principal = stmt["Principal"]
    return cfn.as_list(principal["AWS"] if isinstance(principal, dict) else principal)


def key_statements(policy: dict) -> list[iam_policy.Statement]:
    """A rendered key policy as evaluator statements, the principal folded into ``aws:PrincipalArn``."""
    out = []
    for raw in policy["Statement"]:
        who = principals(raw)
        accounts = tuple(w for w in who if w.isdigit())
        folded = (
            ()
            if who == ["*"]
            else (("StringEquals", "aws:PrincipalAccount", accounts),)
            if accounts
            else (("ArnEquals", "aws:PrincipalArn", tuple(who)),)
        )
        conditions = tuple(
            (op, key, tuple(cfn.as_list(value)))
            for op, block in (raw.get("Condition") or {}).items()
            for key, value in block.items()
        )
        out.append(
            iam_policy.Statement(
                raw["Effect"],
                actions=tuple(cfn.as_list(raw["Action"])),
                resources=tuple(cfn.as_list(raw["Resource"])),
                conditions=folded + conditions,
                sid=raw["Sid"],
                source="key-policy",
            )
        )
    return out


def ask(statements, action: str, principal: str, **context) -> iam_policy.Decision:
    context = {"aws:PrincipalArn": principal, "aws:PrincipalIsAWSService": False, **context}
    return iam_policy.evaluate(statements, iam_policy.request(action, "*", context=context, complete=True))


# -- env-kms ----------------------------------------------------------------------------------------------------
TARGET_PARAMETERS = [
    "OrganizationalUnitStagingId",
    "OrganizationalUnitProdId",
    "OrganizationId",
    "StagingAccountList",
    "ProductionAccountList",
    "TargetModelExecutionRoleName",
]
WORKLOAD_PARAMETERS = [
    "SageMakerExecutionRoleArn",
    "SageMakerPipelineExecutionRoleArn",
    "SageMakerModelBuildRoleArn",
    "SageMakerModelDeployRoleArn",
]


def test_kms_interface_is_the_designed_one(kms):
    assert list(kms["Parameters"]) == [
        "EnvName",
        "EnvType",
        "DSTeamAdministratorRoleArn",
        "DataScientistRoleArn",
        *WORKLOAD_PARAMETERS,
        *TARGET_PARAMETERS,
        "TargetStackSetExecutionRoleName",
    ]
    for name in ("DSTeamAdministratorRoleArn", "DataScientistRoleArn"):
        assert kms["Parameters"][name]["Default"] == "" and cfn.accepts(kms["Parameters"][name], "")
    for name in WORKLOAD_PARAMETERS:
        assert "Default" not in kms["Parameters"][name] and not cfn.accepts(kms["Parameters"][name], "")
        assert cfn.accepts(kms["Parameters"][name], "arn:aws-us-gov:iam::111122223333:role/ml-platform/x")
    assert set(kms["Outputs"]) == {f"{key}{suffix}" for key in KEYS for suffix in ("Arn", "Id")}
    assert "VPCEndpointKMSId" not in kms["Parameters"] and "SCLaunchRoleArn" not in kms["Parameters"]


def test_every_key_rotates_is_retained_and_is_named_for_its_environment(kms):
    keys = cfn.resources(kms, "AWS::KMS::Key")
    assert set(keys) == set(KEYS)
    for logical_id, key in keys.items():
        assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain", logical_id
        assert key["Properties"]["EnableKeyRotation"] is True
        assert "${EnvName}-${EnvType}" in cfn.text(key["Properties"]["Description"])
    aliases = {
        a["Properties"]["TargetKeyId"]["Ref"]: cfn.text(a["Properties"]["AliasName"])
        for a in cfn.resources(kms, "AWS::KMS::Alias").values()
    }
    assert aliases == {key: f"alias/${{EnvName}}-${{EnvType}}-kms-{kind}" for key, kind in KEYS.items()}
    ssm = {
        p["Properties"]["Value"]["Fn::GetAtt"][0]: cfn.text(p["Properties"]["Name"])
        for p in cfn.resources(kms, "AWS::SSM::Parameter").values()
    }
    assert ssm == {key: f"${{EnvName}}-${{EnvType}}-kms-{kind}-key-arn" for key, kind in KEYS.items()}


def test_optional_roles_never_become_empty_or_none_principals(kms):
    # moto renders AWS::NoValue inside a list as 'None': the template chooses whole lists instead.
    assert "AWS::NoValue" not in json.dumps(kms)
    for roles in OPTIONAL_ROLES:
        stack = render(kms, kms_params(**roles))
        for key in KEYS:
            policy = stack["Resources"][key]["Properties"]["KeyPolicy"]
            assert "None" not in json.dumps(policy)
            for stmt in policy["Statement"]:
                who = principals(stmt)
                assert who and all(
                    p == "*" or p.startswith("arn:aws:iam::") or p.isdigit() and len(p) == 12 for p in who
                ), (roles, stmt["Sid"])
                condition = json.dumps(stmt.get("Condition", {}))
                assert '""' not in condition and "None" not in condition
            deny = cfn.statement(policy["Statement"], "DenyKeyAdministrationToEnvironmentRoles")
            named = {p for s in policy["Statement"] for p in principals(s)} | set(
                deny["Condition"]["ArnEquals"]["aws:PrincipalArn"]
            )
            assert (SCIENTIST in named) == bool(roles["scientist"])
            assert (TEAM_ADMIN in named) == bool(roles["team_admin"])


@pytest.mark.parametrize(
    "roles", OPTIONAL_ROLES, ids=lambda r: f"scientist={bool(r['scientist'])},admin={bool(r['team_admin'])}"
)
def test_no_role_of_the_environment_administers_a_key(kms, roles):
    """Key users use the keys and never change them (a key administrator could rewrite the key policy): the
    account's administrators and the launch role administer them through IAM (the root statement)."""
    stack = render(kms, kms_params(**roles))
    workloads = (
        [EXEC, PIPELINE, BUILD, DEPLOY]
        + ([SCIENTIST] if roles["scientist"] else [])
        + ([TEAM_ADMIN] if roles["team_admin"] else [])
    )
    for key in KEYS:
        policy = stack["Resources"][key]["Properties"]["KeyPolicy"]
        statements = key_statements(policy)
        # Structure: no Allow statement naming a workload role carries an administrative action.
        for stmt in policy["Statement"]:
            if stmt["Effect"] == "Allow" and set(principals(stmt)) & set(workloads):
                acts = cfn.as_list(stmt["Action"])
                assert not [a for a in acts for c in KEY_CHANGES if iam_policy.glob_match(a, c, True)], stmt["Sid"]
        deny = cfn.statement(policy["Statement"], "DenyKeyAdministrationToEnvironmentRoles")
        assert deny["Effect"] == "Deny" and principals(deny) == ["*"]
        assert sorted(deny["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == sorted(workloads)
        # Behaviour: workload roles use the key and never change it, whatever IAM would allow.
        for role in workloads:
            for action in KEY_CHANGES:
                decision = ask(statements, action, role)
                assert "key-policy/DenyKeyAdministrationToEnvironmentRoles" in decision.denied_by, (key, role, action)
            for action in CRYPTO:
                decision = ask(statements, action, role)
                assert decision.allowed and not decision.conditional, (key, role, action)
            # Grants for the volumes SageMaker attaches: allowed, and never denied to the workloads.
            assert ask(statements, "kms:CreateGrant", role, **{"kms:GrantIsForAWSResource": True}).allowed
            assert ask(statements, "kms:RetireGrant", role).denied_by == []
        # Nobody creates grants that are not for AWS resources; AWS services acting as themselves may.
        for role in workloads + [TEAM_ADMIN, f"arn:aws:iam::{ACCOUNT}:root"]:
            decision = ask(statements, "kms:CreateGrant", role, **{"kms:GrantIsForAWSResource": False})
            assert "key-policy/DenyGrantsNotForAWSResources" in decision.denied_by
        assert (
            ask(
                statements,
                "kms:CreateGrant",
                "arn:aws:iam::aws:root",
                **{"aws:PrincipalIsAWSService": True, "kms:GrantIsForAWSResource": False},
            ).denied_by
            == []
        )
        assert [st["Sid"] for st in policy["Statement"] if st["Effect"] == "Allow"][:3] == [
            "EnableIAMPolicies",
            "KeyUsers",
            "KeyUsersGrantsForAWSResources",
        ], "no key administrator statement"
        # The key policy grants nothing by itself to anyone else (the root statement delegates to IAM).
        assert not ask(statements, "kms:Decrypt", OTHER).allowed
        assert cfn.statement(policy["Statement"], "EnableIAMPolicies")["Action"] == "kms:*"


def test_key_outputs_are_arns_and_ids(kms):
    for key in KEYS:
        assert kms["Outputs"][f"{key}Arn"]["Value"] == {"Fn::GetAtt": [key, "Arn"]}
        assert kms["Outputs"][f"{key}Id"]["Value"] == {"Ref": key}


# -- env-s3 -----------------------------------------------------------------------------------------------------
def test_s3_interface_is_the_designed_one(s3):
    assert list(s3["Parameters"]) == [
        "EnvName",
        "EnvType",
        "DataBucketName",
        "ModelBucketName",
        "VPCEndpointS3Id",
        "S3BucketKMSKeyId",
        *TARGET_PARAMETERS,
    ]
    p = s3["Parameters"]
    assert cfn.accepts(p["VPCEndpointS3Id"], ENDPOINT) and cfn.accepts(p["VPCEndpointS3Id"], "vpce-1a2b3c4d")
    for bad in ("", "vpc-0123456789abcdef0", "vpce-XYZ"):
        assert not cfn.accepts(p["VPCEndpointS3Id"], bad)
    assert cfn.accepts(p["S3BucketKMSKeyId"], KEY_ARN)
    assert not cfn.accepts(p["S3BucketKMSKeyId"], "alias/ml-dev-kms-s3")
    for name in ("DataBucketName", "ModelBucketName"):
        assert cfn.accepts(p[name], DATA) and not cfn.accepts(p[name], "") and not cfn.accepts(p[name], "Bad_Name")
    assert set(s3["Outputs"]) == {
        "DataBucketName",
        "ModelBucketName",
        "DataBucketArn",
        "ModelBucketArn",
        "LogsBucketName",
    }
    assert not cfn.resources(s3, "AWS::SSM::Parameter")  # env-main writes the bucket names to SSM


def test_data_and_model_buckets_are_encrypted_versioned_private_logged_and_retained(s3):
    buckets = cfn.resources(s3, "AWS::S3::Bucket")
    assert set(buckets) == {"DataBucket", "ModelBucket", "LogsBucket"}
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain", logical_id
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
            ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
        )
        assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        assert "AccessControl" not in props
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
        assert props["LifecycleConfiguration"]["Rules"]
    for logical_id, (kind, name) in env_s3.BUCKETS.items():
        props = buckets[logical_id]["Properties"]
        assert props["BucketName"] == {"Ref": name.name}
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Ref": "S3BucketKMSKeyId"},
        }
        assert rule["BucketKeyEnabled"] is True
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "LogsBucket"}
        assert props["LoggingConfiguration"]["LogFilePrefix"] == f"{kind}/"
        (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
        assert lifecycle["Status"] == "Enabled"
        assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": env_s3.NONCURRENT_VERSION_DAYS}
        assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": env_s3.INCOMPLETE_UPLOAD_DAYS}
        assert "ExpirationInDays" not in lifecycle  # current data never expires
        # The log bucket's policy exists before the first log is delivered.
        assert buckets[logical_id]["DependsOn"] == ["LogsBucketPolicy"]
    assert (
        len({p["LoggingConfiguration"]["LogFilePrefix"] for p in (buckets[b]["Properties"] for b in env_s3.BUCKETS)})
        == 2
    )


def test_log_bucket_uses_sse_s3_and_accepts_only_s3_logging_of_its_buckets_and_projects(s3):
    logs = s3["Resources"]["LogsBucket"]
    props = logs["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}  # logging cannot use SSE-KMS
    assert "LoggingConfiguration" not in props
    # It does not log into itself: checkov's finding is skipped with the reason, defined once.
    assert logs["Metadata"]["checkov"]["skip"] == [
        {"id": "CKV_AWS_18", "comment": scanners.ACCESS_LOGS_BUCKET_NOT_LOGGED.comment}
    ]
    assert cfn.text(props["BucketName"]) == "${EnvName}-${EnvType}-${AWS::Region}-${AWS::AccountId}-logs"
    expiry = [r for r in props["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert [r["ExpirationInDays"] for r in expiry] == [env_s3.LOG_RETENTION_DAYS]
    statements = s3["Resources"]["LogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert [s["Sid"] for s in allows] == ["AllowServerAccessLogs", "AllowProjectServerAccessLogs"]
    allow = allows[0]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"} and allow["Action"] == ["s3:PutObject"]
    assert [cfn.text(a) for a in allow["Condition"]["ArnLike"]["aws:SourceArn"]] == [
        "arn:${AWS::Partition}:s3:::${DataBucketName}",
        "arn:${AWS::Partition}:s3:::${ModelBucketName}",
    ]
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert cfn.statement(statements, "DenyInsecureTransport")["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Evaluated: the logging service's delivery for one of the two buckets is allowed, for any other bucket not.
    resolver = iam_policy.Resolver(s3, S3_PARAMS, pseudo={"AWS::AccountId": ACCOUNT}, arn_of=_bucket_arn)
    evaluated = iam_policy.statements_from({"Statement": statements}, resolver, "logs")
    logs_name = f"ml-dev-eu-west-1-{ACCOUNT}-logs"

    def deliver(source, account=ACCOUNT, key="data/x"):
        return iam_policy.evaluate(
            evaluated,
            iam_policy.request(
                "s3:PutObject",
                f"arn:aws:s3:::{logs_name}/{key}",
                complete=True,
                context={
                    "aws:SourceArn": f"arn:aws:s3:::{source}",
                    "aws:SourceAccount": account,
                    "aws:SecureTransport": True,
                },
            ),
        )

    assert deliver(DATA).allowed and deliver(MODELS, key="models/y").allowed
    assert not deliver("someone-elses-bucket").allowed
    assert not deliver(DATA, account="999999999999").allowed
    assert not deliver(DATA, key="elsewhere/x").allowed
    # The MLOps projects' artifact buckets of this account log under projects/, nowhere else.
    project_bucket = f"sm-mlops-cp-p-abc123def456-{ACCOUNT}"
    assert deliver(project_bucket, key="projects/p-abc123def456/x").allowed
    assert not deliver(project_bucket, key="data/x").allowed
    assert not deliver(project_bucket, account="999999999999", key="projects/x").allowed
    assert not deliver("sm-mlops-cpx", key="projects/x").allowed


def _bucket_arn(resource: dict, logical_id: str, resolver: iam_policy.Resolver) -> list[str]:
    return [f"arn:aws:s3:::{name}" for name in resolver.values(resource["Properties"]["BucketName"])]


@pytest.fixture(scope="module")
def perimeter(s3):
    """The data bucket's policy as evaluator statements, with a function that asks it about one request."""
    resolver = iam_policy.Resolver(s3, S3_PARAMS, pseudo={"AWS::AccountId": ACCOUNT}, arn_of=_bucket_arn)
    document = s3["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]
    statements = iam_policy.statements_from(document, resolver, "data")

    def denied(action: str, resource: str = f"arn:aws:s3:::{DATA}/datasets/train.csv", **context) -> list[str]:
        context = {"aws:SecureTransport": True, "aws:ViaAWSService": False, **context}
        return iam_policy.evaluate(
            statements, iam_policy.request(action, resource, context=context, complete=True)
        ).denied_by

    return denied


def test_bucket_policies_are_deny_statements_with_sids_and_no_tag_exceptions(s3):
    text = json.dumps(s3)
    assert "PrincipalTag" not in text and "aws:ResourceTag" not in text
    for logical_id in ("DataBucketPolicy", "ModelBucketPolicy"):
        statements = s3["Resources"][logical_id]["Properties"]["PolicyDocument"]["Statement"]
        cross_account = (
            ["TargetAccountsReadModels", "TargetAccountsWriteDataCapture", "DenyModelRolesOutsideVpcEndpoints"]
            if logical_id == "ModelBucketPolicy"
            else []
        )
        assert all(
            s["Effect"] == "Deny"
            and s.get("Sid")
            and s["Principal"] in ("*", {"AWS": "*"})
            or s["Sid"] in ("TargetAccountsReadModels", "TargetAccountsWriteDataCapture")
            for s in statements
        )
        assert [s["Sid"] for s in statements] == [
            "DenyInsecureTransport",
            "DenyAccessOutsideVpcEndpoint",
            "DenyOtherKmsKeys",
            "DenyOtherEncryption",
            "DenyCustomerProvidedKeys",
            *cross_account,
        ]
        bucket = logical_id[: -len("Policy")]
        assert s3["Resources"][logical_id]["Properties"]["Bucket"] == {"Ref": bucket}
        tls = cfn.statement(statements, "DenyInsecureTransport")
        assert tls["Action"] == ["s3:*"] and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert tls["Resource"][0] == {"Fn::GetAtt": [bucket, "Arn"]}
        outside = cfn.statement(statements, "DenyAccessOutsideVpcEndpoint")
        base = {
            "StringNotEquals": {"aws:SourceVpce": {"Ref": "VPCEndpointS3Id"}},
            "BoolIfExists": {"aws:ViaAWSService": "false"},
        }
        if cross_account:  # target accounts' model roles read through their own accounts' endpoints
            condition, multi, single = outside["Condition"]["Fn::If"]
            assert condition == "MultiAccountDeploymentCondition" and single == base
            assert multi == {**base, "ArnNotLike": multi["ArnNotLike"]}
        else:
            assert outside["Condition"] == base
        for action in (
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            "s3:ListBucket",
            "s3:ListBucketVersions",
            "s3:RestoreObject",
            "s3:PutObjectTagging",
            "s3:AbortMultipartUpload",
        ):
            assert any(iam_policy.glob_match(a, action, True) for a in outside["Action"]), action
        # Bucket configuration stays manageable by the deploying roles from outside the VPC.
        for action in (
            "s3:PutBucketPolicy",
            "s3:GetBucketPolicy",
            "s3:PutEncryptionConfiguration",
            "s3:PutBucketTagging",
            "s3:PutLifecycleConfiguration",
        ):
            assert not any(iam_policy.glob_match(a, action, True) for a in outside["Action"]), action
        other_key = cfn.statement(statements, "DenyOtherKmsKeys")
        assert other_key["Condition"] == {
            "Null": {"s3:x-amz-server-side-encryption": "false"},
            "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": {"Ref": "S3BucketKMSKeyId"}},
        }


def test_data_bucket_perimeter_evaluated(perimeter):
    via_endpoint = {"aws:SourceVpce": ENDPOINT}
    assert perimeter("s3:GetObject", **via_endpoint) == []
    assert perimeter("s3:ListBucket", f"arn:aws:s3:::{DATA}", **via_endpoint) == []
    # From anywhere else (the internet, another VPC's endpoint), objects and listings are out of reach.
    outside = ["data/DenyAccessOutsideVpcEndpoint"]
    assert perimeter("s3:GetObject") == outside
    assert perimeter("s3:GetObject", **{"aws:SourceVpce": "vpce-0fedcba9876543210"}) == outside
    assert perimeter("s3:ListBucket", f"arn:aws:s3:::{DATA}") == outside
    assert perimeter("s3:PutObject") == outside and perimeter("s3:DeleteObjectVersion") == outside
    assert perimeter("s3:PutObject", **{"aws:SourceVpce": ENDPOINT}) == []  # no headers: the bucket default
    # An AWS service acting for a principal with its credentials (forward access session) passes.
    assert perimeter("s3:GetObject", **{"aws:ViaAWSService": True}) == []
    # Bucket configuration is not part of the perimeter.
    assert perimeter("s3:PutBucketPolicy", f"arn:aws:s3:::{DATA}") == []
    # TLS always.
    assert perimeter("s3:GetObject", **via_endpoint, **{"aws:SecureTransport": False}) == ["data/DenyInsecureTransport"]
    # Writes: the environment's key (by ARN) or the bucket default; never another key, SSE-S3 or SSE-C.
    put = {**via_endpoint}
    assert perimeter("s3:PutObject", **put) == []
    assert (
        perimeter(
            "s3:PutObject",
            **put,
            **{"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN},
        )
        == []
    )
    other = KEY_ARN.replace("1234abcd", "99999999")
    assert perimeter(
        "s3:PutObject",
        **put,
        **{"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": other},
    ) == ["data/DenyOtherKmsKeys"]
    # SSE-KMS without a key id would use the account's AWS managed key (aws/s3).
    assert perimeter("s3:PutObject", **put, **{"s3:x-amz-server-side-encryption": "aws:kms"}) == [
        "data/DenyOtherKmsKeys"
    ]
    assert perimeter("s3:PutObject", **put, **{"s3:x-amz-server-side-encryption": "AES256"}) == [
        "data/DenyOtherKmsKeys",
        "data/DenyOtherEncryption",
    ]
    assert "data/DenyOtherEncryption" in perimeter(
        "s3:PutObject",
        **put,
        **{
            "s3:x-amz-server-side-encryption": "aws:kms:dsse",
            "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN,
        },
    )
    assert perimeter("s3:PutObject", **put, **{"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"}) == [
        "data/DenyCustomerProvidedKeys"
    ]


def test_unsigned_requests_are_outside_the_perimeter(s3):
    resolver = iam_policy.Resolver(s3, S3_PARAMS, arn_of=_bucket_arn)
    document = s3["Resources"]["ModelBucketPolicy"]["Properties"]["PolicyDocument"]
    statements = iam_policy.statements_from(document, resolver, "models")
    # No aws:ViaAWSService and no endpoint in the request context: BoolIfExists makes the Deny apply.
    decision = iam_policy.evaluate(
        statements,
        iam_policy.request(
            "s3:GetObject", f"arn:aws:s3:::{MODELS}/model.tar.gz", context={"aws:SecureTransport": True}, complete=True
        ),
    )
    assert decision.denied_by == ["models/DenyAccessOutsideVpcEndpoint"]


def test_exports_and_names_fit_their_limits(s3, enterprise_config):
    exports = {k: cfn.text(v["Export"]["Name"]) for k, v in s3["Outputs"].items() if "Export" in v}
    assert exports == {
        "DataBucketName": "${EnvName}-${EnvType}-data-bucket-name",
        "ModelBucketName": "${EnvName}-${EnvType}-model-bucket-name",
    }
    enterprise = {name: build_template(name, BuildContext(enterprise_config)) for name in (KMS, S3)}
    assert {k: cfn.text(v["Export"]["Name"]) for k, v in enterprise[S3]["Outputs"].items() if "Export" in v} == {
        k: f"acme-{v}" for k, v in exports.items()
    }
    env = params.ENVIRONMENT
    for template in enterprise.values():
        for output in template["Outputs"].values():
            if "Export" in output:
                assert naming.worst_case_length(cfn.text(output["Export"]["Name"]), env) <= naming.LIMITS["export"]
    logs = cfn.text(enterprise[S3]["Resources"]["LogsBucket"]["Properties"]["BucketName"])
    assert logs == environment.bucket_name(BuildContext(enterprise_config), "logs").pattern  # buckets: no prefix
    assert naming.worst_case_length(logs, env) <= naming.LIMITS["bucket"]
    for alias in cfn.resources(enterprise[KMS], "AWS::KMS::Alias").values():
        assert naming.worst_case_length(cfn.text(alias["Properties"]["AliasName"]), env) <= 256
    # The longest environment names, rendered: every name is valid where AWS checks it.
    longest = {"EnvName": "e" * 16, "EnvType": "t" * 10}
    stack = render(enterprise[S3], {**S3_PARAMS, **longest})
    name = stack["Resources"]["LogsBucket"]["Properties"]["BucketName"]
    assert re.fullmatch(params.BUCKET_NAME, name) and len(name) <= 63
    keys = render(enterprise[KMS], {**kms_params(), **longest})
    for resource in keys["Resources"].values():
        if resource["Type"] == "AWS::KMS::Alias":
            assert re.fullmatch(r"alias/[a-zA-Z0-9/_-]{1,250}", resource["Properties"]["AliasName"])
        if resource["Type"] == "AWS::SSM::Parameter":
            assert re.fullmatch(r"[a-zA-Z0-9_.-]{1,1011}", resource["Properties"]["Name"])


@pytest.mark.parametrize("flavour", ["default", "enterprise", "hardened"])
def test_templates_lint_clean(flavour, configs, linter):
    generation = generate(configs[flavour], [KMS, S3])
    assert set(generation.templates) == {KMS, S3}
    report = generation.lint(linter)
    findings = [str(f) for result in report.results.values() for f in result.findings]
    assert findings == [] and not report.failed


def test_target_accounts_model_roles_read_models_through_their_own_endpoints(s3):
    """Account lists: the listed accounts' model execution role reads the model bucket (the bucket policy's Allow is
    what a cross-account read needs) through its own account's S3 endpoint; the same role from the internet, another
    role of a listed account, and the role in an unlisted account are not let in."""
    params = {**S3_PARAMS, "StagingAccountList": "333333333333", "ProductionAccountList": "444444444444"}
    resolver = iam_policy.Resolver(s3, params, pseudo={"AWS::AccountId": ACCOUNT}, arn_of=_bucket_arn)
    document = s3["Resources"]["ModelBucketPolicy"]["Properties"]["PolicyDocument"]
    statements = iam_policy.resource_policy_statements(document, resolver, "models")
    role = "ml-dev-eu-west-1-sm-model-exec"

    def decide(account: str, name: str, endpoint: str | None):
        context = {
            "aws:SecureTransport": True,
            "aws:ViaAWSService": False,
            "aws:PrincipalAccount": account,
            "aws:PrincipalArn": f"arn:aws:iam::{account}:role/{name}",
        }
        if endpoint:
            context["aws:SourceVpce"] = endpoint
        return iam_policy.evaluate(
            statements,
            iam_policy.request("s3:GetObject", f"arn:aws:s3:::{MODELS}/model.tar.gz", context=context, complete=True),
        )

    through_their_endpoint = decide("333333333333", role, "vpce-0fedcba9876543210")
    assert through_their_endpoint.allowed and not through_their_endpoint.denied_by
    assert decide("333333333333", role, None).denied_by  # their credentials used from outside a VPC endpoint
    assert not decide("333333333333", "someone-else", "vpce-0fedcba9876543210").allowed
    assert not decide("999999999999", role, "vpce-0fedcba9876543210").allowed  # an account not listed
