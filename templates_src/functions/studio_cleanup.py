# Lets CloudFormation delete a SageMaker Studio domain and, after it, the environment's network, without manual
# steps.  One module for two custom resources (each backed by its own function and role), by resource type:
#
# Custom::StudioAppsCleanup (DependsOn the domain and the stack's user profile, so CloudFormation deletes it
#   first).  Delete: deletes every app of the domain that is not Deleted or Failed and waits until they are
#   gone, deletes every space (its EBS volume: the user's files) and waits, then deletes the user profiles other
#   than KeepUserProfiles (the stack deletes its own) and waits, so that the stack's user profile and the domain
#   can be deleted (SageMaker refuses while apps, spaces or other profiles exist).
#   Users' data is deleted ONLY when the stack that holds this resource is being deleted: CloudFormation also
#   sends Delete on an update (the clean-up phase after a replacement, a resource removed from the template,
#   the clean-up after a rolled-back update), and there nothing may be lost.  The event's StackId is the ARN of
#   the stack that holds the resource (env-sagemaker-studio, a nested stack of env-main: deleting env-main, or
#   an env-main update that removes it, deletes that nested stack, which is then DELETE_IN_PROGRESS too).
#   Before deleting anything the handler asks DescribeStacks(StackId) for its StackStatus:
#   * DELETE_IN_PROGRESS (the stack is deleted, also when a deletion is retried) or ROLLBACK_IN_PROGRESS (a
#     failed creation rolls back: no user data can exist yet): delete as above;
#   * anything else (UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS, ...):
#     delete nothing and answer SUCCESS; what was kept and why is logged (cfn_runtime sends a Reason only with
#     FAILED; a SUCCESS names the log stream) and returned as Data "Kept" (the old domain, its spaces and
#     profiles are left for the user to migrate or delete; CloudFormation's own attempt to delete a replaced
#     domain fails while they exist, which does not fail the update);
#   * DescribeStacks fails (AccessDenied, throttling beyond botocore's retries, ...): delete nothing and answer
#     FAILED, saying why.  Fail safe and completable: during a stack deletion the stack becomes DELETE_FAILED
#     and deleting it again (once the cause is fixed) asks again; a SUCCESS there would let CloudFormation go
#     on to the user profile and the domain, which SageMaker refuses while spaces exist, and no retry would
#     reach this function again.  During an update's clean-up phase a failed Delete does not fail the update.
#   The function's role may DescribeStacks on its own stack only (nothing else is granted for this).
#   Create: the physical id is the DomainId.  Update: nothing, and the physical id never changes (also when a
#   replaced domain brings a new DomainId): CloudFormation then sends no Delete for the old id at all, and a
#   later stack deletion cleans the domain named by the properties of that time.  Stacks created before this
#   rule keep their physical id (an old domain id) the same way; it is only a name.
#
# Custom::HomeFileSystemRelease (the domain DependsOn it, so CloudFormation deletes it after the domain).
#   Delete: finds the home file systems SageMaker created for domains of this account and region that no longer
#   exist (tag ManagedByAmazonSageMakerResource) with mount targets in VpcId, deletes those mount targets and
#   waits until they are gone, then deletes the NFS security groups SageMaker created for those domains in the
#   VPC (their rules that reference each other first).  The file systems themselves are kept: the users' home
#   directories survive, and without mount targets nothing holds the subnets and the VPC any more.
#
# Every wait is bounded (BUDGET seconds for one request in all); past it the request FAILS with what is left,
# and deleting the stack again continues where this one stopped.
import logging
import re
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cfn_runtime import custom_resource

BUDGET = 780  # seconds one request may spend waiting (the function's timeout is 900 s)
POLL = 15  # seconds between two looks at what is still being deleted
TAG = "ManagedByAmazonSageMakerResource"
NFS_GROUP = re.compile(r"security-group-for-(?:inbound|outbound)-nfs-(d-[a-z0-9]+)")
NFS_GROUP_NAMES = ("security-group-for-inbound-nfs-{}", "security-group-for-outbound-nfs-{}")

