# Resolves a SageMaker project's environment: the environment of whoever created the project (a Studio user
# profile's domain, or an IAM role of the environment), its Studio domain (VPC, subnets, security groups,
# execution role), and the environment's SSM parameters.
#
# The environment is never what the caller of the project's stack says: it is read from the project itself.
# * Studio users: CreatedBy.DomainId -> the domain's EnvironmentName/EnvironmentType tags.
# * Anyone else (the CLI, S3 project templates): CreatedBy.IamIdentity.Arn -> the IAM role (or user) it names ->
#   its EnvironmentName/EnvironmentType tags (every role of an environment carries its stack's tags) -> the
#   environment's domain, from its SSM parameter <EnvName>-<EnvType>-sagemaker-domain-id.
# The stack must be the project's own: SageMakerProjectId is the project's id, and where SageMaker reports the
# project's provisioned product (Service Catalog, stack SC-<account>-<provisioned product id>) or its stack (S3
# project templates), it is the stack asking.  So a product launched by hand with another project's name gets
# nothing of that project's environment.
import re

import boto3
from cfn_runtime import custom_resource

DOMAIN_FIELDS = (
    "DomainId",
    "DomainArn",
    "DomainName",
    "VpcId",
    "SubnetIds",
    "KmsKeyId",
    "AppNetworkAccessType",
    "HomeEfsFileSystemId",
)
USER_FIELDS = ("ExecutionRole", "SecurityGroups")
# The environment's tags and the SSM parameter of its domain, as templates_src.blocks.environment defines them (this
# module runs alone in Lambda: tests/test_copies.py ties these copies to the definitions).
TAGS = ("EnvironmentName", "EnvironmentType")
DOMAIN_SSM = "sagemaker-domain-id"
SC_STACK = re.compile(r"^SC-\d{12}-(pp-[a-z0-9]+)$")


def _text(value):
    return ",".join(value) if isinstance(value, list) else str(value)


def _sagemaker_tags(sm, arn):
    tags, token = [], None
    while True:
        page = sm.list_tags(ResourceArn=arn, **({"NextToken": token} if token else {}))
        tags += page.get("Tags", [])
        token = page.get("NextToken")
        if not token:
            return tags


def _iam_tags(iam, kind, name):
    call = iam.list_role_tags if kind == "role" else iam.list_user_tags
    key = {"role": "RoleName", "user": "UserName"}[kind]
    tags, marker = [], None
    while True:
        page = call(**{key: name}, **({"Marker": marker} if marker else {}))
        tags += page.get("Tags", [])
        marker = page.get("Marker") if page.get("IsTruncated") else None
        if not marker:
            return tags


def _environment(tags, what):
    env = {t["Key"]: t["Value"] for t in tags}
    name, env_type = (env.get(tag) for tag in TAGS)
    if not name or not env_type:
        raise ValueError(f"{what} has no {' and '.join(TAGS)} tags")
    return name, env_type


def _principal_name(arn):
    """The IAM role (or user) name an identity ARN names: arn:...:sts::<account>:assumed-role/<name>/<session>
    or arn:...:iam::<account>:role/<path>/<name>, arn:...:iam::<account>:user/<path>/<name>."""
    resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else ""
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role" and rest:
        return "role", rest.split("/")[0]
    if kind in ("role", "user") and rest:
        return kind, rest.rsplit("/", 1)[-1]
    raise ValueError(f"project created by {arn}, which is neither a Studio user nor an IAM role or user")


def _check_stack(project, props, event):
    """The asking stack is this project's (see the module comment)."""
    expected_id = props.get("SageMakerProjectId")
    if expected_id and project.get("ProjectId") != expected_id:
        raise ValueError(
            f"project {project.get('ProjectName')} has id {project.get('ProjectId')}, not "
            f"{expected_id}: this stack is not that project's"
        )
    stack_id = event.get("StackId", "")
    stack_name = stack_id.split("/")[1] if stack_id.count("/") >= 2 else ""
    provisioned = (project.get("ServiceCatalogProvisionedProductDetails") or {}).get("ProvisionedProductId")
    match = SC_STACK.match(stack_name)
    if provisioned and match and match.group(1) != provisioned:
        raise ValueError(
            f"stack {stack_name} is not project {project.get('ProjectName')}'s provisioned product {provisioned}"
        )
    for detail in project.get("TemplateProviderDetails") or []:
        stack = (detail.get("CfnTemplateProviderDetail") or {}).get("StackDetail") or {}
        if stack.get("Id") and stack_id and stack["Id"] != stack_id:
            raise ValueError(f"stack {stack_id} is not project {project.get('ProjectName')}'s stack {stack['Id']}")


def configure(props, event):
    project_name = props.get("SageMakerProjectName")
    if not project_name:
        raise ValueError("SageMakerProjectName is required")
    sm = boto3.client("sagemaker")
    ssm = boto3.client("ssm")
    project = sm.describe_project(ProjectName=project_name)
    _check_stack(project, props, event)
    created = project.get("CreatedBy") or {}
    if created.get("DomainId"):
        domain = sm.describe_domain(DomainId=created["DomainId"])
        env_name, env_type = _environment(_sagemaker_tags(sm, domain["DomainArn"]), f"domain {created['DomainId']}")
    else:
        arn = (created.get("IamIdentity") or {}).get("Arn")
        if not arn:
            raise ValueError(f"project {project_name} does not say who created it")
        kind, name = _principal_name(arn)
        tags = _iam_tags(boto3.client("iam"), kind, name)
        env_name, env_type = _environment(tags, f"{kind} {name} (who created project {project_name})")
        domain_id = ssm.get_parameter(Name=f"{env_name}-{env_type}-{DOMAIN_SSM}")["Parameter"]["Value"]
        domain = sm.describe_domain(DomainId=domain_id)
    data = {k: _text(domain[k]) for k in DOMAIN_FIELDS if k in domain}
    settings = domain.get("DefaultUserSettings", {})
    data.update({k: _text(settings[k]) for k in USER_FIELDS if k in settings})
    data.update(zip(TAGS, (env_name, env_type), strict=True))
    for item in props.get("SSMParams", []):
        if isinstance(item, str):
            item = {"VariableName": item, "ParameterName": item}
        name = f"{env_name}-{env_type}-{item['ParameterName']}"
        try:
            data[item["VariableName"]] = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            data[item["VariableName"]] = ""  # optional parameters (OU ids, account lists) may not exist
    return None, data


lambda_handler = custom_resource(create=configure)
