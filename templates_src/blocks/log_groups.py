"""CloudWatch log groups, created the same way everywhere.

Every log group has the configured retention and is deleted with its stack.  With ``encrypt_logs`` it is
encrypted with a customer managed KMS key: the one pinned at generation time (``logs_kms_key_arn``), or else the
one given at deployment (parameter LogsKmsKeyArn, added to the template that has the log group); otherwise
CloudWatch Logs' own encryption applies and the template says so to checkov.
"""

from __future__ import annotations

from troposphere import AWSHelperFn, Ref, Template, logs

from templates_src.blocks import parameters as params
from templates_src.blocks import scanners
from templates_src.context import BuildContext


def log_group(ctx: BuildContext, template: Template, title: str, name: str | AWSHelperFn) -> logs.LogGroup:
    """A log group named ``name`` (not yet added to ``template``; its parameters are)."""
    group = logs.LogGroup(
        title,
        LogGroupName=name,
        RetentionInDays=ctx.config.log_retention_days,
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )
    if ctx.config.encrypt_logs and ctx.config.logs_kms_key_arn:
        group.KmsKeyId = ctx.config.logs_kms_key_arn
    elif ctx.config.encrypt_logs:
        params.require(template, params.LOGS_KMS_KEY_ARN, params.HARDENING_GROUP)
        group.KmsKeyId = Ref(params.LOGS_KMS_KEY_ARN.name)
    else:
        scanners.skip(group, scanners.LOGS_SERVICE_ENCRYPTED)
    return group