# Statuses: what is gone, what is on its way (wait for it), and what can be deleted now.
APPS_GONE = ("Deleted", "Failed")
BUSY = ("Pending", "Deleting", "Updating")

# Statuses of the stack holding Custom::StudioAppsCleanup in which its Delete may delete users' data.
DELETES_DATA = ("DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS")
STACK_RETRIES = Config(retries={"mode": "standard", "max_attempts": 8})  # throttling: retried, then FAILED


def now():
    return time.monotonic()


class Deadline:
    def __init__(self, seconds=None):
        self.seconds = BUDGET if seconds is None else seconds
        self.end = now() + self.seconds

    def wait(self, what):
        """Sleep one poll interval, or fail when the budget is spent."""
        left = self.end - now()
        if left <= 0:
            raise TimeoutError(
                f"still waiting after {self.seconds} s for {what}; delete the stack again to "
                "continue (nothing is lost by retrying)"
            )
        time.sleep(min(POLL, left))


def code(err):
    return err.response.get("Error", {}).get("Code", "")


def items(client, operation, key, **params):
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


def ignore(call, *codes, **params):
    try:
        call(**params)
    except ClientError as err:
        if code(err) not in codes:
            raise


# -- Custom::StudioAppsCleanup -----------------------------------------------------------------------------------
def delete_apps(sm, domain_id, deadline):
    while True:
        alive = [
            a for a in items(sm, "list_apps", "Apps", DomainIdEquals=domain_id) if a.get("Status") not in APPS_GONE
        ]
        if not alive:
            return
        for app in alive:
            if app.get("Status") in BUSY:
                continue  # pending apps can be deleted once in service; deleting ones are on their way
            owner = (
                {"SpaceName": app["SpaceName"]} if app.get("SpaceName") else {"UserProfileName": app["UserProfileName"]}
            )
            ignore(
                sm.delete_app,
                "ResourceNotFound",
                "ResourceInUse",
                DomainId=domain_id,
                AppType=app["AppType"],
                AppName=app["AppName"],
                **owner,
            )
        deadline.wait(
            f"{len(alive)} app(s) of domain {domain_id}: "
            + ", ".join(sorted(f"{a['AppType']}/{a['AppName']}" for a in alive))
        )


def delete_until_gone(list_all, delete, keep, what, deadline):
    """Delete every listed entity (name -> status) not in ``keep``, and wait until all of them are gone."""
    while True:
        left = {name: status for name, status in list_all().items() if name not in keep}
        if not left:
            return
        for name, status in sorted(left.items()):
            if status not in BUSY:
                delete(name)
        deadline.wait(f"{what}: {', '.join(sorted(left))}")


def delete_spaces(sm, domain_id, deadline):
    delete_until_gone(
        lambda: {s["SpaceName"]: s.get("Status") for s in items(sm, "list_spaces", "Spaces", DomainIdEquals=domain_id)},
        lambda name: ignore(sm.delete_space, "ResourceNotFound", "ResourceInUse", DomainId=domain_id, SpaceName=name),
        (),
        f"spaces of domain {domain_id}",
        deadline,
    )


def delete_user_profiles(sm, domain_id, keep, deadline):
    delete_until_gone(
        lambda: {
            p["UserProfileName"]: p.get("Status")
            for p in items(sm, "list_user_profiles", "UserProfiles", DomainIdEquals=domain_id)
        },
        lambda name: ignore(
            sm.delete_user_profile, "ResourceNotFound", "ResourceInUse", DomainId=domain_id, UserProfileName=name
        ),
        set(keep),
        f"user profiles of domain {domain_id}",
        deadline,
    )


def names(props, key):
    value = props.get(key) or []
    value = value.split(",") if isinstance(value, str) else value
    return [str(v).strip() for v in value if v and str(v).strip()] if isinstance(value, list) else []


