"""The API calls the project's own code makes, as IAM requests, for the deploying-role check.

``record_calls(session)`` records every call of clients created meanwhile (service, operation, parameters);
``requests_for(calls)`` turns them into the IAM requests AWS authorizes them as (action, resource, context),
with full context, so the roles' conditions are evaluated too.  An operation this module does not know fails
the test: new code must say how AWS authorizes it.
"""

from __future__ import annotations

import contextlib
import uuid

from templates_src.checks.iam_coverage import Need
from templates_src.checks.iam_policy import request

PARTITION = "aws"


@contextlib.contextmanager
def record_calls(session):
    calls: list[tuple[str, str, dict]] = []

    def record(params, model, **kwargs):
        calls.append((model.service_model.endpoint_prefix, model.name, dict(params)))

    unique = f"record-{uuid.uuid4().hex}"
    session.events.register("before-parameter-build", record, unique_id=unique)
    try:
        yield calls
    finally:
        session.events.unregister("before-parameter-build", unique_id=unique)


def _s3_object(bucket, key):
    return f"arn:{PARTITION}:s3:::{bucket}/{key}"


def requests_for(service: str, operation: str, params: dict, region: str, account: str, role_arn=None) -> list:
    """(action, resource, context) of one call; ``role_arn(name)`` gives an existing role's ARN (or None)."""
    own = f"arn:{PARTITION}:{{}}:{region}:{account}:{{}}"
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # needs no permission
    if service == "iam" and operation == "GetRole":
        name = params["RoleName"]
        return [("iam:GetRole", (role_arn and role_arn(name)) or f"arn:{PARTITION}:iam::{account}:role/{name}", {})]
    if service == "api.sagemaker" or service == "sagemaker":
        group = params.get("ModelPackageGroupName")
        if operation in ("DescribeModelPackageGroup", "PutModelPackageGroupPolicy", "GetModelPackageGroupPolicy"):
            return [(f"sagemaker:{operation}", own.format("sagemaker", f"model-package-group/{group}"), {})]
        if operation == "CreateModelPackageGroup":
            resource = own.format("sagemaker", f"model-package-group/{group}")
            keys = [t["Key"] for t in params.get("Tags", [])]
            tagging = {"aws:TagKeys": keys, "sagemaker:TaggingAction": "CreateModelPackageGroup"}
            return [("sagemaker:CreateModelPackageGroup", resource, {"aws:TagKeys": keys})] + (
                [("sagemaker:AddTags", resource, tagging)] if keys else []
            )
        if operation == "ListModelPackages":
            return [("sagemaker:ListModelPackages", "*", {})]  # IAM's action table: no resource type
        if operation == "DescribeProject":
            return [("sagemaker:DescribeProject", own.format("sagemaker", f"project/{params['ProjectName']}"), {})]
        if operation == "DescribeDomain":
            return [("sagemaker:DescribeDomain", own.format("sagemaker", f"domain/{params['DomainId']}"), {})]
        if operation == "ListTags":
            return [("sagemaker:ListTags", params["ResourceArn"], {})]
    if service == "ssm" and operation == "GetParameter":
        name = params["Name"]
        return [
            ("ssm:GetParameter", own.format("ssm", "parameter" + (name if name.startswith("/") else "/" + name)), {})
        ]
    if service == "cloudformation" and operation == "ListStackInstances":
        stack_set = own.format(
            "cloudformation", f"stackset/{params['StackSetName']}:0123abcd-4567-89ef-0123-456789abcdef"
        )
        out = [("cloudformation:ListStackInstances", stack_set, {})]
        if params.get("CallAs") == "DELEGATED_ADMIN":
            # CloudFormation checks the caller's registration as a delegated administrator as the caller.
            out.append(("organizations:ListDelegatedAdministrators", "*", {}))
        return out
    if service == "codebuild" and operation == "StartBuild":
        out = [("codebuild:StartBuild", own.format("codebuild", f"project/{params['projectName']}"), {})]
        auth = params.get("sourceAuthOverride") or {}
        if auth.get("type") == "CODECONNECTIONS":
            # CodeBuild uses the connection for the caller, who passes it (as to CodePipeline).
            prefix = auth["resource"].split(":")[2]
            out.append(
                (
                    f"{prefix}:PassConnection",
                    auth["resource"],
                    {f"{prefix}:PassedToService": "codebuild.amazonaws.com"},
                )
            )
        return out
    if service == "codebuild" and operation == "ListBuildsForProject":
        return [("codebuild:ListBuildsForProject", own.format("codebuild", f"project/{params['projectName']}"), {})]
    if service == "codebuild" and operation == "BatchGetBuilds":
        # Authorized on the builds' projects (a build id is <project>:<uuid>).
        projects = sorted({build.split(":")[0] for build in params["ids"]})
        return [("codebuild:BatchGetBuilds", own.format("codebuild", f"project/{p}"), {}) for p in projects]
    if service in ("codeconnections", "codestar-connections") and operation == "GetConnection":
        return [(f"{service}:GetConnection", params["ConnectionArn"], {})]
    if service in ("codeconnections", "codestar-connections") and operation == "GetHost":
        return [(f"{service}:GetHost", params["HostArn"], {})]
    if service == "s3":
        bucket = params.get("Bucket")
        bucket_arn = f"arn:{PARTITION}:s3:::{bucket}"
        context = {"s3:ResourceAccount": account}
        if operation == "GetBucketLocation":
            return [("s3:GetBucketLocation", bucket_arn, context)]
        if operation == "GetBucketCors":
            return [("s3:GetBucketCORS", bucket_arn, context)]
        if operation == "ListObjectsV2":
            return [("s3:ListBucket", bucket_arn, {**context, "s3:prefix": params.get("Prefix", "")})]
        if operation in ("GetObject", "HeadObject"):
            return [("s3:GetObject", _s3_object(bucket, params["Key"]), context)]
        if operation == "PutObject":
            out = [("s3:PutObject", _s3_object(bucket, params["Key"]), context)]
            if params.get("Tagging"):
                out.append(("s3:PutObjectTagging", _s3_object(bucket, params["Key"]), context))
            return out
        if operation == "GetObjectTagging":
            return [("s3:GetObjectTagging", _s3_object(bucket, params["Key"]), context)]
        if operation == "PutObjectTagging":
            return [("s3:PutObjectTagging", _s3_object(bucket, params["Key"]), context)]
    raise AssertionError(f"{service}.{operation}: say in tests/support_iam.py how IAM authorizes this call")


