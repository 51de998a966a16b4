"""Secure S3 bucket settings every bucket of the platform shares: private, owner-enforced, TLS only, no
customer-provided keys, events to EventBridge.  The environment's buckets and the projects' artifact buckets
are built from these."""

from __future__ import annotations

from awacs.aws import Bool, Condition, Principal, Statement
from troposphere import GetAtt, Join, Ref, Sub, s3

from templates_src.blocks import iam as iam_blocks


def public_access_blocked() -> s3.PublicAccessBlockConfiguration:
    return s3.PublicAccessBlockConfiguration(
        BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
    )


def owner_enforced() -> s3.OwnershipControls:
    """ACLs disabled: the bucket owner owns every object, access is decided by policies only."""
    return s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")])


def no_customer_keys() -> s3.BlockedEncryptionTypes:
    """SSE-C: the key is the client's, so nobody could read such an object without it (nor audit its use)."""
    return s3.BlockedEncryptionTypes(EncryptionType=["SSE-C"])


def kms_encryption(key_arn) -> s3.BucketEncryption:
    """SSE-KMS with ``key_arn`` by default, with a bucket key: one data key per bucket and period instead of a
    KMS request per object (fewer KMS calls and costs, same key)."""
    return s3.BucketEncryption(
        ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                    SSEAlgorithm="aws:kms", KMSMasterKeyID=key_arn
                ),
                BucketKeyEnabled=True,
                BlockedEncryptionTypes=no_customer_keys(),
            )
        ]
    )


def retain(bucket: s3.Bucket) -> s3.Bucket:
    bucket.DeletionPolicy = "Retain"
    bucket.UpdateReplacePolicy = "Retain"
    return bucket


def objects(bucket: s3.Bucket, prefix: str = "") -> Sub:
    """ARN pattern of the bucket's objects (under ``prefix``)."""
    return Sub(f"${{{bucket.title}.Arn}}/{prefix}*")


def _all_objects(bucket: s3.Bucket) -> Join:
    """The bucket's objects as Fn::Join of its Fn::GetAtt Arn and "/*": the one form AWS Control Tower's CT.S3.PR.8
    recognises in a template as written (cfn-lint's I1022 would prefer Fn::Sub: ignored on the bucket policies)."""
    return Join("", [GetAtt(bucket, "Arn"), "/*"])


def bucket_policy(title: str, bucket: s3.Bucket, *statements: Statement) -> s3.BucketPolicy:
    # I1022 (prefer Fn::Sub over Fn::Join): the TLS statement's Fn::Join is the form CT.S3.PR.8 reads (_all_objects).
    return s3.BucketPolicy(
        title,
        Bucket=Ref(bucket),
        PolicyDocument=iam_blocks.document(*statements),
        Metadata={"cfn-lint": {"config": {"ignore_checks": ["I1022"]}}},
    )


def notifications() -> s3.NotificationConfiguration:
    """Object events go to EventBridge's default bus, free of charge there: rules may react to new data or models
    (AWS Control Tower's CT.S3.PR.4)."""
    return s3.NotificationConfiguration(EventBridgeConfiguration=s3.EventBridgeConfiguration(EventBridgeEnabled=True))


def tls_only(bucket) -> Statement:
    """Data in transit is always encrypted (AWS Control Tower's CT.S3.PR.8)."""
    return iam_blocks.deny(
        iam_blocks.actions("s3", "*"),
        [GetAtt(bucket, "Arn"), _all_objects(bucket)],
        sid="DenyInsecureTransport",
        principal=Principal("*"),
        condition=Condition(Bool({"aws:SecureTransport": "false"})),
    )
