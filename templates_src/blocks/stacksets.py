"""What the self-managed StackSets of the environment need in a target account, defined once.

Both target-account templates trust the administrator (development) account the same way, and both the
setup role and the StackSet execution role run CloudFormation stack instances.  The roles' markers
(``templates_src.naming``) tie the setup role's IAM permissions to the roles the StackSets create.
"""

from __future__ import annotations

from awacs.aws import ArnLike, Condition, Principal
from troposphere import Ref, Sub

from templates_src.blocks import iam as iam_blocks
from templates_src.blocks.parameters import ADMINISTRATOR_ACCOUNT_ID
from templates_src.context import BuildContext

ADMIN = "${%s}" % ADMINISTRATOR_ACCOUNT_ID.name


def admin_account_trust(ctx: BuildContext):
    """Trust the administrator account, narrowed to the platform's roles there (role path + name prefix).

    The principals are the StackSet administration role and the environment's setup functions, which the
    same configuration names; IAM users and the account root cannot assume the role.
    """
    return iam_blocks.trust(iam_blocks.trust_statement(
        Principal("AWS", Sub(f"arn:${{AWS::Partition}}:iam::{ADMIN}:root")),
        condition=Condition(ArnLike({"aws:PrincipalArn": Sub(ctx.role_path_pattern(account=ADMIN) + "*")})),
        sid="AdministratorAccountPlatformRoles",
    ))


def stack_instance_statements(ctx: BuildContext):
    """Run the stack instances of self-managed StackSets (named StackSet-<stack set>-<id>) in this account."""
    stacks = ctx.arn("cloudformation", "stack/StackSet-*", region="*")
    return [
        iam_blocks.allow(iam_blocks.actions(
            "cloudformation", "CreateStack", "UpdateStack", "DeleteStack", "DescribeStacks",
            "DescribeStackEvents", "DescribeStackResource", "DescribeStackResources", "ListStackResources",
            "GetTemplate", "GetTemplateSummary", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet",
            "DeleteChangeSet", "TagResource", "UntagResource",
        ), stacks, sid="StackSetInstances"),
        # ValidateTemplate has no resource-level permissions.
        iam_blocks.allow(iam_blocks.actions("cloudformation", "ValidateTemplate"), "*", sid="ValidateTemplate"),
        # StackSets hands the instance the template from a bucket of its own (not in this account, its name
        # is not published), so reading objects cannot be scoped to a bucket; writing is not granted.
        iam_blocks.allow(iam_blocks.actions("s3", "GetObject", "GetObjectVersion", "GetBucketLocation"), "*",
                         sid="ReadStackSetTemplates"),
        # AWS documents SNS as part of the execution role's minimum (stack event notifications).
        iam_blocks.allow(iam_blocks.actions("sns", "Publish"), ctx.arn("sns", "*", region="*"),
                         sid="StackEventNotifications"),
    ]


def admin_account_id() -> Ref:
    return Ref(ADMINISTRATOR_ACCOUNT_ID.name)