def code_needs(calls, region: str, account: str, where: str, role_arn=None) -> list[Need]:
    needs = []
    for service, operation, params in calls:
        for action, resource, context in requests_for(service, operation, params, region, account, role_arn):
            needs.append(
                Need(
                    action,
                    where,
                    f"{service}.{operation}",
                    requests=(request(action, resource, True, context, complete=True),),
                )
            )
    return needs


def function_role_coverage(
    template: dict, function_id: str, calls, region: str, account: str, params: dict | None = None, role_arn=None
):
    """The function's own role (from the rendered template) against the calls its code made and the log
    writes of the Lambda runtime."""
    from templates_src.checks import iam_coverage
    from templates_src.checks.iam_policy import Resolver, role_statements

    pseudo = {"AWS::Region": region, "AWS::AccountId": account}
    resolver = Resolver(
        template, params or {}, pseudo=pseudo, arn_of=lambda r, lid, res: iam_coverage.own_arns(r, lid, res)
    )
    function = template["Resources"][function_id]
    role_id = function["Properties"]["Role"]
    role_id = role_id["Fn::GetAtt"][0] if "Fn::GetAtt" in role_id else role_id["Fn::If"][1]["Fn::GetAtt"][0]
    statements, _ = role_statements(template, role_id, resolver)
    (log_group,) = resolver.values(template["Resources"][f"{function_id}LogGroup"]["Properties"]["LogGroupName"])
    needs = code_needs(calls, region, account, function_id, role_arn) + iam_coverage.caller_needs(
        "lambda-function", {"region": region, "account": account, "log_group": log_group}
    )
    return iam_coverage.check(role_id, statements, needs, [])