def apps_cleanup_ready(props, event):
    domain_id = props.get("DomainId")
    if not isinstance(domain_id, str) or not domain_id:
        raise ValueError("DomainId is required")
    # Create: the domain id.  Update: None, i.e. the physical id CloudFormation sent (never a new one, so that
    # no Delete follows for the old id; see the module comment).
    physical_id = domain_id if event.get("RequestType") == "Create" else None
    return physical_id, {"DomainId": domain_id}


def stack_status(stack_id):
    """StackStatus of the stack that holds the resource; RuntimeError (nothing deleted) when it is unknown."""
    try:
        stacks = boto3.client("cloudformation", config=STACK_RETRIES).describe_stacks(StackName=stack_id)["Stacks"]
        return stacks[0]["StackStatus"]
    except (ClientError, BotoCoreError, LookupError) as err:
        detail = f"{code(err)}: {err}" if isinstance(err, ClientError) else f"{type(err).__name__}: {err}"
        raise RuntimeError(
            f"nothing was deleted: cannot tell whether stack {stack_id} is being deleted ({detail}); users' apps, "
            "spaces and profiles are deleted only during a stack deletion. If the stack is being deleted, delete "
            "it again once the cause is fixed (the function's role needs cloudformation:DescribeStacks on this "
            "stack)"
        ) from err


def apps_cleanup(props, event):
    domain_id = props.get("DomainId")
    if not isinstance(domain_id, str) or not domain_id:
        return None, None  # its creation failed: there is nothing it could have cleaned
    sm = boto3.client("sagemaker")
    try:
        sm.describe_domain(DomainId=domain_id)
    except ClientError as err:
        if code(err) == "ResourceNotFound":
            return None, None
        raise
    status = stack_status(event["StackId"])
    if status not in DELETES_DATA:
        kept = (
            f"kept domain {domain_id} with its apps, spaces and user profiles: stack {event['StackId']} is "
            f"{status}, not being deleted (this Delete comes from an update or its rollback), and users' data "
            "is never deleted on an update. They are left for the user to migrate or delete (a replaced "
            "domain stays until its spaces and other user profiles are deleted)"
        )
        logging.getLogger().warning("%s", kept)
        return None, {"Kept": kept[:1000]}
    deadline = Deadline()
    delete_apps(sm, domain_id, deadline)
    delete_spaces(sm, domain_id, deadline)
    delete_user_profiles(sm, domain_id, names(props, "KeepUserProfiles"), deadline)
    return None, None


# -- Custom::HomeFileSystemRelease -------------------------------------------------------------------------------
def release_ready(props, event):
    vpc_id = props.get("VpcId")
    if not isinstance(vpc_id, str) or not vpc_id.startswith("vpc-"):
        raise ValueError("VpcId must be a VPC id (vpc-...)")
    # The VPC is part of the id: a new VPC replaces this resource, and the old one releases the old VPC.  The
    # domain takes its HomeEfsFileSystemCreation from here, so it is created after this resource and deleted
    # before it.
    return f"home-file-system-release-{vpc_id}", {"HomeEfsFileSystemCreation": "Enabled"}


