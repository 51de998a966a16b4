"""env-s3: the environment's data and model buckets, and the bucket their access logs go to.

The data and model buckets are encrypted with the environment's S3 key (SSE-KMS, bucket keys), versioned,
closed to the public and to ACLs, logged, and kept when the stack is deleted.  Their bucket policies are the
data perimeter:

* no request without TLS;
* no object or listing request that does not come through the environment's S3 VPC endpoint, except requests
  an AWS service makes for a principal with that principal's credentials (``aws:ViaAWSService``).  Unlike the
  2022 reference there is no exception for principals carrying a tag: whoever can tag a role could leave the
  perimeter;
* no object written with another KMS key, another kind of encryption or a customer-provided key.

Server access logs cannot be delivered to a bucket whose default encryption is SSE-KMS, so the log bucket uses
SSE-S3 and accepts writes only from S3's logging service on behalf of the two buckets of this account.

With ``s3_object_lock`` (generation time) the data and model buckets have S3 Object Lock activated, without
default retention: nothing is locked until a principal allowed s3:PutObjectRetention or s3:PutObjectLegalHold
(no role of the environment is) locks an object version, in governance mode only (the bucket policies refuse
compliance-mode locks, which nobody could lift before they expire, not even to honour a deletion request;
governance-mode locks can be lifted by principals allowed s3:BypassGovernanceRetention).  Object Lock cannot be
deactivated once active.  The log bucket never has it: S3 does not deliver server access logs to a bucket with
Object Lock.
"""

from __future__ import annotations

from awacs.aws import (
    ArnLike,
    BoolIfExists,
    Condition,
    Null,
    Principal,
    Statement,
    StringEquals,
    StringNotEquals,
    StringNotEqualsIfExists,
)
from troposphere import Export, GetAtt, If, Output, Ref, Sub, Template, encode_to_dict, s3

from templates_src.blocks import buckets, environment, scanners, target_accounts
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext

NAME = "env-s3"
DESCRIPTION = "Creates the environment's encrypted, versioned, VPC-only data and model buckets"

DATA_BUCKET_NAME = environment.bucket_param(
    "DataBucketName", "Name of the data bucket to create", "Data bucket name", required=True
)
MODEL_BUCKET_NAME = environment.bucket_param(
    "ModelBucketName", "Name of the model bucket to create", "Model bucket name", required=True
)
VPC_ENDPOINT_S3_ID = params.ParamSpec(
    "VPCEndpointS3Id",
    "Id of the environment's S3 VPC endpoint: object and listing requests to the buckets must come through it",
    "S3 VPC endpoint id",
    allowed_pattern=r"vpce-[0-9a-f]{8,17}",
    max_length=22,
    constraint="must be a VPC endpoint id (vpce- followed by 8 or 17 hexadecimal digits)",
)
S3_KMS_KEY_ARN = environment.kms_key_arn_param(
    "S3BucketKMSKeyId", "ARN of the environment's S3 KMS key, which encrypts both buckets", "S3 bucket key ARN"
)

# Versions of an overwritten or deleted object stay recoverable this long, then expire: long enough to notice
# and undo a mistake (a quarter), short enough that deleted data does not stay forever in noncurrent versions.
NONCURRENT_VERSION_DAYS = 90
# Parts of an interrupted multipart upload are invisible but billed; a week covers any upload still running.
INCOMPLETE_UPLOAD_DAYS = 7
# Server access logs are kept a year (security investigations, access reviews), then expire.
LOG_RETENTION_DAYS = 365
LOG_NONCURRENT_DAYS = 30

# Object and listing actions the perimeter covers.  Bucket configuration (policy, encryption, tags, ...) stays
# reachable from outside the VPC: CloudFormation and the platform's deploying roles manage it there.
DATA_ACTIONS = (
    "GetObject*",
    "PutObject*",
    "DeleteObject*",
    "ListBucket*",
    "ListMultipartUploadParts",
    "AbortMultipartUpload",
    "RestoreObject",
    "ReplicateObject",
    "ReplicateDelete",
    "ReplicateTags",
)

# Request headers (as condition keys) that choose an object's encryption.
SSE_HEADER = "s3:x-amz-server-side-encryption"
SSE_KMS_KEY_HEADER = "s3:x-amz-server-side-encryption-aws-kms-key-id"

LOGS_KIND = environment.LOGS_KIND
# bucket logical id -> (kind, parameter with its name); each bucket's access logs go under "<kind>/".
BUCKETS = {
    "DataBucket": ("data", DATA_BUCKET_NAME),
    "ModelBucket": ("models", MODEL_BUCKET_NAME),
}