# -- generate.py cleanup (templates_src/cleanup.py) ------------------------------------------------------------
# Calls that need no permission, and operations whose IAM action has another name.
_NO_PERMISSION = {("sts", "GetCallerIdentity")}
_RENAMED = {("s3", "ListBuckets"): "s3:ListAllMyBuckets", ("s3", "ListObjectVersions"): "s3:ListBucketVersions"}


def cleanup_requests(
    service: str, operation: str, params: dict, region: str, account: str, tags_of, file_system_of
) -> list:
    """(action, resource, context) of one call of the clean-up command.  ``tags_of(arn)``: the resource's tags
    (AWS puts them in the request as aws:ResourceTag/<key>); ``file_system_of(mount target id)``: its file
    system's id.  Provisioned products are the caller's own (servicecatalog:roleLevel self) and, like the other
    resources IAM knows no type for, "*"."""
    if (service, operation) in _NO_PERMISSION:
        return []
    prefix = "sagemaker" if service == "api.sagemaker" else service
    action = _RENAMED.get((service, operation), f"{prefix}:{operation}")
    own = f"arn:{PARTITION}:{{}}:{region}:{account}:{{}}"
    resource, context = "*", {}
    if prefix == "s3" and params.get("Bucket"):
        if operation == "DeleteObjects":  # one request per object (a version: DeleteObjectVersion)
            return [
                (
                    "s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject",
                    _s3_object(params["Bucket"], o["Key"]),
                    {"s3:ResourceAccount": account},
                )
                for o in params["Delete"]["Objects"]
            ]
        resource, context = f"arn:{PARTITION}:s3:::{params['Bucket']}", {"s3:ResourceAccount": account}
    elif prefix == "cloudformation":
        if "StackSetName" in params:
            resource = own.format("cloudformation", f"stackset/{params['StackSetName']}:0123abcd-4567-89ef")
        elif operation == "DeleteStack":
            name = params["StackName"]
            resource = name if name.startswith("arn:") else own.format("cloudformation", f"stack/{name}/0123abcd")
    elif prefix == "sagemaker":
        kinds = {
            "ProjectName": "project",
            "PipelineName": "pipeline",
            "EndpointName": "endpoint",
            "ModelPackageGroupName": "model-package-group",
        }
        for key, kind in kinds.items():
            if key in params and operation.startswith(("Delete", "Describe")):
                resource = own.format("sagemaker", f"{kind}/{params[key].lower()}")
        domain = params.get("DomainId")
        if operation == "DeleteModelPackage":
            resource = params["ModelPackageName"]
        elif operation in ("DeleteDomain", "DescribeDomain"):
            resource = own.format("sagemaker", f"domain/{domain}")
        elif operation == "DeleteApp":
            owner = params.get("SpaceName") or params.get("UserProfileName")
            resource = own.format("sagemaker", f"app/{domain}/{owner}/{params['AppType'].lower()}/{params['AppName']}")
        elif operation == "DeleteSpace":
            resource = own.format("sagemaker", f"space/{domain}/{params['SpaceName']}")
        elif operation == "DeleteUserProfile":
            resource = own.format("sagemaker", f"user-profile/{domain}/{params['UserProfileName']}")
        elif operation == "ListTags":
            resource = params["ResourceArn"]
    elif action.startswith("elasticfilesystem:") and operation.startswith("Delete"):
        system = params.get("FileSystemId") or file_system_of(params["MountTargetId"])
        resource = own.format("elasticfilesystem", f"file-system/{system}")
    elif prefix == "ec2" and operation == "DeleteNetworkInterface":
        resource = own.format("ec2", f"network-interface/{params['NetworkInterfaceId']}")
    elif prefix == "kms" and "KeyId" in params:
        resource = own.format("kms", f"key/{params['KeyId']}")
    elif prefix == "servicecatalog":
        context = {"servicecatalog:roleLevel": "self"}
    if resource != "*" and not context:
        context = {f"aws:ResourceTag/{k}": v for k, v in tags_of(resource).items()}
    return [(action, resource, context)]