def release(props, event):
    vpc_id = props.get("VpcId")
    if not isinstance(vpc_id, str) or not vpc_id.startswith("vpc-"):
        return None, None
    _, partition, _, region, account = event["StackId"].split(":")[:5]
    domains = f"arn:{partition}:sagemaker:{region}:{account}:domain/"
    sm, efs, ec2 = boto3.client("sagemaker"), boto3.client("efs"), boto3.client("ec2")
    known = {}

    def gone(domain_id):
        if domain_id not in known:
            try:
                sm.describe_domain(DomainId=domain_id)
                known[domain_id] = False
            except ClientError as err:
                if code(err) != "ResourceNotFound":
                    raise
                known[domain_id] = True
        return known[domain_id]

    def mount_targets(fs_id):
        return [
            mt
            for mt in items(efs, "describe_mount_targets", "MountTargets", FileSystemId=fs_id)
            if mt.get("VpcId") == vpc_id and mt.get("LifeCycleState") != "deleted"
        ]

    systems = []
    for fs in items(efs, "describe_file_systems", "FileSystems"):
        arn = {t["Key"]: t["Value"] for t in fs.get("Tags", [])}.get(TAG, "")
        if arn.startswith(domains) and "/" not in arn[len(domains) :] and gone(arn[len(domains) :]):
            if mount_targets(fs["FileSystemId"]):
                systems.append(fs["FileSystemId"])

    deadline = Deadline()
    for fs_id in systems:
        for mt in mount_targets(fs_id):
            if mt.get("LifeCycleState") != "deleting":
                ignore(efs.delete_mount_target, "MountTargetNotFound", MountTargetId=mt["MountTargetId"])
    while True:
        left = [mt["MountTargetId"] for fs_id in systems for mt in mount_targets(fs_id)]
        if not left:
            break
        deadline.wait(f"mount targets {', '.join(sorted(left))} of file systems {', '.join(systems)}")

    groups = {}  # domain id -> [group] for domains that no longer exist
    for group in items(
        ec2,
        "describe_security_groups",
        "SecurityGroups",
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": [n.format("*") for n in NFS_GROUP_NAMES]},
        ],
    ):
        match = NFS_GROUP.fullmatch(group.get("GroupName", ""))
        if match and gone(match.group(1)):
            groups.setdefault(match.group(1), []).append(group)
    for _domain_id, pair in sorted(groups.items()):
        delete_groups(ec2, pair, deadline)
    return None, ({"FileSystemIds": ",".join(systems)} if systems else None)


def delete_groups(ec2, pair, deadline):
    ids = {g["GroupId"] for g in pair}
    for group in pair:  # a group cannot be deleted while another group's rule references it
        for field, revoke in (
            ("IpPermissions", ec2.revoke_security_group_ingress),
            ("IpPermissionsEgress", ec2.revoke_security_group_egress),
        ):
            rules = []
            for perm in group.get(field, []):
                pairs = [{"GroupId": p["GroupId"]} for p in perm.get("UserIdGroupPairs", []) if p.get("GroupId") in ids]
                if pairs:
                    rule = {k: perm[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in perm}
                    rules.append({**rule, "UserIdGroupPairs": pairs})
            if rules:
                ignore(
                    revoke,
                    "InvalidPermission.NotFound",
                    "InvalidGroup.NotFound",
                    GroupId=group["GroupId"],
                    IpPermissions=rules,
                )
    left = sorted(ids)
    while left:
        for group_id in list(left):
            try:
                ec2.delete_security_group(GroupId=group_id)
                left.remove(group_id)
            except ClientError as err:
                if code(err) == "InvalidGroup.NotFound":
                    left.remove(group_id)
                elif code(err) != "DependencyViolation":  # network interfaces still on their way out
                    raise
        if left:
            deadline.wait(f"security groups {', '.join(left)} (still in use)")


# -- dispatch ----------------------------------------------------------------------------------------------------
ACTIONS = {
    "Custom::StudioAppsCleanup": (apps_cleanup_ready, apps_cleanup),
    "Custom::HomeFileSystemRelease": (release_ready, release),
}


def create(props, event):
    if event.get("ResourceType") not in ACTIONS:
        raise ValueError(f"unknown resource type {event.get('ResourceType')!r}; expected one of {sorted(ACTIONS)}")
    return ACTIONS[event["ResourceType"]][0](props, event)


def delete(props, event):
    action = ACTIONS.get(event.get("ResourceType"))
    return action[1](props, event) if action else (None, None)


lambda_handler = custom_resource(create=create, update=create, delete=delete)