def log_prefix(kind: str) -> str:
    return f"{kind}/"


def logs_bucket(ctx: BuildContext, t: Template) -> s3.Bucket:
    bucket = t.add_resource(
        buckets.retain(
            s3.Bucket(
                "LogsBucket",
                BucketName=environment.bucket_name(ctx, LOGS_KIND).sub(),
                BucketEncryption=s3.BucketEncryption(
                    ServerSideEncryptionConfiguration=[
                        s3.ServerSideEncryptionRule(
                            ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"),
                            BlockedEncryptionTypes=buckets.no_customer_keys(),
                        )
                    ]
                ),
                VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
                PublicAccessBlockConfiguration=buckets.public_access_blocked(),
                OwnershipControls=buckets.owner_enforced(),
                NotificationConfiguration=buckets.notifications(),
                LifecycleConfiguration=s3.LifecycleConfiguration(
                    Rules=[
                        s3.LifecycleRule(
                            Id="ExpireAccessLogs",
                            Status="Enabled",
                            ExpirationInDays=LOG_RETENTION_DAYS,
                            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                                NoncurrentDays=LOG_NONCURRENT_DAYS
                            ),
                            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
                        ),
                        s3.LifecycleRule(
                            Id="RemoveExpiredDeleteMarkers", Status="Enabled", ExpiredObjectDeleteMarker=True
                        ),
                    ]
                ),
            )
        )
    )
    scanners.skip(bucket, scanners.ACCESS_LOGS_BUCKET_NOT_LOGGED)
    sources = [ctx.bucket_arn(f"${{{spec.name}}}") for _, spec in BUCKETS.values()]
    t.add_resource(
        buckets.bucket_policy(
            "LogsBucketPolicy",
            bucket,
            # S3 delivers server access logs as the logging service principal; aws:SourceArn and aws:SourceAccount
            # keep any other bucket (of any account) from writing logs here (confused deputy).
            iam_blocks.allow(
                iam_blocks.actions("s3", "PutObject"),
                [buckets.objects(bucket, log_prefix(kind)) for kind, _ in BUCKETS.values()],
                sid="AllowServerAccessLogs",
                principal=Principal("Service", "logging.s3.amazonaws.com"),
                condition=Condition(
                    [ArnLike({"aws:SourceArn": sources}), StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})]
                ),
            ),
            # The MLOps projects' artifact buckets (sm-mlops-cp-*) of this account log under projects/.
            iam_blocks.allow(
                iam_blocks.actions("s3", "PutObject"),
                [buckets.objects(bucket, environment.PROJECT_LOGS_PREFIX)],
                sid="AllowProjectServerAccessLogs",
                principal=Principal("Service", "logging.s3.amazonaws.com"),
                condition=Condition(
                    [
                        ArnLike({"aws:SourceArn": ctx.bucket_arn(environment.PROJECT_BUCKETS)}),
                        StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}),
                    ]
                ),
            ),
            buckets.tls_only(bucket),
        )
    )
    return bucket


def data_bucket(ctx: BuildContext, t: Template, title: str, logs: s3.Bucket) -> s3.Bucket:
    kind, name = BUCKETS[title]
    bucket = t.add_resource(
        buckets.retain(
            s3.Bucket(
                title,
                # The log bucket's policy must exist before S3 delivers the first log.
                DependsOn=["LogsBucketPolicy"],
                BucketName=Ref(name.name),
                BucketEncryption=s3.BucketEncryption(
                    ServerSideEncryptionConfiguration=[
                        s3.ServerSideEncryptionRule(
                            ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                                SSEAlgorithm="aws:kms", KMSMasterKeyID=Ref(S3_KMS_KEY_ARN.name)
                            ),
                            # One data key per bucket and period instead of a KMS request per object: fewer KMS calls
                            # and
                            # costs, same key.
                            BucketKeyEnabled=True,
                            BlockedEncryptionTypes=buckets.no_customer_keys(),
                        )
                    ]
                ),
                VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
                PublicAccessBlockConfiguration=buckets.public_access_blocked(),
                OwnershipControls=buckets.owner_enforced(),
                NotificationConfiguration=buckets.notifications(),
                LoggingConfiguration=s3.LoggingConfiguration(
                    DestinationBucketName=Ref(logs),
                    LogFilePrefix=log_prefix(kind),
                    # <prefix><account>/<region>/<bucket>/<yyyy>/<mm>/<dd>/: logs queryable by date (Athena).
                    TargetObjectKeyFormat=s3.TargetObjectKeyFormat(
                        PartitionedPrefix=s3.PartitionedPrefix(PartitionDateSource="EventTime")
                    ),
                ),
                LifecycleConfiguration=s3.LifecycleConfiguration(
                    Rules=[
                        s3.LifecycleRule(
                            Id="ExpireOldVersionsAndAbortUploads",
                            Status="Enabled",
                            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                                NoncurrentDays=NONCURRENT_VERSION_DAYS
                            ),
                            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                                DaysAfterInitiation=INCOMPLETE_UPLOAD_DAYS
                            ),
                            # A delete marker left with no version behind it only slows listings down.
                            ExpiredObjectDeleteMarker=True,
                        )
                    ]
                ),
            )
        )
    )
    if ctx.config.s3_object_lock:  # no default retention: see the module docstring
        bucket.ObjectLockEnabled = True
    policy = t.add_resource(
        buckets.bucket_policy(f"{title}Policy", bucket, *perimeter_statements(bucket), *lock_statements(ctx, bucket))
    )
    if title == "ModelBucket":
        cross_account_readers(ctx, bucket, policy)
    return bucket


def cross_account_readers(ctx: BuildContext, bucket: s3.Bucket, policy: s3.BucketPolicy) -> None:
    """Multi-account: the target accounts' model execution roles read models and write their endpoints' data
    capture (no grant to an account root).
    They read through their own accounts' S3 endpoints, so the environment's endpoint restriction exempts them
    and a second deny makes them use a VPC endpoint (any credentials of theirs used from the internet fail)."""
    role = Ref(target_accounts.MODEL_ROLE_NAME.name)
    pattern = Sub(f"arn:${{AWS::Partition}}:iam::*:role{ctx.config.role_path}${{Role}}", Role=role)
    document = encode_to_dict(policy.PolicyDocument)
    for statement in document["Statement"]:
        if statement["Sid"] == "DenyAccessOutsideVpcEndpoint":
            statement["Condition"] = If(
                target_accounts.MULTI_ACCOUNT,
                {**statement["Condition"], "ArnNotLike": {"aws:PrincipalArn": pattern}},
                statement["Condition"],
            )
    document["Statement"] += [
        target_accounts.reader_statement(
            ctx, "TargetAccountsReadModels", ["s3:GetObject", "s3:GetObjectVersion"], [buckets.objects(bucket)], role
        ),
        # Their endpoints' data capture: written under the capture prefix only (the bucket owner owns every object).
        target_accounts.reader_statement(
            ctx,
            "TargetAccountsWriteDataCapture",
            ["s3:PutObject"],
            [Sub("${Bucket}/" + environment.DATA_CAPTURE_PREFIX + "*", Bucket=GetAtt(bucket, "Arn"))],
            role,
        ),
        {
            "Sid": "DenyModelRolesOutsideVpcEndpoints",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": [f"s3:{a}" for a in DATA_ACTIONS],
            "Resource": [GetAtt(bucket, "Arn"), buckets.objects(bucket)],
            "Condition": {"ArnLike": {"aws:PrincipalArn": pattern}, "Null": {"aws:SourceVpce": "true"}},
        },
    ]
    policy.PolicyDocument = document


def lock_statements(ctx: BuildContext, bucket: s3.Bucket) -> list[Statement]:
    """With Object Lock: no compliance-mode lock on the data and model buckets.  A compliance-mode retention
    cannot be shortened or lifted by anyone, the account root included, so one such request (an upload with
    lock headers or PutObjectRetention) would make personal data undeletable until its date, whatever an
    erasure obligation says.  Governance mode stays possible for principals allowed to set retention."""
    if not ctx.config.s3_object_lock:
        return []
    return [
        iam_blocks.deny(
            iam_blocks.actions("s3", "PutObject", "PutObjectRetention"),
            [buckets.objects(bucket)],
            sid="DenyComplianceModeLocks",
            principal=Principal("*"),
            condition=Condition(StringEquals({"s3:object-lock-mode": "COMPLIANCE"})),
        )
    ]


def perimeter_statements(bucket: s3.Bucket) -> list[Statement]:
    """The bucket policy of the data and model buckets (Deny statements only: access itself is granted by the
    roles' IAM policies and the key policy)."""
    objects = buckets.objects(bucket)
    return [
        buckets.tls_only(bucket),
        # The data perimeter: objects are read, written and listed only from the environment's VPC, through its
        # S3 endpoint, whose own policy limits which buckets the VPC reaches.  The one exception is a request an
        # AWS service makes for a principal with that principal's own credentials (forward access sessions,
        # aws:ViaAWSService true), for example SageMaker reading model artifacts while a user creates a model,
        # or CloudFormation acting with its caller's credentials.  Such requests start in the service, never in
        # the VPC, so they can never carry aws:SourceVpce, and denying them would break those services.  They
        # are safe to let through: the principal must itself be allowed (its IAM policy, this policy and the key
        # policy), the service acts only on that principal's own request to it, and no network outside the VPC
        # receives the objects directly.  AWS's data perimeter examples make the same exception.  What remains
        # (a principal using such a service from outside the VPC) is for identity-side controls (SCPs, the
        # roles' guardrails).  BoolIfExists: an unsigned request, which has no aws:ViaAWSService, is denied.
        iam_blocks.deny(
            iam_blocks.actions("s3", *DATA_ACTIONS),
            [GetAtt(bucket, "Arn"), objects],
            sid="DenyAccessOutsideVpcEndpoint",
            principal=Principal("*"),
            condition=Condition(
                [
                    StringNotEquals({"aws:SourceVpce": Ref(VPC_ENDPOINT_S3_ID.name)}),
                    BoolIfExists({"aws:ViaAWSService": "false"}),
                ]
            ),
        ),
        # Objects are encrypted with the environment's key only.  A request without encryption headers gets the
        # bucket's default, this key.  A request that asks for SSE-KMS must name this key by its ARN: naming no
        # key would make S3 use the account's AWS managed key (aws/s3), which this environment's key policy
        # does not control.  (A ...IfExists or negated operator alone would also deny requests without the
        # header, since both hold for an absent key; the Null condition limits the statements to requests that
        # carry the header.)
        iam_blocks.deny(
            iam_blocks.actions("s3", "PutObject"),
            [objects],
            sid="DenyOtherKmsKeys",
            principal=Principal("*"),
            condition=Condition(
                [Null({SSE_HEADER: "false"}), StringNotEqualsIfExists({SSE_KMS_KEY_HEADER: Ref(S3_KMS_KEY_ARN.name)})]
            ),
        ),
        # No SSE-S3 (AES256) or dual-layer SSE-KMS instead of the key's SSE-KMS: an object written so would escape
        # the key policy's control over who may read it.
        iam_blocks.deny(
            iam_blocks.actions("s3", "PutObject"),
            [objects],
            sid="DenyOtherEncryption",
            principal=Principal("*"),
            condition=Condition([Null({SSE_HEADER: "false"}), StringNotEquals({SSE_HEADER: "aws:kms"})]),
        ),
        # No customer-provided keys (SSE-C), also blocked by the bucket's encryption settings: nobody could read
        # such objects without the client's key, nor audit their use in CloudTrail.
        iam_blocks.deny(
            iam_blocks.actions("s3", "PutObject"),
            [objects],
            sid="DenyCustomerProvidedKeys",
            principal=Principal("*"),
            condition=Condition(Null({"s3:x-amz-server-side-encryption-customer-algorithm": "false"})),
        ),
    ]


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    specs = [
        params.ENV_NAME,
        params.ENV_TYPE,
        DATA_BUCKET_NAME,
        MODEL_BUCKET_NAME,
        VPC_ENDPOINT_S3_ID,
        S3_KMS_KEY_ARN,
        *target_accounts.PARAMETERS,
        target_accounts.MODEL_ROLE_NAME,
    ]
    params.add(t, *specs)
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
            ("Buckets", [DATA_BUCKET_NAME, MODEL_BUCKET_NAME]),
            ("Encryption and network", [S3_KMS_KEY_ARN, VPC_ENDPOINT_S3_ID]),
            ("Target accounts that read models", [*target_accounts.PARAMETERS, target_accounts.MODEL_ROLE_NAME]),
        ],
    )
    target_accounts.add_conditions(t)
    logs = logs_bucket(ctx, t)
    data = data_bucket(ctx, t, "DataBucket", logs)
    model = data_bucket(ctx, t, "ModelBucket", logs)

    def export(suffix: str) -> Export:
        return Export(Sub(ctx.namer.name("export", f"{environment.ENV}-{suffix}", params.ENVIRONMENT).pattern))

    t.add_output(
        [
            Output(
                "DataBucketName",
                Description="Name of the data bucket",
                Value=Ref(data),
                Export=export("data-bucket-name"),
            ),
            Output(
                "ModelBucketName",
                Description="Name of the model bucket",
                Value=Ref(model),
                Export=export("model-bucket-name"),
            ),
            Output("DataBucketArn", Description="ARN of the data bucket", Value=GetAtt(data, "Arn")),
            Output("ModelBucketArn", Description="ARN of the model bucket", Value=GetAtt(model, "Arn")),
            Output(
                "LogsBucketName",
                Description="Name of the bucket with the server access logs of both buckets",
                Value=Ref(logs),
            ),
        ]
    )
    return t
